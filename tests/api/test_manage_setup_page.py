"""The management API's setup-page settings of an App, and the addresses a new token comes with."""

from __future__ import annotations

import pytest

from tests.factories import make_end_user

pytestmark = pytest.mark.django_db


def test_an_app_uses_linphone_and_its_stores_by_default(api, app, settings):
    settings.PUBLIC_URL = "https://sc.example"
    body = api.get("/api/v1/manage/apps/AcmeInc").json()
    assert body["setupPage"] == {
        "phoneApp": "linphone",
        "appName": None,
        "storeLinks": {"ios": None, "android": None, "desktop": None},
        "linphoneUrl": "https://sc.example/api/v1/providers/AcmeInc/linphone",
    }


def test_it_saves_the_app_users_install_and_its_store_links(api, app):
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc",
        {
            "setupPage": {
                "phoneApp": "sessiontalk",
                "appName": "Acme Phone",
                "storeLinks": {"ios": "https://apps.apple.com/app/acme/id1"},
            }
        },
    )
    assert response.status_code == 200
    app.refresh_from_db()
    assert (app.phone_app, app.phone_app_name, app.ios_store_url, app.android_store_url) == (
        "sessiontalk",
        "Acme Phone",
        "https://apps.apple.com/app/acme/id1",
        "",
    )


def test_it_refuses_a_store_link_that_is_not_https(api, app):
    response = api.patch(
        "/api/v1/manage/apps/AcmeInc", {"setupPage": {"storeLinks": {"android": "http://x.example"}}}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "setupPage.storeLinks.android": "Store links must be https:// URLs."
    }


def test_a_new_token_comes_with_its_setup_page_and_linphone_addresses(api, app, settings):
    settings.PUBLIC_URL = "https://sc.example"
    make_end_user(app, "alice")
    body = api.post("/api/v1/manage/apps/AcmeInc/endusers/alice/tokens", {}).json()
    assert (body["setupPage"], body["linphoneUrl"], body["linphoneLink"]) == (
        f"https://sc.example/setup/{body['token']}",
        f"https://sc.example/api/v1/linphone/{body['token']}",
        f"linphone-config:https://sc.example/api/v1/linphone/{body['token']}",
    )
