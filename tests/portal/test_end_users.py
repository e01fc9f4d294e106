"""End users in the portal: list, search, add, edit, delete; passwords are write-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.portal.access import PAGE_SIZE
from sessioncloud.providers.models import App, EndUser, SetupToken
from sessioncloud.providers.tokens import issue_token, revoke
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db

LIST = "/portal/apps/AcmeInc/endusers/"
ADD = "/portal/apps/AcmeInc/add-end-user/"
NEW_USER = {
    "external_id": "cust-1001",
    "display_name": "Ann Smith",
    "email": "ann@customer.example",
    "sip_username": "1001",
    "sip_password": "sip-s3cret",
    "subdomain": "pbx1",
    "auth_username": "",
    "transport": "TCP",
    "srtp": "Enabled",
    "messaging": "",
    "video": "",
    "callrecording": "",
    "provisioning_username": "",
    "provisioning_password": "",
}
PASSWORD_HINT = "A password is set. Leave blank to keep it; it is never shown."


def user_url(external_id: str, action: str = "") -> str:
    return f"{LIST}{external_id}/{action + '/' if action else ''}"


def add(client: Client, data: dict[str, str]) -> Any:
    return client.post(ADD, data)


def edit_ann(client: Client, data: dict[str, str]) -> Any:
    return client.post(user_url("cust-1001", "edit"), data)


def resave_ann(client: Client, **changes: str) -> Any:
    """Post Ann's edit form as the page shows it (password fields blank), with some changes."""
    page = client.get(user_url("cust-1001", "edit"))
    shown = {name: value for name, value in page.context["form"].initial.items() if value}
    return edit_ann(client, {**shown, **changes})


def form_errors(response: Any) -> dict[str, list[str]]:
    return response.context["form"].errors


def fields_of(user: EndUser, *names: str) -> dict[str, Any]:
    return {name: getattr(user, name) for name in names}


def before_of(entry: AuditEntry) -> dict[str, Any]:
    assert entry.before is not None
    return entry.before


def after_of(entry: AuditEntry) -> dict[str, Any]:
    assert entry.after is not None
    return entry.after


@pytest.fixture
def ann(app: App) -> EndUser:
    return make_end_user(
        app,
        "cust-1001",
        display_name="Ann Smith",
        email="ann@customer.example",
        sip_username="1001",
        sip_password="sip-s3cret",
        subdomain="pbx1",
        provisioning_username="ann.p",
        provisioning_password="prov-s3cret",
    )


# --- adding -----------------------------------------------------------------------------------------


def test_it_shows_the_new_end_user_after_adding_it(owner_client: Client, app: App) -> None:
    response = add(owner_client, NEW_USER)
    assert (response.status_code, response["Location"]) == (302, "/portal/apps/AcmeInc/endusers/cust-1001/")


def test_it_saves_the_typed_fields_of_a_new_end_user(owner_client: Client, app: App) -> None:
    add(owner_client, NEW_USER)
    user = EndUser.objects.get()
    assert fields_of(
        user,
        "app",
        "external_id",
        "display_name",
        "email",
        "sip_username",
        "sip_password",
        "subdomain",
        "transport",
        "srtp",
        "messaging",
        "has_provisioning",
    ) == {
        "app": app,
        "external_id": "cust-1001",
        "display_name": "Ann Smith",
        "email": "ann@customer.example",
        "sip_username": "1001",
        "sip_password": "sip-s3cret",
        "subdomain": "pbx1",
        "transport": "TCP",
        "srtp": "Enabled",
        "messaging": "",
        "has_provisioning": False,
    }


def test_it_audits_who_added_an_end_user(owner_client: Client, app: App) -> None:
    add(owner_client, NEW_USER)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type, entry.object_repr, entry.before) == (
        "owner@acme.example",
        "enduser.create",
        "EndUser",
        "Ann Smith",
        None,
    )


def test_it_audits_a_new_end_user_without_the_password_itself(owner_client: Client, app: App) -> None:
    add(owner_client, NEW_USER)
    entry = AuditEntry.objects.get()
    assert entry.after == {
        "externalId": "cust-1001",
        "displayName": "Ann Smith",
        "email": "ann@customer.example",
        "sip": {
            "sipusername": "1001",
            "subdomain": "pbx1",
            "authusername": None,
            "transport": "TCP",
            "srtp": "Enabled",
            "messaging": None,
            "video": None,
            "callrecording": None,
            "sippasswordSet": True,
        },
        "provisioning": None,
        "passwordsTyped": ["sip_password"],
    }
    assert "sip-s3cret" not in str(entry.after)


def test_it_asks_for_some_credentials(owner_client: Client, app: App) -> None:
    response = add(owner_client, {"external_id": "cust-1", "display_name": "Nobody"})
    assert response.status_code == 200
    assert form_errors(response) == {"__all__": ["Give SIP credentials, provisioning credentials, or both."]}


def test_it_saves_and_audits_nothing_without_credentials(owner_client: Client, app: App) -> None:
    add(owner_client, {"external_id": "cust-1", "display_name": "Nobody"})
    assert not EndUser.objects.exists()
    assert not AuditEntry.objects.exists()


def test_it_refuses_a_taken_id_a_bad_address_and_a_sip_password_without_username(
    owner_client: Client, app: App, ann: EndUser
) -> None:
    response = add(
        owner_client,
        {
            "external_id": "cust-1001",
            "email": "not-an-address",
            "sip_username": "",
            "srtp": "Enabled",
            "provisioning_username": "bob",
            "provisioning_password": "",
        },
    )
    assert form_errors(response) == {
        "external_id": ["This App already has an end user with this id."],
        "email": ["Enter a valid email address."],
        "sip_username": ["Give the SIP username, or leave every SIP field empty."],
    }
    assert EndUser.objects.count() == 1


def test_it_refuses_an_external_id_the_api_would_refuse(owner_client: Client, app: App) -> None:
    response = add(owner_client, {"external_id": "-bad id", "sip_username": "1002"})
    assert form_errors(response) == {
        "external_id": ["Use 1 to 100 letters, digits and . _ @ + - (starting with a letter or digit)."],
    }
    assert not EndUser.objects.exists()


def test_it_needs_the_password_of_each_username(owner_client: Client, app: App) -> None:
    response = add(
        owner_client, {"external_id": "cust-2", "sip_username": "1002", "provisioning_username": "bob"}
    )
    assert form_errors(response) == {
        "sip_password": ["This field is required."],
        "provisioning_password": ["This field is required."],
    }
    assert not EndUser.objects.exists()


def test_it_keeps_a_display_name_to_one_line_since_codes_carry_it(owner_client: Client, app: App) -> None:
    response = add(owner_client, {**NEW_USER, "display_name": "Ann\tSmith"})
    assert form_errors(response) == {"display_name": ["This must be one line without control characters."]}
    assert not EndUser.objects.exists()


def test_an_admin_may_manage_end_users_too(admin_client: Client, app: App) -> None:
    assert add(admin_client, NEW_USER).status_code == 302
    assert EndUser.objects.get().external_id == "cust-1001"


# --- editing ----------------------------------------------------------------------------------------


def test_the_edit_form_never_shows_a_stored_password(owner_client: Client, ann: EndUser) -> None:
    content = owner_client.get(user_url("cust-1001", "edit")).content.decode()
    assert "sip-s3cret" not in content and "prov-s3cret" not in content


def test_the_edit_form_shows_the_stored_fields_and_an_empty_password_field(
    owner_client: Client, ann: EndUser
) -> None:
    content = owner_client.get(user_url("cust-1001", "edit")).content.decode()
    assert 'name="sip_password"' in content and 'value="1001"' in content


def test_the_edit_form_says_of_each_password_that_one_is_set(owner_client: Client, ann: EndUser) -> None:
    content = owner_client.get(user_url("cust-1001", "edit")).content.decode()
    assert content.count(PASSWORD_HINT) == 2


def test_it_shows_the_end_user_after_saving_changes(owner_client: Client, ann: EndUser) -> None:
    response = resave_ann(owner_client, display_name="Ann Jones")
    assert response["Location"] == "/portal/apps/AcmeInc/endusers/cust-1001/"


def test_a_blank_password_keeps_the_stored_one(owner_client: Client, ann: EndUser) -> None:
    resave_ann(owner_client, display_name="Ann Jones")
    ann.refresh_from_db()
    assert (ann.display_name, ann.sip_password, ann.provisioning_password) == (
        "Ann Jones",
        "sip-s3cret",
        "prov-s3cret",
    )


def test_it_audits_a_change_with_the_values_before_and_after(owner_client: Client, ann: EndUser) -> None:
    resave_ann(owner_client, display_name="Ann Jones")
    entry = AuditEntry.objects.get()
    assert (entry.action, before_of(entry)["displayName"], after_of(entry)["displayName"]) == (
        "enduser.update",
        "Ann Smith",
        "Ann Jones",
    )


def test_the_audit_of_a_change_names_no_typed_password_when_none_was_typed(
    owner_client: Client, ann: EndUser
) -> None:
    resave_ann(owner_client, display_name="Ann Jones")
    assert "passwordsTyped" not in after_of(AuditEntry.objects.get())


def edit_ann_with_new_sip_password(client: Client) -> None:
    data = {**NEW_USER, "provisioning_username": "ann.p", "sip_password": "new-s3cret"}
    del data["external_id"]
    edit_ann(client, data)


def test_a_typed_password_replaces_the_stored_one(owner_client: Client, ann: EndUser) -> None:
    edit_ann_with_new_sip_password(owner_client)
    ann.refresh_from_db()
    assert (ann.sip_password, ann.provisioning_password) == ("new-s3cret", "prov-s3cret")


def test_the_audit_says_which_password_was_typed(owner_client: Client, ann: EndUser) -> None:
    edit_ann_with_new_sip_password(owner_client)
    assert after_of(AuditEntry.objects.get())["passwordsTyped"] == ["sip_password"]


def test_emptying_the_sip_username_removes_the_sip_credentials(owner_client: Client, ann: EndUser) -> None:
    edit_ann(owner_client, {"provisioning_username": "ann.p"})
    ann.refresh_from_db()
    assert (ann.sip_username, ann.sip_password, ann.subdomain, ann.provisioning_password) == (
        "",
        "",
        "",
        "prov-s3cret",
    )


def test_the_external_id_cannot_be_changed(owner_client: Client, ann: EndUser) -> None:
    edit_ann(owner_client, {**NEW_USER, "external_id": "someone-else"})
    assert list(EndUser.objects.values_list("external_id", flat=True)) == ["cust-1001"]


# --- deleting ---------------------------------------------------------------------------------------


@pytest.fixture
def ann_with_tokens(ann: EndUser) -> EndUser:
    """Ann with one unused setup token and one revoked."""
    issue_token(ann)
    revoke(issue_token(ann).token)
    return ann


def test_deleting_asks_first_saying_which_setup_links_stop_working(
    owner_client: Client, ann_with_tokens: EndUser
) -> None:
    confirm = owner_client.get(user_url("cust-1001", "delete"))
    assert confirm.status_code == 200
    content = confirm.content.decode()
    assert "Delete the end user Ann Smith?" in content
    assert "and its setup tokens are deleted: its 1 unused setup link stops working." in content


def test_asking_to_delete_deletes_nothing(owner_client: Client, ann_with_tokens: EndUser) -> None:
    owner_client.get(user_url("cust-1001", "delete"))
    assert EndUser.objects.exists()


def test_deleting_returns_to_the_list(owner_client: Client, ann_with_tokens: EndUser) -> None:
    response = owner_client.post(user_url("cust-1001", "delete"))
    assert response["Location"] == LIST


def test_deleting_deletes_the_end_user_and_its_setup_tokens(
    owner_client: Client, ann_with_tokens: EndUser
) -> None:
    owner_client.post(user_url("cust-1001", "delete"))
    assert not EndUser.objects.exists() and not SetupToken.objects.exists()


def test_deleting_is_audited(owner_client: Client, ann_with_tokens: EndUser) -> None:
    owner_client.post(user_url("cust-1001", "delete"))
    entry = AuditEntry.objects.get()
    assert (entry.action, before_of(entry)["externalId"], entry.after) == (
        "enduser.delete",
        "cust-1001",
        None,
    )


# --- the list ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ann", ["cust-1001"]),  # display name, any case
        ("CUST-100", ["cust-1001", "cust-1002"]),  # external id
        ("customer.example", ["cust-1001"]),  # e-mail
        ("2002", ["cust-1002"]),  # SIP username
        ("bob.p", ["cust-1002"]),  # provisioning username
        ("nobody", []),
    ],
)
def test_the_list_searches_names_ids_addresses_and_usernames(
    owner_client: Client, app: App, query: str, found: list[str]
) -> None:
    make_end_user(
        app, "cust-1001", display_name="Ann Smith", email="ann@customer.example", sip_username="1001"
    )
    make_end_user(
        app,
        "cust-1002",
        display_name="Bob",
        sip_username="2002",
        provisioning_username="bob.p",
        provisioning_password="x",
    )
    response = owner_client.get(LIST, {"q": query})
    assert [user.external_id for user in response.context["users"]] == found


@pytest.fixture
def two_pages_of_users(app: App) -> None:
    for number in range(PAGE_SIZE + 2):
        make_end_user(app, f"user-{number:03d}")


def test_the_list_shows_a_page_of_users_and_links_the_next_with_the_search(
    owner_client: Client, two_pages_of_users: None
) -> None:
    first = owner_client.get(LIST, {"q": "user"})
    assert len(first.context["users"]) == PAGE_SIZE
    assert '<a href="?q=user&amp;page=2" rel="next">Next →</a>' in first.content.decode()


def test_the_next_page_of_the_list_keeps_the_search(owner_client: Client, two_pages_of_users: None) -> None:
    second = owner_client.get(LIST, {"q": "user", "page": "2"})
    assert [user.external_id for user in second.context["users"]] == ["user-050", "user-051"]


def test_the_list_shows_only_this_apps_end_users(owner_client: Client, app: App, rival_app: App) -> None:
    make_end_user(rival_app, "rival-user")
    make_end_user(app, "own-user")
    content = owner_client.get(LIST).content.decode()
    assert "own-user" in content and "rival-user" not in content
