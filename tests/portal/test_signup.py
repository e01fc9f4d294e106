from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from sessioncloud.accounts.models import AuditEntry, Membership, Organization, Role
from sessioncloud.providers.deletion import delete_app
from sessioncloud.providers.models import App
from tests.factories import make_app

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "Ann@Acme.example",
    "password1": "correct-horse-battery",
    "password2": "correct-horse-battery",
    "organization": "Acme Telecom",
    "provider_id": "AcmeInc",
    "app_name": "Acme Phone",
    "sip_domain": "sip.acme.example:5060",
}


def sign_up(client: Client, **changes: str) -> Any:
    return client.post("/accounts/signup/", {**SIGNUP, **changes})


def confirmation_link() -> str:
    return re.search(
        rf"{re.escape(settings.PUBLIC_URL)}(/accounts/confirm-email/\S+/)", mail.outbox[-1].body
    ).group(1)


def test_signing_up_creates_the_organization_its_owner_and_its_first_app():
    response = sign_up(Client())
    assert (response.status_code, response["Location"]) == (302, "/accounts/confirm-email/")
    user = User.objects.get(email="ann@acme.example")
    organization = Organization.objects.get()
    assert (organization.name, organization.slug) == ("Acme Telecom", "acme-telecom")
    assert list(Membership.objects.values_list("organization", "user", "role")) == [
        (organization.pk, user.pk, Role.OWNER)
    ]
    app = App.objects.get()
    assert (app.organization, app.provider_id, app.name, app.sip_domain) == (
        organization,
        "AcmeInc",
        "Acme Phone",
        "sip.acme.example:5060",
    )
    assert len(app.signing_secret_list()) == 1
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_repr, entry.before) == (
        "ann@acme.example",
        "app.create",
        "AcmeInc",
        None,
    )


def test_signing_up_sends_a_verification_email_whose_link_logs_the_user_in():
    client = Client()
    sign_up(client)
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("[SessionCloud] Please confirm your email address", ["ann@acme.example"])
    ]
    assert EmailAddress.objects.get().verified is False
    response = client.post(confirmation_link())
    assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert EmailAddress.objects.get().verified is True
    assert client.get("/portal/").content.decode().count("AcmeInc") >= 1


def test_logging_in_is_refused_until_the_address_is_verified():
    sign_up(Client())
    client = Client()
    response = client.post(
        "/accounts/login/", {"login": "ann@acme.example", "password": "correct-horse-battery"}
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/confirm-email/")
    assert "_auth_user_id" not in client.session
    assert client.get("/portal/")["Location"] == "/accounts/login/?next=/portal/"


def test_sign_up_refuses_a_provider_id_taken_in_another_case(other_org):
    make_app(other_org, "AcmeInc")
    response = sign_up(Client(), provider_id="ACMEINC")
    assert response.status_code == 200
    assert response.context["form"].errors == {"provider_id": ["This ProviderId is already taken."]}
    assert not User.objects.exists()
    assert Organization.objects.get() == other_org


def test_sign_up_checks_the_app_fields_with_the_app_model_rules():
    response = sign_up(Client(), provider_id="1abc", sip_domain="sip acme", app_name="")
    assert response.context["form"].errors == {
        "provider_id": [
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter."
        ],
        "sip_domain": ["Use host or host:port, for example sip.example.com:5060."],
        "app_name": ["This field is required."],
    }
    assert not User.objects.exists()
    assert not Organization.objects.exists()


def test_the_organization_slug_is_derived_from_its_name_and_kept_unique():
    Organization.objects.create(slug="acme-telecom", name="Another Acme")
    sign_up(Client())
    assert Organization.objects.get(name="Acme Telecom").slug == "acme-telecom-2"


def test_an_existing_address_gets_the_same_answer_and_no_second_account():
    sign_up(Client())
    EmailAddress.objects.update(verified=True)
    response = sign_up(Client(), provider_id="OtherCo")
    assert (response.status_code, response["Location"]) == (302, "/accounts/confirm-email/")
    assert User.objects.count() == 1
    assert list(App.objects.values_list("provider_id", flat=True)) == ["AcmeInc"]
    assert [m.subject for m in mail.outbox] == ["[SessionCloud] Please confirm your email address"]


def test_sign_up_refuses_the_provider_id_of_a_deleted_app(other_org):
    delete_app(make_app(other_org, "AcmeInc"), "rita@rival.example")
    response = sign_up(Client())
    assert response.context["form"].errors == {"provider_id": ["This ProviderId is already taken."]}
    assert not User.objects.exists()


def test_a_host_header_does_not_choose_where_the_confirmation_link_points():
    Client(HTTP_HOST="evil.example").post("/accounts/signup/", SIGNUP)
    [message] = mail.outbox
    assert set(re.findall(r"https?://[^/\s]+", message.body)) == {settings.PUBLIC_URL}
    assert "evil.example" not in message.body
