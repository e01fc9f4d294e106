"""Revoking an API key, deactivating a device and removing a member ask first, without script."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from sessioncloud.accounts.models import ApiKey, AuditEntry, Membership, Organization
from sessioncloud.providers.models import App, Device
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

DEVICES = "/portal/apps/AcmeInc/devices/"


def consequences(response: Any) -> list[str]:
    listed = re.search(
        r'<ul class="consequences" id="consequences">(.*?)</ul>', response.content.decode(), re.S
    )
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", listed.group(1))]


def confirm_form(response: Any) -> dict[str, str]:
    """What the confirmation page's own form posts (its hidden fields), as a browser sends it."""
    form = re.search(r'<form method="post" novalidate>(.*?)</form>', response.content.decode(), re.S).group(1)
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form)
        if name != "csrfmiddlewaretoken"
    }


@pytest.fixture
def key(org: Organization) -> ApiKey:
    return ApiKey.issue(org, "Billing system")[0]


@pytest.fixture
def phone(app: App) -> Device:
    return Device.objects.create(
        app=app, device_id="phone-1", username="1000", end_user=make_end_user(app, "cust-7")
    )


# --- API keys ---------------------------------------------------------------------------------


def test_the_key_list_links_to_a_confirmation_instead_of_revoking(owner_client, key):
    content = owner_client.get("/portal/api-keys/").content.decode()
    assert f'<a class="btn danger small" href="/portal/api-keys/{key.pk}/revoke/">Revoke</a>' in content
    assert f'action="/portal/api-keys/{key.pk}/revoke/"' not in content


def test_revoking_a_key_says_what_will_happen(owner_client, key):
    response = owner_client.get(f"/portal/api-keys/{key.pk}/revoke/")
    assert response.status_code == 200
    assert '<h2 id="confirm-title">Revoke the API key Billing system?</h2>' in response.content.decode()
    assert consequences(response) == [
        f"Every call with the key {key.hint}… is refused from now on. It has never been used.",
        "Programs that use it stop working: give them a new key first.",
        "A revoked key cannot be used again; the audit log records who revoked it.",
    ]


def test_asking_changes_nothing(owner_client, key):
    owner_client.get(f"/portal/api-keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert (key.revoked, AuditEntry.objects.count()) == (None, 0)


def test_confirming_revokes_the_key_and_audits_it(owner_client, key):
    page = owner_client.get(f"/portal/api-keys/{key.pk}/revoke/")
    response = owner_client.post(f"/portal/api-keys/{key.pk}/revoke/", confirm_form(page))
    assert response["Location"] == "/portal/api-keys/"
    key.refresh_from_db()
    assert key.revoked is not None
    assert list(AuditEntry.objects.values_list("actor", "action", "object_repr")) == [
        ("owner@acme.example", "apikey.revoke", f"Billing system ({key.hint}…)")
    ]


def test_a_viewer_is_told_why_and_gets_no_button(viewer_client, key):
    content = viewer_client.get(f"/portal/api-keys/{key.pk}/revoke/").content.decode()
    assert '<p class="alert" id="confirm-refusal">Only owners and admins can do this.</p>' in content
    assert "Revoke key</button>" not in content


def test_another_organizations_key_is_not_found(owner_client, other_org):
    rival_key = ApiKey.issue(other_org, "Theirs")[0]
    assert owner_client.get(f"/portal/api-keys/{rival_key.pk}/revoke/").status_code == 404


# --- Devices ----------------------------------------------------------------------------------


def test_the_device_list_links_to_a_confirmation(owner_client, phone):
    content = owner_client.get(DEVICES).content.decode()
    assert (
        f'<a class="btn danger small" href="{DEVICES}deactivate/?device_id=phone-1">Deactivate</a>' in content
    )


def test_deactivating_a_device_says_what_will_happen(owner_client, phone):
    response = owner_client.get(DEVICES + "deactivate/", {"device_id": "phone-1"})
    assert consequences(response) == [
        "On its next call, the app on this device (used by cust-7) removes its accounts and tells the user "
        "that you deactivated it.",
        "Every later call from this device gets the same answer: it cannot be provisioned again.",
        "Other devices of the same user keep working; the audit log records who deactivated it.",
    ]
    phone.refresh_from_db()
    assert (phone.status, AuditEntry.objects.count()) == ("active", 0)


def test_the_confirmation_posts_the_device_back(owner_client, phone):
    page = owner_client.get(DEVICES + "deactivate/", {"device_id": "phone-1"})
    assert confirm_form(page) == {"device_id": "phone-1"}
    owner_client.post(DEVICES + "deactivate/", confirm_form(page))
    phone.refresh_from_db()
    assert phone.status == "deactivated"
    assert AuditEntry.objects.get().action == "device.deactivate"


def test_asking_about_an_unknown_device_is_not_found(owner_client, phone):
    assert owner_client.get(DEVICES + "deactivate/", {"device_id": "phone-9"}).status_code == 404


def test_asking_about_a_deactivated_device_goes_back_to_the_list(owner_client, phone):
    phone.status = "deactivated"
    phone.save()
    assert owner_client.get(DEVICES + "deactivate/", {"device_id": "phone-1"})["Location"] == DEVICES


# --- Team members -----------------------------------------------------------------------------


def test_the_team_page_links_to_a_confirmation(owner_client, admin_user):
    membership = Membership.objects.get(user=admin_user)
    content = owner_client.get("/portal/team/").content.decode()
    assert (
        f'<a class="btn danger small" href="/portal/team/members/{membership.pk}/remove/">Remove</a>'
        in content
    )


def test_removing_a_member_says_what_will_happen(owner_client, admin_user):
    membership = Membership.objects.get(user=admin_user)
    response = owner_client.get(f"/portal/team/members/{membership.pk}/remove/")
    assert (
        '<h2 id="confirm-title">Remove admin@acme.example from Acme Telecom?</h2>'
        in response.content.decode()
    )
    assert consequences(response) == [
        "admin@acme.example loses access to Acme Telecom at once: its Apps, end users, API keys and audit "
        "log.",
        "The portal account itself stays, with its other organizations. An owner can invite them again.",
        "What they set up (Apps, end users, API keys) stays; the audit log records the removal.",
    ]
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_removing_yourself_is_worded_for_you(owner_client, owner, admin_user):
    Membership.objects.filter(user=admin_user).update(role="owner")
    response = owner_client.get(f"/portal/team/members/{Membership.objects.get(user=owner).pk}/remove/")
    assert '<h2 id="confirm-title">Remove yourself from Acme Telecom?</h2>' in response.content.decode()
    assert consequences(response)[0] == (
        "You lose access to Acme Telecom at once: its Apps, end users, API keys and audit log."
    )


def test_confirming_removes_the_member(owner_client, admin_user):
    membership = Membership.objects.get(user=admin_user)
    response = owner_client.post(f"/portal/team/members/{membership.pk}/remove/")
    assert response["Location"] == "/portal/team/"
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEntry.objects.get().action == "member.remove"


def test_an_admin_is_told_only_owners_remove_members(admin_client, owner):
    membership = Membership.objects.get(user=owner)
    content = admin_client.get(f"/portal/team/members/{membership.pk}/remove/").content.decode()
    assert '<p class="alert" id="confirm-refusal">Only owners can do this.</p>' in content
    assert "Remove member</button>" not in content


def test_the_last_owner_is_told_why_they_cannot_leave(owner_client, owner):
    membership = Membership.objects.get(user=owner)
    content = owner_client.get(f"/portal/team/members/{membership.pk}/remove/").content.decode()
    assert (
        '<p class="alert" id="confirm-refusal">An organization needs at least one owner: make someone else '
        "an owner first.</p>"
    ) in content
    assert "Remove myself</button>" not in content


def test_asking_without_naming_a_device_goes_to_the_list(owner_client, phone):
    assert owner_client.get(DEVICES + "deactivate/")["Location"] == DEVICES
