"""The portal speaks with one voice: its own texts instead of allauth's defaults, in sentence case."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from sessioncloud.lib.casing import sentence_case
from sessioncloud.providers.models import ProvisioningLogEntry
from tests.portal.conftest import PASSWORD, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user() -> User:
    """A user whose username is not the e-mail (as the demo's is)."""
    user = User.objects.create_user(username="demo", email="demo@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email="demo@example.com", verified=True, primary=True)
    return user


def messages_after(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_logging_in_names_the_email_address_not_the_username(demo_user):
    response = Client().post(
        "/accounts/login/", {"login": "demo@example.com", "password": PASSWORD}, follow=True
    )
    assert messages_after(response) == ["Logged in as demo@example.com."]


def test_logging_out_says_so_in_the_portals_words(demo_user):
    client = Client()
    client.force_login(demo_user)
    assert messages_after(client.post("/accounts/logout/", follow=True)) == ["You are logged out."]


def test_the_confirmation_email_greets_without_the_servers_address(db):
    Client().post(
        "/accounts/signup/",
        {
            "email": "ann@acme.example",
            "password1": "correct-horse-battery",
            "password2": "correct-horse-battery",
            "organization": "Acme Telecom",
            "provider_id": "AcmeInc",
            "app_name": "Acme Phone",
            "sip_domain": "sip.acme.example",
        },
        HTTP_HOST="127.0.0.1:8200",
    )
    [message] = mail.outbox
    assert message.body.startswith(
        "Hello,\n\nSomeone, most likely you, gave this address (ann@acme.example) for "
        "an account on SessionCloud.\n"
    )
    assert "127.0.0.1:8200!" not in message.body and "Hello from" not in message.body
    # The link uses the public address, not the Host header the request came with.
    assert re.search(rf"^{re.escape(settings.PUBLIC_URL)}/accounts/confirm-email/\S+/$", message.body, re.M)


def test_the_password_reset_email_does_not_reveal_the_username(demo_user):
    Client().post("/accounts/password/reset/", {"email": "demo@example.com"})
    [message] = mail.outbox
    assert message.subject == "[SessionCloud] Password reset email"
    assert "username" not in message.body and "demo@example.com" in message.body


@pytest.mark.parametrize(
    ("path", "heading", "title"),
    [
        ("/accounts/email/", "Email addresses", "Email addresses · SessionCloud"),
        ("/accounts/2fa/", "Two-factor authentication", "Two-factor authentication · SessionCloud"),
        ("/accounts/password/change/", "Change password", "Change password · SessionCloud"),
    ],
)
def test_allauths_pages_have_sentence_case_headings_and_titles(demo_user, path, heading, title):
    client = Client()
    client.force_login(demo_user)
    content = client.get(path).content.decode()
    assert re.search(r"<h1>\s*(.*?)\s*</h1>", content, re.S).group(1) == heading
    assert re.search(r"<title>\s*(.*?)\s*</title>", content, re.S).group(1) == title


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Add Email Address", "Add email address"),
        ("Two-Factor Authentication", "Two-factor authentication"),
        ("Use TOTP with SessionCloud", "Use TOTP with SessionCloud"),
        ("\n  Sign In\n", "\n  Sign in\n"),
        ("", ""),
    ],
)
def test_sentence_case_lowers_only_capitalised_words_after_the_first(text, expected):
    assert sentence_case(text) == expected


def test_every_page_names_its_favicon(owner_client, app):
    content = owner_client.get("/portal/").content.decode()
    assert '<link rel="icon" href="/static/portal/favicon.svg" type="image/svg+xml">' in content
    icon = Client().get("/static/portal/favicon.svg")
    assert (icon.status_code, icon["Content-Type"]) == (200, "image/svg+xml")


def test_favicon_ico_leads_to_the_icon(db):
    response = Client().get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/portal/favicon.svg")


def test_the_export_page_warns_about_passwords_once(owner_client, app):
    content = owner_client.get("/portal/apps/AcmeInc/bulk/export/").content.decode()
    assert content.count("audit log") == 1


def test_the_empty_dashboard_chart_explains_itself(owner_client, app):
    content = owner_client.get("/portal/apps/AcmeInc/dashboard/").content.decode()
    assert re.search(r'<p class="chart-empty" id="chart-empty">(.*?)</p>', content).group(1) == (
        "Nothing to show yet: no phone has asked for its accounts in the last 30 days. The bars count "
        "logins, "
        "re-provisioning and redeemed setup links (in portal mode, only setup links: phones that type their "
        "SIP "
        "account ask nothing). Fetching the configuration and test bench runs are not counted."
    )


def test_a_chart_with_calls_needs_no_explanation(owner_client, app):
    ProvisioningLogEntry.objects.create(app=app, flow="token", outcome="ok")
    assert 'id="chart-empty"' not in owner_client.get("/portal/apps/AcmeInc/dashboard/").content.decode()


def test_a_new_api_key_has_a_copy_button(owner_client):
    content = owner_client.post("/portal/api-keys/", {"name": "Billing"}).content.decode()
    assert '<button type="button" class="secondary small" data-copy="new-key" hidden>Copy</button>' in content
    assert '<script src="/static/portal/copy.js" defer></script>' in content


def test_a_generic_app_shows_no_whitelabel_fields(owner_client, app):
    general = owner_client.get("/portal/apps/AcmeInc/general/").content.decode()
    provisioning = owner_client.get("/portal/apps/AcmeInc/provisioning/").content.decode()
    assert (
        "id_ios_bundle_id" not in general
        and "id_android_package" not in general
        and 'id="whitelabel-note"' in general
    )
    assert "id_username_placeholder" not in provisioning and "id_password_placeholder" not in provisioning


def test_a_whitelabel_app_shows_its_whitelabel_fields(owner_client, app):
    app.kind = "whitelabel"
    app.save()
    general = owner_client.get("/portal/apps/AcmeInc/general/").content.decode()
    provisioning = owner_client.get("/portal/apps/AcmeInc/provisioning/").content.decode()
    assert 'id="id_ios_bundle_id"' in general and 'id="id_android_package"' in general
    assert 'id="id_username_placeholder"' in provisioning and 'id="id_password_placeholder"' in provisioning


def test_saving_a_generic_app_keeps_the_hidden_whitelabel_values(owner_client, app):
    app.ios_bundle_id, app.username_placeholder = "com.acme.phone", "Account No"
    app.save()
    # What the browser sends: the page's fields, without the ones a generic App's page does not show.
    general, provisioning = "/portal/apps/AcmeInc/general/", "/portal/apps/AcmeInc/provisioning/"
    owner_client.post(
        general,
        form_data(owner_client.get(general), name="Renamed", ios_bundle_id=None, android_package=None),
    )
    owner_client.post(
        provisioning,
        form_data(owner_client.get(provisioning), username_placeholder=None, password_placeholder=None),
    )
    app.refresh_from_db()
    assert (app.name, app.ios_bundle_id, app.username_placeholder) == (
        "Renamed",
        "com.acme.phone",
        "Account No",
    )
