"""A sign-up's App reaches no phone until the owner confirms the address; brand ProviderIds can be kept."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.test import Client

from sessioncloud.accounts.models import Membership, Organization, Role
from sessioncloud.providers.models import RESERVED_MESSAGE, App, ReservedProviderId, SetupToken
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user, migration_module
from tests.portal.conftest import make_user, member
from tests.portal.test_admin import admin_form_data

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "ann@acme.example",
    "password1": "correct-horse-battery",
    "password2": "correct-horse-battery",
    "organization": "Acme Telecom",
    "provider_id": "AcmeInc",
    "app_name": "Acme Phone",
    "sip_domain": "sip.acme.example:5060",
}
NOT_FOUND = {"error": {"code": "provider_not_found", "message": "No provider is known by that ProviderId."}}


def sign_up(**changes: str) -> Client:
    client = Client()
    client.post("/accounts/signup/", {**SIGNUP, **changes})
    return client


def confirm(client: Client) -> None:
    link = re.search(r"(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    assert client.post(link).status_code == 302


def config_status(provider_id: str = "AcmeInc") -> int:
    return Client().get(f"/api/v1/providers/{provider_id}/config").status_code


def test_a_new_sign_up_is_unverified_and_its_app_is_unknown_to_phones():
    sign_up()
    assert Organization.objects.get().verified is False
    response = Client().get("/api/v1/providers/AcmeInc/config")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_confirming_the_address_serves_the_app_at_once_though_its_absence_was_cached():
    client = sign_up()
    assert config_status() == 404  # now cached as unknown
    confirm(client)
    assert Organization.objects.get().verified is True
    assert Client().get("/api/v1/providers/acmeinc/config").json()["providerId"] == "AcmeInc"


def test_provisioning_for_an_unverified_app_answers_as_for_an_unknown_one(org):
    org.verified = False
    org.save()
    make_app(org, provisioning_mode="external", provisioning_url="https://prov.acme.example/p")
    response = Client().post(
        "/api/v1/provision",
        json.dumps({"providerId": "AcmeInc", "username": "1000", "password": "1234", "deviceId": "dev-1"}),
        content_type="application/json",
    )
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_a_setup_token_of_an_unverified_app_is_invalid_and_stays_unused(org):
    org.verified = False
    org.save()
    issued = issue_token(make_end_user(make_app(org), "alice"))
    response = Client().post(
        "/api/v1/tokens/redeem",
        json.dumps({"token": issued.plain, "deviceId": "dev-1"}),
        content_type="application/json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (404, "token_invalid")
    assert SetupToken.objects.get().uses == 0
    org.verified = True
    org.save()
    assert (
        Client()
        .post(
            "/api/v1/tokens/redeem",
            json.dumps({"token": issued.plain, "deviceId": "dev-1"}),
            content_type="application/json",
        )
        .status_code
        == 200
    )


@pytest.fixture
def unverified_token(org: Organization) -> str:
    org.verified = False
    org.save()
    return issue_token(make_end_user(make_app(org), "alice")).plain


def test_the_linphone_address_of_an_unverified_app_is_invalid_and_uses_nothing(unverified_token):
    response = Client().get(f"/api/v1/linphone/{unverified_token}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "token_invalid")
    assert SetupToken.objects.get().uses == 0


def test_the_setup_page_of_an_unverified_app_is_the_invalid_page(unverified_token):
    response = Client().get(f"/setup/{unverified_token}")
    assert response.status_code == 404
    assert "Acme Telecom" not in response.content.decode()


def test_the_apps_linphone_address_of_an_unverified_app_is_unknown(org, app):
    org.verified = False
    org.save()
    assert Client().get("/api/v1/providers/AcmeInc/linphone").status_code == 404


def test_verifying_in_the_admin_serves_the_app(org, app):
    org.verified = False
    org.save()
    assert config_status() == 404
    operator = Client()
    operator.force_login(User.objects.create_superuser("root", "root@operator.example", "operator-password"))
    page = operator.get(f"/admin/accounts/organization/{org.pk}/change/")
    data = {
        "slug": org.slug,
        "name": org.name,
        "verified": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    assert page.status_code == 200
    assert operator.post(f"/admin/accounts/organization/{org.pk}/change/", data).status_code == 302
    assert config_status() == 200


def test_a_verified_user_starting_another_organization_is_served_at_once(org):
    owner = member(org, "owner@acme.example", Role.OWNER)
    client = Client()
    client.force_login(owner)
    client.post("/portal/organizations/new/", {"name": "Second Ltd"})
    assert Organization.objects.get(name="Second Ltd").verified is True


def test_the_upgrade_unverifies_organizations_whose_owners_never_confirmed(org, other_org):
    lonely = Organization.objects.create(slug="operator-made", name="Made by an operator")
    confirmed = member(org, "owner@acme.example", Role.OWNER)
    unconfirmed = User.objects.create_user("eve@rival.example", "eve@rival.example", "pw")
    EmailAddress.objects.create(user=unconfirmed, email="eve@rival.example", verified=False, primary=True)
    Membership.objects.create(organization=other_org, user=unconfirmed, role=Role.OWNER)
    Membership.objects.create(
        organization=other_org, user=make_user("viewer@rival.example"), role=Role.VIEWER
    )
    assert confirmed.pk
    migration = migration_module(
        "sessioncloud.accounts.migrations", "verified_organizations_and_encrypted_mfa"
    )
    migration.unverify_unconfirmed_sign_ups(apps, None)
    assert dict(Organization.objects.values_list("slug", "verified")) == {
        "acme": True,
        "rival": False,
        lonely.slug: True,
    }


# --- Reserved ProviderIds -------------------------------------------------------------------------


@pytest.fixture
def vodafone() -> ReservedProviderId:
    return ReservedProviderId.objects.create(provider_id="Vodafone", note="Vodafone Group")


def test_sign_up_refuses_a_reserved_provider_id_in_any_case(vodafone):
    response = Client().post("/accounts/signup/", {**SIGNUP, "provider_id": "VODAFONE"})
    assert response.status_code == 200
    assert response.context["form"].errors == {"provider_id": [RESERVED_MESSAGE]}
    assert not User.objects.exists()


def test_a_new_app_in_the_portal_may_not_take_a_reserved_provider_id(org, vodafone):
    client = Client()
    client.force_login(member(org, "owner@acme.example", Role.OWNER))
    response = client.post(
        "/portal/apps/new/",
        {"provider_id": "vodafone", "name": "V", "kind": "generic", "sip_domain": "sip.acme.example"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"provider_id": [RESERVED_MESSAGE]}
    assert not App.objects.exists()


def test_the_management_api_may_not_create_an_app_with_a_reserved_provider_id(api, vodafone):
    response = api.post(
        "/api/v1/manage/apps", {"providerId": "VodaFone", "name": "V", "sip": {"domain": "sip.acme.example"}}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"providerId": RESERVED_MESSAGE}


def test_an_operator_gives_a_reserved_provider_id_to_its_brand_in_the_admin(org, vodafone):
    operator = Client()
    operator.force_login(User.objects.create_superuser("root", "root@operator.example", "operator-password"))
    page = operator.get("/admin/providers/app/add/")
    response = operator.post(
        "/admin/providers/app/add/",
        admin_form_data(
            page,
            organization=org.pk,
            provider_id="Vodafone",
            name="Vodafone",
            sip_domain="sip.vodafone.example",
        ),
    )
    assert response.status_code == 302
    assert App.objects.get().provider_id == "Vodafone"


def test_the_command_reserves_lists_and_releases_provider_ids(org):
    make_app(org, "Telekom")
    out = StringIO()
    call_command("providerids", "reserve", "Vodafone", "telekom", "--note", "brands", stdout=out)
    call_command("providerids", "reserve", "VODAFONE", stdout=out)
    call_command("providerids", "list", stdout=out)
    call_command("providerids", "release", "vodafone", "Orange", stdout=out)
    assert out.getvalue().splitlines() == [
        "Reserved Vodafone.",
        "Reserved telekom (the App Telekom of acme already has it).",
        "VODAFONE is reserved already.",
        "telekom\tbrands",
        "Vodafone\tbrands",
        "Released vodafone.",
        "Orange was not reserved.",
    ]
    assert list(ReservedProviderId.objects.values_list("provider_id", flat=True)) == ["telekom"]


def test_the_command_refuses_what_is_no_provider_id(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="^1x: A ProviderId has 3 to 32 characters"):
        call_command("providerids", "reserve", "1x")
