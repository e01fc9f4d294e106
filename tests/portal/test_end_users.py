"""End users in the portal: list, search, add, edit, delete; passwords are write-only."""

from __future__ import annotations

import pytest

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.portal.access import PAGE_SIZE
from sessioncloud.providers.models import EndUser, SetupToken
from sessioncloud.providers.tokens import issue_token, revoke
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

LIST = "/portal/apps/AcmeInc/endusers/"
ADD = "/portal/apps/AcmeInc/add-end-user/"
NEW_USER = {
    "external_id": "cust-1001", "display_name": "Ann Smith", "email": "ann@customer.example",
    "sip_username": "1001", "sip_password": "sip-s3cret", "subdomain": "pbx1", "auth_username": "",
    "transport": "TCP", "srtp": "Enabled", "messaging": "", "video": "", "callrecording": "",
    "provisioning_username": "", "provisioning_password": "",
}


def user_url(external_id: str, action: str = "") -> str:
    return f"{LIST}{external_id}/{action + '/' if action else ''}"


@pytest.fixture
def ann(app):  # type: ignore[no-untyped-def]
    return make_end_user(app, "cust-1001", display_name="Ann Smith", email="ann@customer.example",
                         sip_username="1001", sip_password="sip-s3cret", subdomain="pbx1",
                         provisioning_username="ann.p", provisioning_password="prov-s3cret")


def test_adding_an_end_user_saves_it_and_audits_it_without_the_password(owner_client, app):
    response = owner_client.post(ADD, NEW_USER)
    assert (response.status_code, response["Location"]) == (302, "/portal/apps/AcmeInc/endusers/cust-1001/")
    user = EndUser.objects.get()
    assert (user.app, user.external_id, user.display_name, user.email, user.sip_username, user.sip_password,
            user.subdomain, user.transport, user.srtp, user.messaging, user.has_provisioning) == (
        app, "cust-1001", "Ann Smith", "ann@customer.example", "1001", "sip-s3cret", "pbx1", "TCP", "Enabled",
        "", False)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type, entry.object_repr, entry.before) == (
        "owner@acme.example", "enduser.create", "EndUser", "Ann Smith", None)
    assert entry.after == {
        "externalId": "cust-1001", "displayName": "Ann Smith", "email": "ann@customer.example",
        "sip": {"sipusername": "1001", "subdomain": "pbx1", "authusername": None, "transport": "TCP",
                "srtp": "Enabled", "messaging": None, "video": None, "callrecording": None,
                "sippasswordSet": True},
        "provisioning": None, "passwordsTyped": ["sip_password"],
    }
    assert "sip-s3cret" not in str(entry.after)


def test_an_end_user_needs_some_credentials(owner_client, app):
    response = owner_client.post(ADD, {"external_id": "cust-1", "display_name": "Nobody"})
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "__all__": ["Give SIP credentials, provisioning credentials, or both."]}
    assert not EndUser.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_form_checks_the_rules_the_api_checks(owner_client, app, ann):
    response = owner_client.post(ADD, {
        "external_id": "cust-1001", "email": "not-an-address", "sip_username": "", "srtp": "Enabled",
        "provisioning_username": "bob", "provisioning_password": ""})
    assert response.context["form"].errors == {
        "external_id": ["This App already has an end user with this id."],
        "email": ["Enter a valid email address."],
        "sip_username": ["Give the SIP username, or leave every SIP field empty."],
    }
    response = owner_client.post(ADD, {"external_id": "-bad id", "sip_username": "1002"})
    assert response.context["form"].errors == {
        "external_id": ["Use 1 to 100 letters, digits and . _ @ + - (starting with a letter or digit)."],
    }
    response = owner_client.post(ADD, {"external_id": "cust-2", "sip_username": "1002",
                                       "provisioning_username": "bob"})
    assert response.context["form"].errors == {
        "sip_password": ["This field is required."], "provisioning_password": ["This field is required."]}
    assert EndUser.objects.count() == 1


def test_a_display_name_goes_into_codes_so_it_must_be_one_line(owner_client, app):
    response = owner_client.post(ADD, {**NEW_USER, "display_name": "Ann\tSmith"})
    assert response.context["form"].errors == {
        "display_name": ["This must be one line without control characters."]}
    assert not EndUser.objects.exists()


def test_the_edit_form_never_shows_a_stored_password(owner_client, ann):
    content = owner_client.get(user_url("cust-1001", "edit")).content.decode()
    assert "sip-s3cret" not in content and "prov-s3cret" not in content
    assert 'name="sip_password"' in content and 'value="1001"' in content
    assert content.count("A password is set. Leave blank to keep it; it is never shown.") == 2


def test_a_blank_password_keeps_the_stored_one(owner_client, ann):
    page = owner_client.get(user_url("cust-1001", "edit"))
    data = {name: value for name, value in page.context["form"].initial.items() if value}
    response = owner_client.post(user_url("cust-1001", "edit"), {**data, "display_name": "Ann Jones"})
    assert response["Location"] == "/portal/apps/AcmeInc/endusers/cust-1001/"
    ann.refresh_from_db()
    assert (ann.display_name, ann.sip_password, ann.provisioning_password) == ("Ann Jones", "sip-s3cret", "prov-s3cret")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before["displayName"], entry.after["displayName"]) == (
        "enduser.update", "Ann Smith", "Ann Jones")
    assert "passwordsTyped" not in entry.after


def test_a_typed_password_replaces_the_stored_one_and_the_audit_says_so(owner_client, ann):
    data = {**NEW_USER, "provisioning_username": "ann.p", "sip_password": "new-s3cret"}
    del data["external_id"]
    owner_client.post(user_url("cust-1001", "edit"), data)
    ann.refresh_from_db()
    assert (ann.sip_password, ann.provisioning_password) == ("new-s3cret", "prov-s3cret")
    assert AuditEntry.objects.get().after["passwordsTyped"] == ["sip_password"]


def test_emptying_the_sip_username_removes_the_sip_credentials(owner_client, ann):
    owner_client.post(user_url("cust-1001", "edit"), {"provisioning_username": "ann.p"})
    ann.refresh_from_db()
    assert (ann.sip_username, ann.sip_password, ann.subdomain, ann.provisioning_password) == (
        "", "", "", "prov-s3cret")


def test_the_external_id_cannot_be_changed(owner_client, ann):
    data = {**NEW_USER, "external_id": "someone-else"}
    owner_client.post(user_url("cust-1001", "edit"), data)
    assert list(EndUser.objects.values_list("external_id", flat=True)) == ["cust-1001"]


def test_deleting_asks_first_then_deletes_and_audits(owner_client, ann):
    issue_token(ann)
    revoke(issue_token(ann).token)
    confirm = owner_client.get(user_url("cust-1001", "delete"))
    assert confirm.status_code == 200
    content = confirm.content.decode()
    assert "Delete the end user Ann Smith?" in content
    assert "and its setup tokens are deleted: its 1 unused setup link stops working." in content
    assert EndUser.objects.exists()
    response = owner_client.post(user_url("cust-1001", "delete"))
    assert response["Location"] == LIST
    assert not EndUser.objects.exists() and not SetupToken.objects.exists()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before["externalId"], entry.after) == ("enduser.delete", "cust-1001", None)


@pytest.mark.parametrize(("query", "found"), [
    ("ann", ["cust-1001"]),  # display name, any case
    ("CUST-100", ["cust-1001", "cust-1002"]),  # external id
    ("customer.example", ["cust-1001"]),  # e-mail
    ("2002", ["cust-1002"]),  # SIP username
    ("bob.p", ["cust-1002"]),  # provisioning username
    ("nobody", []),
])
def test_the_list_searches_names_ids_addresses_and_usernames(owner_client, app, query, found):
    make_end_user(app, "cust-1001", display_name="Ann Smith", email="ann@customer.example", sip_username="1001")
    make_end_user(app, "cust-1002", display_name="Bob", sip_username="2002", provisioning_username="bob.p",
                  provisioning_password="x")
    response = owner_client.get(LIST, {"q": query})
    assert [user.external_id for user in response.context["users"]] == found


def test_the_list_is_paginated_and_keeps_the_search(owner_client, app):
    for number in range(PAGE_SIZE + 2):
        make_end_user(app, f"user-{number:03d}")
    first = owner_client.get(LIST, {"q": "user"})
    assert len(first.context["users"]) == PAGE_SIZE
    assert '<a href="?q=user&amp;page=2" rel="next">Next →</a>' in first.content.decode()
    second = owner_client.get(LIST, {"q": "user", "page": "2"})
    assert [user.external_id for user in second.context["users"]] == ["user-050", "user-051"]


def test_the_list_shows_only_this_apps_end_users(owner_client, app, rival_app):
    make_end_user(rival_app, "rival-user")
    make_end_user(app, "own-user")
    content = owner_client.get(LIST).content.decode()
    assert "own-user" in content and "rival-user" not in content


def test_an_admin_may_manage_end_users_too(admin_client, app):
    assert admin_client.post(ADD, NEW_USER).status_code == 302
    assert EndUser.objects.get().external_id == "cust-1001"
