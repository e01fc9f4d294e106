"""The portal speaks with one voice: its own texts instead of allauth's defaults, in sentence case."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from sessioncloud.lib.casing import sentence_case
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_user() -> User:
    """A user whose username is not the e-mail (as the demo's is)."""
    user = User.objects.create_user(username="demo", email="demo@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email="demo@example.com", verified=True, primary=True)
    return user


def messages_after(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


def test_logging_in_names_the_email_address_not_the_username(demo_user):
    response = Client().post("/accounts/login/", {"login": "demo@example.com", "password": PASSWORD}, follow=True)
    assert messages_after(response) == ["Logged in as demo@example.com."]


def test_logging_out_says_so_in_the_portals_words(demo_user):
    client = Client()
    client.force_login(demo_user)
    assert messages_after(client.post("/accounts/logout/", follow=True)) == ["You are logged out."]


def test_the_confirmation_email_greets_without_the_servers_address(db):
    Client().post("/accounts/signup/", {
        "email": "ann@acme.example", "password1": "correct-horse-battery", "password2": "correct-horse-battery",
        "organization": "Acme Telecom", "provider_id": "AcmeInc", "app_name": "Acme Phone",
        "sip_domain": "sip.acme.example"}, HTTP_HOST="127.0.0.1:8200")
    [message] = mail.outbox
    assert message.body.startswith("Hello,\n\nSomeone, most likely you, gave this address (ann@acme.example) for "
                                   "an account on SessionCloud.\n")
    assert "127.0.0.1:8200!" not in message.body and "Hello from" not in message.body
    assert re.search(r"^http://127\.0\.0\.1:8200/accounts/confirm-email/\S+/$", message.body, re.M)


def test_the_password_reset_email_does_not_reveal_the_username(demo_user):
    Client().post("/accounts/password/reset/", {"email": "demo@example.com"})
    [message] = mail.outbox
    assert message.subject == "[SessionCloud] Password reset email"
    assert "username" not in message.body and "demo@example.com" in message.body


@pytest.mark.parametrize(("path", "heading", "title"), [
    ("/accounts/email/", "Email addresses", "Email addresses · SessionCloud"),
    ("/accounts/2fa/", "Two-factor authentication", "Two-factor authentication · SessionCloud"),
    ("/accounts/password/change/", "Change password", "Change password · SessionCloud"),
])
def test_allauths_pages_have_sentence_case_headings_and_titles(demo_user, path, heading, title):
    client = Client()
    client.force_login(demo_user)
    content = client.get(path).content.decode()
    assert re.search(r"<h1>\s*(.*?)\s*</h1>", content, re.S).group(1) == heading
    assert re.search(r"<title>\s*(.*?)\s*</title>", content, re.S).group(1) == title


@pytest.mark.parametrize(("text", "expected"), [
    ("Add Email Address", "Add email address"),
    ("Two-Factor Authentication", "Two-factor authentication"),
    ("Use TOTP with SessionCloud", "Use TOTP with SessionCloud"),
    ("\n  Sign In\n", "\n  Sign in\n"),
    ("", ""),
])
def test_sentence_case_lowers_only_capitalised_words_after_the_first(text, expected):
    assert sentence_case(text) == expected
