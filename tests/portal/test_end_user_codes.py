"""An end user's QR codes, one-time setup links and setup e-mails in the portal."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.codes.qr import decode_image, render_svg
from sessioncloud.providers.endusers import external_code, local_code
from sessioncloud.providers.models import App, EndUser, SetupToken
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

PAGE = "/portal/apps/AcmeInc/endusers/cust-1001/"
REVEAL = PAGE + "reveal/"
NO_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"
CODE_PASSWORD_WARNING = "<strong>This code carries the password.</strong>"


@pytest.fixture
def ann(app: App) -> EndUser:
    return make_end_user(
        app,
        "cust-1001",
        display_name="Ann Smith",
        email="ann@customer.example",
        sip_username="1001",
        sip_password="sip-s3cret",
        provisioning_username="ann.p",
        provisioning_password="prov-s3cret",
    )


@pytest.fixture
def external(app: App) -> App:
    app.provisioning_mode, app.provisioning_url = "external", "https://prov.acme.example/p"
    app.save()
    return app


def shown_code(content: str, element_id: str) -> str:
    return html.unescape(re.search(rf'<code id="{element_id}">([^<]*)</code>', content).group(1))


def data_uri_image(content: str, element_id: str) -> bytes:
    found = re.search(rf'id="{element_id}" src="data:image/png;base64,([^"]+)"', content)
    return base64.b64decode(found.group(1))


def create_setup_link(client: Client, max_uses: int = 1) -> Any:
    return client.post(PAGE + "setup-link/", {"max_uses": str(max_uses)})


def reveal(client: Client) -> Any:
    return client.post(REVEAL)


def test_the_page_says_which_codes_exist_but_shows_none(owner_client, ann):
    response = owner_client.get(PAGE)
    assert [(code["format"], code["carries_password"]) for code in response.context["codes"]] == [
        ("local", True)
    ]
    content = response.content.decode()
    assert 'id="code-local"' not in content and 'id="qr-local"' not in content
    assert "sip-s3cret" not in content and local_code(ann) not in html.unescape(content)
    assert CODE_PASSWORD_WARNING in content
    assert "Reveal the codes</button>" in content
    assert response["Cache-Control"] == NO_STORE


def test_revealing_shows_the_code_and_its_qr_in_that_answer_only(owner_client, ann):
    response = reveal(owner_client)
    assert (response.status_code, response["Cache-Control"]) == (200, NO_STORE)
    content = response.content.decode()
    assert shown_code(content, "code-local") == local_code(ann)
    assert decode_image(data_uri_image(content, "qr-local")) == local_code(ann)
    assert "Reveal the codes</button>" not in content
    assert 'id="code-local"' not in owner_client.get(PAGE).content.decode()


def test_revealing_writes_an_audit_row(owner_client, ann, external):
    reveal(owner_client)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type, entry.object_repr, entry.before, entry.after) == (
        "owner@acme.example",
        "enduser.reveal",
        "EndUser",
        "Ann Smith",
        None,
        {"externalId": "cust-1001", "formats": ["local", "external"]},
    )


def test_an_external_app_reveals_both_codes_each_with_the_password_warning(owner_client, ann, external):
    content = reveal(owner_client).content.decode()
    assert shown_code(content, "code-external") == "scsc:ann.p:prov-s3cret:AcmeInc"
    assert decode_image(data_uri_image(content, "qr-external")) == external_code(ann)
    assert content.count(CODE_PASSWORD_WARNING) == 2


def test_the_revealed_qr_downloads_as_png_and_svg_without_another_request(owner_client, ann):
    content = reveal(owner_client).content.decode()
    assert 'download="cust-1001-local.svg"' in content
    svg = re.search(
        r'href="data:image/svg\+xml;base64,([^"]+)" download="cust-1001-local.svg"', content
    ).group(1)
    assert base64.b64decode(svg) == render_svg(local_code(ann))
    urls = re.findall(r'(?:href|src|action)="(/[^"]*)"', content)
    assert [url for url in urls if "/qr" in url or "image=" in url] == []


def test_an_admin_sees_no_password_until_revealing(admin_client, ann):
    content = admin_client.get(PAGE).content.decode()
    assert "sip-s3cret" not in content and 'id="code-local"' not in content
    assert "sip-s3cret" in html.unescape(reveal(admin_client).content.decode())


def test_a_viewer_sees_that_a_password_is_set_and_cannot_reveal_it(viewer_client, ann, external):
    content = viewer_client.get(PAGE).content.decode()
    assert "sip-s3cret" not in content and "prov-s3cret" not in content
    assert '<span class="badge ok">set</span>' in content
    assert "Reveal the codes</button>" not in content
    assert "only owners and admins can reveal them" in content
    response = reveal(viewer_client)
    assert response.status_code == 403
    assert "s3cret" not in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_the_old_image_address_is_gone(owner_client, ann):
    assert owner_client.get(PAGE + "qr/", {"format": "local", "image": "png"}).status_code == 404


def test_a_username_a_code_cannot_hold_is_explained_instead_of_drawn(owner_client, app, external):
    make_end_user(
        app,
        "cust-1001",
        sip_username="",
        sip_password="",
        provisioning_username="ann:p",
        provisioning_password="x",
    )
    response = reveal(owner_client)
    assert response.context["codes"] == [
        {
            "format": "external",
            "name": "Provisioning login (scsc)",
            "error": "the username holds ':', which an scsc: code cannot carry; use a setup token instead",
        }
    ]
    assert AuditEntry.objects.get().after == {"externalId": "cust-1001", "formats": []}


@pytest.fixture
def three_use_link(owner_client: Client, ann: EndUser) -> tuple[str, str]:
    """A setup link for three phones: the code and the token the answer showed."""
    content = create_setup_link(owner_client, max_uses=3).content.decode()
    code = shown_code(content, "issued-code")
    return code, code.removeprefix("scloc:?v=2&token=")


def test_the_answer_that_shows_a_setup_link_is_never_cached(owner_client: Client, ann: EndUser) -> None:
    response = create_setup_link(owner_client, max_uses=3)
    assert (response.status_code, response["Cache-Control"]) == (200, NO_STORE)


def test_a_setup_link_carries_a_random_token(three_use_link: tuple[str, str]) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", three_use_link[1])


def test_a_setup_link_is_shown_with_its_qr_code(owner_client: Client, ann: EndUser) -> None:
    content = create_setup_link(owner_client, max_uses=3).content.decode()
    assert decode_image(data_uri_image(content, "issued-qr")) == shown_code(content, "issued-code")


def test_a_setup_link_is_stored_for_the_user_with_its_uses(
    three_use_link: tuple[str, str], ann: EndUser
) -> None:
    stored = SetupToken.objects.get()
    assert (stored.end_user, stored.max_uses, stored.uses, stored.created_by) == (
        ann,
        3,
        0,
        "owner@acme.example",
    )


def test_a_setup_link_is_stored_only_as_a_hash(three_use_link: tuple[str, str]) -> None:
    assert SetupToken.objects.get().token_hash == hashlib.sha256(three_use_link[1].encode()).hexdigest()


def test_a_setup_link_lasts_as_long_as_the_app_says(three_use_link: tuple[str, str]) -> None:
    stored = SetupToken.objects.get()
    assert round((stored.expires - stored.created).total_seconds() / 3600) == 72  # the App's TTL


def test_a_setup_link_is_shown_once(owner_client: Client, three_use_link: tuple[str, str]) -> None:
    assert three_use_link[1] not in owner_client.get(PAGE).content.decode()


def test_a_new_setup_link_is_audited_without_its_token(three_use_link: tuple[str, str]) -> None:
    stored, entry = SetupToken.objects.get(), AuditEntry.objects.get()
    assert (entry.action, entry.object_type, entry.before, entry.after) == (
        "token.create",
        "SetupToken",
        None,
        {"externalId": "cust-1001", "expires": stored.expires.isoformat(), "maxUses": 3},
    )
    assert three_use_link[1] not in str(entry.after)


def test_no_address_the_portal_generates_carries_the_token(owner_client, ann):
    content = create_setup_link(owner_client).content.decode()
    token = shown_code(content, "issued-code").removeprefix("scloc:?v=2&token=")
    urls = re.findall(r'(?:href|src|action)="(/[^"]*|https?:[^"]*)"', content)
    assert urls and not [url for url in urls if token in url]


def test_a_setup_link_made_in_the_portal_redeems_once(owner_client, ann):
    code = shown_code(create_setup_link(owner_client).content.decode(), "issued-code")
    token = code.removeprefix("scloc:?v=2&token=")
    phone = Client()
    body = {"token": token, "deviceId": "phone-1", "app": {"platform": "android", "version": "6.1"}}
    first = phone.post("/api/v1/tokens/redeem", body, content_type="application/json")
    assert first.status_code == 200
    assert [(a["sipusername"], a["sippassword"]) for a in first.json()["sipaccounts"]] == [
        ("1001", "sip-s3cret")
    ]
    again = phone.post(
        "/api/v1/tokens/redeem", {**body, "deviceId": "phone-2"}, content_type="application/json"
    )
    assert (again.status_code, again.json()["error"]["code"]) == (404, "token_invalid")


def test_the_local_code_shown_carries_the_display_name(owner_client, ann):
    code = shown_code(reveal(owner_client).content.decode(), "code-local")
    assert code == (
        'scloc:AcmeInc|{"sipaccounts":[{"sipusername":"1001","sippassword":"sip-s3cret",'
        '"displayname":"Ann Smith"}]}'
    )


def test_a_setup_link_gives_the_phone_the_display_name(owner_client, ann):
    token = shown_code(create_setup_link(owner_client).content.decode(), "issued-code").removeprefix(
        "scloc:?v=2&token="
    )
    body = {"token": token, "deviceId": "phone-1", "app": {"platform": "android", "version": "6.1"}}
    redeemed = Client().post("/api/v1/tokens/redeem", body, content_type="application/json").json()
    assert [a["displayname"] for a in redeemed["sipaccounts"]] == ["Ann Smith"]


def test_max_uses_is_one_to_five(owner_client, ann):
    response = create_setup_link(owner_client, max_uses=6)
    assert response.status_code == 400
    assert response.context["form"].errors == {
        "max_uses": ["Select a valid choice. 6 is not one of the available choices."]
    }
    assert not SetupToken.objects.exists()


def test_emailing_sends_a_new_setup_link_from_the_apps_name(owner_client, ann, settings):
    response = owner_client.post(PAGE + "email/", follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "Sent a setup e-mail with a new one-time setup link to ann@customer.example."
    ]
    [message] = mail.outbox
    assert (message.from_email, message.to) == (
        "Acme Telecom <noreply@sessioncloud.invalid>",
        ["ann@customer.example"],
    )
    [(filename, image, content_type)] = message.attachments
    code = decode_image(image)
    assert (filename, content_type) == ("setup-code.png", "image/png")
    assert code.startswith(f"{settings.PUBLIC_URL}/setup/") and code in message.body  # the setup page
    assert "sip-s3cret" not in message.body
    token = SetupToken.objects.get()
    assert token.token_hash == hashlib.sha256(code.rsplit("/", 1)[1].encode()).hexdigest()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.after["sentTo"]) == ("token.create", "ann@customer.example")


def test_emailing_a_user_without_an_address_sends_nothing(owner_client, app):
    make_end_user(app, "cust-1001")
    response = owner_client.post(PAGE + "email/", follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "This end user has no e-mail address: add one first."
    ]
    assert mail.outbox == []
    assert not SetupToken.objects.exists()


def test_revoking_from_the_users_page_returns_to_it(owner_client, ann):
    create_setup_link(owner_client)
    token = SetupToken.objects.get()
    response = owner_client.post(f"/portal/apps/AcmeInc/tokens/{token.pk}/revoke/", {"back": "end_user"})
    assert response["Location"] == PAGE
    token.refresh_from_db()
    assert token.revoked is not None


def test_without_a_mail_server_the_page_says_so_before_the_click(owner_client, ann, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    content = owner_client.get(PAGE).content.decode()
    assert (
        '<p class="help" id="email-unavailable">No mail server is configured, so SessionCloud cannot send '
        "e-mail: an operator sets one up with EMAIL_URL. Create a setup link instead and hand it over "
        "yourself.</p>"
    ) in content
    assert (
        '<button type="submit" class="secondary" disabled aria-describedby="email-unavailable">'
        "E-mail a setup link</button>"
    ) in content


def test_with_a_mail_server_the_button_is_ready(owner_client, ann):
    content = owner_client.get(PAGE).content.decode()
    assert '<button type="submit" class="secondary">E-mail a setup link</button>' in content
    assert 'id="email-unavailable"' not in content


def test_a_new_setup_link_comes_with_its_setup_page_and_linphone_address(owner_client, ann, settings):
    settings.PUBLIC_URL = "https://sc.example"
    content = create_setup_link(owner_client).content.decode()
    token = shown_code(content, "issued-code").removeprefix("scloc:?v=2&token=")
    assert shown_code(content, "issued-setup-page") == f"https://sc.example/setup/{token}"
    assert shown_code(content, "issued-linphone-url") == f"https://sc.example/api/v1/linphone/{token}"
    assert (
        decode_image(data_uri_image(content, "issued-linphone-qr"))
        == f"https://sc.example/api/v1/linphone/{token}"
    )
    assert (
        f'<a href="linphone-config:https://sc.example/api/v1/linphone/{token}" id="issued-linphone-link">'
        in content
    )
