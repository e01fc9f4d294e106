"""The Django admin for operators: every tenant, secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import User
from django.test import Client

from sessioncloud.accounts.models import ApiKey, AuditEntry, record_audit
from sessioncloud.providers.models import App, RetiredProviderId

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@operator.example", "operator-password"))
    return client


def admin_form_data(response: Any, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for field in response.context["adminform"].form:
        value = field.value()
        if isinstance(field.field, forms.BooleanField):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = value
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def test_the_app_page_never_shows_a_secret(operator, app):
    app.provisioning_auth_header = "Bearer s3cret"
    app.save()
    response = operator.get(f"/admin/providers/app/{app.pk}/change/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "s3cret" not in content
    assert app.signing_secret_list()[0] not in content
    assert "set (hidden)" in content and "1 valid (hidden)" in content


def test_the_app_page_never_shows_the_turn_password(operator, app):
    app.turn_server, app.turn_username, app.turn_password = "turn.acme.example", "relay", "turn-s3cret"
    app.save()
    content = operator.get(f"/admin/providers/app/{app.pk}/change/").content.decode()
    assert "turn-s3cret" not in content
    assert "set (hidden)" in content


def test_a_turn_server_set_by_an_operator_without_a_password_is_a_form_error(operator, app):
    url = f"/admin/providers/app/{app.pk}/change/"
    response = operator.post(
        url, admin_form_data(operator.get(url), turn_server="turn.acme.example", turn_username="relay")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["A TURN server needs a password."]
    app.refresh_from_db()
    assert app.turn_server == ""


def test_an_operator_changes_a_provider_id_and_phones_find_the_new_one(operator, app, org):
    assert Client().get("/api/v1/providers/AcmeInc/config").status_code == 200  # now cached
    url = f"/admin/providers/app/{app.pk}/change/"
    response = operator.post(url, admin_form_data(operator.get(url), provider_id="AcmeNew"))
    assert response.status_code == 302
    assert Client().get("/api/v1/providers/AcmeInc/config").status_code == 404
    assert Client().get("/api/v1/providers/acmenew/config").json()["providerId"] == "AcmeNew"
    app.refresh_from_db()
    assert app.provisioning_auth_header == ""  # the excluded secrets are left alone
    assert len(app.signing_secret_list()) == 1
    entry = AuditEntry.objects.get()
    assert (entry.organization, entry.actor, entry.action) == (org, "operator root", "app.update")
    assert (entry.before["providerId"], entry.after["providerId"]) == ("AcmeInc", "AcmeNew")


def test_an_operator_may_not_take_a_provider_id_in_another_case(operator, app, rival_app):
    url = f"/admin/providers/app/{app.pk}/change/"
    response = operator.post(url, admin_form_data(operator.get(url), provider_id="RIVALCO"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"provider_id": ["This ProviderId is already taken."]}


def test_the_disable_action_hides_the_app_from_phones(operator, app, rival_app):
    response = operator.post(
        "/admin/providers/app/", {"action": "disable_apps", "_selected_action": [app.pk]}
    )
    assert response.status_code == 302
    assert list(App.objects.order_by("provider_id").values_list("provider_id", "enabled")) == [
        ("AcmeInc", False),
        ("RivalCo", True),
    ]
    assert Client().get("/api/v1/providers/AcmeInc/config").status_code == 404
    assert AuditEntry.objects.get().actor == "operator root"


def test_api_keys_and_audit_entries_are_read_only(operator, org, app):
    key, plain = ApiKey.issue(org, "Billing")
    record_audit(org, "owner@acme.example", "app.general", app)
    entry = AuditEntry.objects.get()
    assert operator.get("/admin/accounts/apikey/add/").status_code == 403
    page = operator.get(f"/admin/accounts/apikey/{key.pk}/change/")
    assert page.status_code == 200 and plain not in page.content.decode()
    operator.post(f"/admin/accounts/apikey/{key.pk}/change/", {"name": "Renamed"})
    assert ApiKey.objects.get().name == "Billing"
    assert operator.get("/admin/accounts/auditentry/add/").status_code == 403
    assert operator.post(f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.count() == 1


def test_the_organization_list_shows_every_tenant(operator, org, other_org, app):
    content = operator.get("/admin/accounts/organization/").content.decode()
    assert "acme" in content and "rival" in content


def test_a_renamed_provider_id_stays_reserved_for_its_organization(operator, app, org):
    url = f"/admin/providers/app/{app.pk}/change/"
    operator.post(url, admin_form_data(operator.get(url), provider_id="AcmeNew"))
    retired = RetiredProviderId.objects.get()
    assert (retired.provider_id, retired.organization, retired.retired_by) == (
        "AcmeInc",
        org,
        "operator root",
    )


def test_an_operator_deleting_an_app_reserves_its_provider_id_and_audits_it(operator, app, org):
    response = operator.post(f"/admin/providers/app/{app.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not App.objects.exists()
    assert RetiredProviderId.objects.get().organization == org
    assert AuditEntry.objects.get().action == "app.delete"


def test_an_operator_releases_a_retired_provider_id(operator, other_org, org):
    retired = RetiredProviderId.objects.create(provider_id="AcmeInc", organization=org, retired_by="x")
    operator.post(f"/admin/providers/retiredproviderid/{retired.pk}/delete/", {"post": "yes"})
    assert not RetiredProviderId.objects.exists()
    rival = App(
        organization=other_org, provider_id="AcmeInc", name="Now theirs", sip_domain="sip.rival.example"
    )
    rival.full_clean()  # no longer taken


# --- Logging in: the portal's login, with its second factor, limits and security log -----------

OPERATOR_PASSWORD = "operator-password"


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root", "root@operator.example", OPERATOR_PASSWORD)


def test_the_admin_login_page_sends_operators_to_the_portal_login(db):
    response = Client().get("/admin/login/?next=/admin/accounts/organization/")
    assert (response.status_code, response["Location"]) == (
        302,
        "/accounts/login/?next=/admin/accounts/organization/",
    )


def test_the_admin_login_sends_no_one_elsewhere(db):
    response = Client().get("/admin/login/?next=https://evil.example/admin/")
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_a_password_posted_to_the_admin_login_logs_no_one_in(root):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": OPERATOR_PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/?next=/admin/")
    assert "_auth_user_id" not in client.session


def test_an_operator_without_two_factor_logs_in_with_the_portal_login(root):
    client = Client()
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "root@operator.example", "password": OPERATOR_PASSWORD}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_operator_with_two_factor_gives_a_code_before_reaching_the_admin(root):
    from allauth.mfa.totp.internal.auth import TOTP

    from tests.portal.test_two_factor import current_code

    TOTP.activate(root, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    client = Client()
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "root@operator.example", "password": OPERATOR_PASSWORD}
    )
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    response = client.post(
        "/accounts/2fa/authenticate/", {"code": current_code("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_failed_operator_logins_are_limited_and_logged(root, caplog):
    client = Client()
    for _ in range(60):
        client.post("/accounts/login/?next=/admin/", {"login": "root@operator.example", "password": "guess"})
    response = client.post(
        "/accounts/login/?next=/admin/", {"login": "root@operator.example", "password": OPERATOR_PASSWORD}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    security = [r.getMessage() for r in caplog.records if r.name == "sessioncloud.security"]
    # Five wrong passwords for the account, then its lock, then the address's limit of 20 a minute.
    assert security == ["login failed"] * 5 + ["login throttled"] * 15 + ["request throttled"] * 41


def test_a_portal_user_who_is_no_operator_is_told_so(db):
    from tests.portal.conftest import client_for, make_user

    response = client_for(make_user("ann@acme.example")).get("/admin/", follow=True)
    assert response.status_code == 403
    assert "The operators&#x27; admin is only for operator accounts." in response.content.decode()


def test_createsuperuser_makes_an_operator_who_can_log_in_at_once(db, monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", OPERATOR_PASSWORD)
    call_command("createsuperuser", "--noinput", "--username", "ops", "--email", "Ops@Operator.example")
    response = Client().post(
        "/accounts/login/?next=/admin/", {"login": "ops@operator.example", "password": OPERATOR_PASSWORD}
    )
    assert response["Location"] == "/admin/"
