"""Viewers change nothing anywhere; another organization's objects are 404 everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, reverse

from sessioncloud.accounts.models import (
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    Role,
)
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import EmailSettings, Job
from sessioncloud.portal import urls as portal_urls
from sessioncloud.providers.appdata import audit_snapshot
from sessioncloud.providers.models import (
    App,
    Device,
    EndUser,
    Logo,
    ProvisioningLogEntry,
    SetupToken,
)
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_end_user
from tests.portal.conftest import client_for, make_user, member

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
    b"\xaeB`\x82"
)

# A POST each view would act on if the caller were allowed to: every field valid and different.
POSTS: dict[str, dict[str, Any]] = {
    "app_new": {"provider_id": "NewApp", "name": "New", "kind": "generic", "sip_domain": "sip.new.example"},
    "app_general": {"name": "Changed", "kind": "whitelabel", "ios_bundle_id": "com.x.y"},
    "app_branding": {
        "theme_color": "#FF0000",
        "help_menu_title": "Changed",
        "credentials_source": "sip",
        "link_title_1": "Changed",
        "link_url_1": "https://changed.example/",
    },
    "app_sip": {
        "sip_domain": "changed.example",
        "sip_transport": "TCP",
        "login_fields": "username_password",
        "srtp": "Enabled",
        "messaging": "Enabled",
        "video": "Enabled",
        "callrecording": "Enabled",
        "registration_expires": "120",
    },
    "app_provisioning": {
        "provisioning_mode": "external",
        "provisioning_url": "https://changed.example/p",
        "auth_header": "Bearer changed",
        "provisioning_timeout": "3",
        "token_ttl_hours": "5",
    },
    "app_rotate_secret": {},
    "app_delete": {"confirm_text": "AcmeInc"},
    "app_end_rotation": {},
    "invite": {"email": "new@acme.example", "role": "owner"},
    "change_role": {"role": "viewer"},
    "remove_member": {},
    "revoke_invitation": {},
    "api_keys": {"name": "Sneaky"},
    "api_key_revoke": {},
    "app_test_bench": {"username": "1000", "password": "1234"},
    "end_user_new": {"external_id": "cust-new", "sip_username": "9000", "sip_password": "new-s3cret"},
    "end_user_edit": {"display_name": "Changed", "sip_username": "9001", "sip_password": "changed-s3cret"},
    "end_user_delete": {},
    "end_user_setup_link": {"max_uses": "2"},
    "end_user_email": {},
    "end_user_reveal": {},
    "token_revoke": {},
    "device_deactivate": {"device_id": "phone-1"},
    "bulk_import": {"file": "external_id,sip_username,sip_password\r\ncust-bulk,9100,bulk-s3cret\r\n"},
    "bulk_job_import": {},
    "bulk_job_download": {},
    "bulk_export": {"passwords": "on"},
    "bulk_codes": {"kind": "qr_zip", "format": "token", "paper": "A4", "selection": "all"},
    "bulk_email_settings": {
        "sender_name": "Changed",
        "subject": "Changed {{ name }}",
        "body": "Changed {{ link }}",
        "save": "1",
    },
}
# Views that only read, and views any signed-in person may post to (they change no tenant data).
READ_ONLY = {
    "root",
    "home",
    "app_detail",
    "audit_log",
    "audit_export",
    "team",
    "app_dashboard",
    "end_users",
    "end_user",
    "tokens",
    "devices",
    "provisioning_log",
    "bulk",
    "bulk_job",
}
NOT_TENANT_DATA = {
    "invitation",
    "invitation_open",
    "invitation_forget",
    "organization_new",
    "organization_switch",
    "favicon",
}


def portal_patterns() -> list[URLPattern]:
    return [p for p in portal_urls.urlpatterns if isinstance(p, URLPattern)]


def test_the_lists_below_cover_every_portal_url():
    assert {p.name for p in portal_patterns()} == set(POSTS) | READ_ONLY | NOT_TENANT_DATA


def tenant_state() -> dict[str, Any]:
    return {
        "apps": {a.provider_id: (audit_snapshot(a), a.signing_secrets) for a in App.objects.all()},
        "members": sorted(Membership.objects.values_list("organization", "user", "role")),
        "invitations": sorted(Invitation.objects.values_list("id", "email", "role", "accepted")),
        "keys": sorted(ApiKey.objects.values_list("id", "name", "revoked")),
        "audit": AuditEntry.objects.count(),
        "organizations": Organization.objects.count(),
        "logos": Logo.objects.count(),
        "end_users": sorted(
            EndUser.objects.values_list(
                "app", "external_id", "display_name", "sip_username", "sip_password", "provisioning_password"
            )
        ),
        "tokens": sorted(SetupToken.objects.values_list("id", "revoked", "uses")),
        "devices": sorted(Device.objects.values_list("app", "device_id", "status")),
        "log": ProvisioningLogEntry.objects.count(),
        "mails": len(mail.outbox),
        "jobs": sorted(Job.objects.values_list("id", "status")),
        "email_settings": sorted(EmailSettings.objects.values_list("app", "sender_name", "subject", "body")),
    }


@pytest.fixture
def org_objects(org: Organization, owner: User, app: App) -> dict[str, Any]:
    """One of everything a portal POST can change, in `org`."""
    app.rotate_signing_secret()  # so that "end rotation" would have something to end
    app.save()
    invitation, _ = Invitation.issue(org, "invited@acme.example", Role.ADMIN, "owner@acme.example")
    key, _ = ApiKey.issue(org, "Billing")
    user = make_end_user(app, "cust-1001", email="ann@customer.example")
    Device.objects.create(app=app, device_id="phone-1")
    dry_run = jobs.start_import(
        app,
        b"external_id,sip_username,sip_password\r\ncust-bulk,9100,bulk-s3cret\r\n",
        dry_run=True,
        actor="owner@acme.example",
    )
    return {
        "job_id": dry_run.pk,
        "provider_id": app.provider_id,
        "member_id": Membership.objects.get(user=owner).pk,
        "invitation_id": invitation.pk,
        "key_id": key.pk,
        "external_id": user.external_id,
        "token_id": issue_token(user).token.pk,
    }


def url_of(pattern: URLPattern, objects: dict[str, Any]) -> str:
    kwargs = {name: objects[name] for name in pattern.pattern.converters}
    return reverse(f"portal:{pattern.name}", kwargs=kwargs)


APP_PAGES = (
    "dashboard",
    "general",
    "branding",
    "sip",
    "provisioning",
    "provisioning/test",
    "endusers",
    "add-end-user",
    "endusers/cust-1001",
    "endusers/cust-1001/edit",
    "endusers/cust-1001/delete",
    "tokens",
    "devices",
    "log",
    "bulk",
    "bulk/import",
    "bulk/export",
    "bulk/codes",
    "bulk/email-settings",
)


ACTION_BUTTONS = (
    "Save changes",
    "Add end user",
    "Delete end user",
    "Create setup link",
    "E-mail a setup link",
    "Revoke",
    "Deactivate",
    "Run the test",
    "Rotate secret",
    "Check the file",
    "Download the CSV",
    "Start the job",
    "Preview",
    "Delete this App…",
    "Reveal the codes",
)


def actions_in(content: str) -> list[str]:
    """The action buttons on a page: form buttons, and links that lead to a confirmation."""
    return [label for label in ACTION_BUTTONS if f"{label}</button>" in content or f">{label}</a>" in content]


def test_a_viewer_can_read_every_page(viewer_client, org_objects):
    pages = [
        "/portal/",
        "/portal/audit/",
        "/portal/team/",
        "/portal/api-keys/",
        *(f"/portal/apps/AcmeInc/{page}/" for page in APP_PAGES),
    ]
    for page in pages:
        response = viewer_client.get(page)
        assert (page, response.status_code) == (page, 200)
        content = response.content.decode()
        assert "Save changes" not in content
        assert (page, actions_in(content)) == (page, [])


def test_every_new_app_page_answers_its_owner_with_the_buttons_a_viewer_does_not_get(
    owner_client, org_objects
):
    seen = set()
    for page in APP_PAGES:
        response = owner_client.get(f"/portal/apps/AcmeInc/{page}/")
        assert (page, response.status_code) == (page, 200)
        seen |= set(actions_in(response.content.decode()))
    assert seen == set(ACTION_BUTTONS)


def test_a_viewer_post_to_any_portal_form_is_refused_and_changes_nothing(viewer_client, org_objects):
    before = tenant_state()
    for pattern in portal_patterns():
        if pattern.name not in POSTS:
            continue
        data = dict(POSTS[pattern.name])
        if pattern.name == "app_branding":
            data["logo_file"] = SimpleUploadedFile("logo.png", PNG, "image/png")
        if pattern.name == "bulk_import":
            data["file"] = SimpleUploadedFile("users.csv", data["file"].encode(), "text/csv")
        response = viewer_client.post(url_of(pattern, org_objects), data)
        assert (pattern.name, response.status_code) == (pattern.name, 403)
    assert tenant_state() == before


def test_every_portal_form_refuses_a_post_without_its_csrf_token(owner, org_objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    before = tenant_state()
    for pattern in portal_patterns():
        if pattern.name not in POSTS:
            continue
        response = client.post(url_of(pattern, org_objects), POSTS[pattern.name])
        assert (pattern.name, response.status_code) == (pattern.name, 403)
    assert tenant_state() == before


def test_an_admin_may_not_manage_the_team(admin_client, org_objects):
    before = tenant_state()
    for name in ("invite", "change_role", "remove_member", "revoke_invitation"):
        pattern = next(p for p in portal_patterns() if p.name == name)
        response = admin_client.post(url_of(pattern, org_objects), POSTS[name])
        assert (name, response.status_code) == (name, 403)
        assert "Only an owner of this organization can manage its team." in response.content.decode()
    assert tenant_state() == before


@pytest.fixture
def rival_objects(other_org: Organization, rival_app: App) -> dict[str, Any]:
    rival_owner = member(other_org, "owner@rival.example", Role.OWNER)
    invitation, _ = Invitation.issue(other_org, "x@rival.example", Role.ADMIN, "owner@rival.example")
    key, _ = ApiKey.issue(other_org, "Rival key")
    rival_app.rotate_signing_secret()
    rival_app.save()
    user = make_end_user(rival_app, "rival-user", email="user@rival.example")
    Device.objects.create(app=rival_app, device_id="rival-phone")
    dry_run = jobs.start_import(
        rival_app,
        b"external_id,sip_username,sip_password\r\nrival-bulk,9100,rival-s3cret\r\n",
        dry_run=True,
        actor="owner@rival.example",
    )
    return {
        "job_id": dry_run.pk,
        "provider_id": rival_app.provider_id,
        "member_id": Membership.objects.get(user=rival_owner).pk,
        "invitation_id": invitation.pk,
        "key_id": key.pk,
        "external_id": user.external_id,
        "token_id": issue_token(user).token.pk,
    }


def test_another_organizations_objects_are_404_on_every_page_and_form(owner_client, app, rival_objects):
    before = tenant_state()
    with_ids = [p for p in portal_patterns() if p.pattern.converters and p.name != "invitation"]
    assert {p.name for p in with_ids} == {
        "app_detail",
        "app_general",
        "app_branding",
        "app_sip",
        "app_provisioning",
        "app_rotate_secret",
        "app_end_rotation",
        "app_delete",
        "change_role",
        "remove_member",
        "revoke_invitation",
        "api_key_revoke",
        "app_dashboard",
        "app_test_bench",
        "end_users",
        "end_user_new",
        "end_user",
        "end_user_edit",
        "end_user_delete",
        "end_user_reveal",
        "end_user_setup_link",
        "end_user_email",
        "tokens",
        "token_revoke",
        "devices",
        "device_deactivate",
        "provisioning_log",
        "bulk",
        "bulk_import",
        "bulk_export",
        "bulk_codes",
        "bulk_email_settings",
        "bulk_job",
        "bulk_job_import",
        "bulk_job_download",
    }
    for pattern in with_ids:
        url = url_of(pattern, rival_objects)
        for method in ("get", "post"):
            data = (
                {"device_id": "rival-phone"}
                if pattern.name == "device_deactivate"
                else POSTS.get(pattern.name, {})
            )
            response = getattr(owner_client, method)(url, data)
            if response.status_code == 405 and (method == "get" or pattern.name in READ_ONLY):
                continue  # a POST-only (or GET-only) view: the other method must be the 404
            assert (url, method, response.status_code) == (url, method, 404)
            assert "RivalCo" not in response.content.decode()
    assert tenant_state() == before


def test_another_organizations_end_user_token_or_device_is_404_under_ones_own_app(
    owner_client, org_objects, rival_objects
):
    before = tenant_state()
    own_app = "/portal/apps/AcmeInc"
    for url in (
        f"{own_app}/endusers/rival-user/",
        f"{own_app}/endusers/rival-user/edit/",
        f"{own_app}/endusers/rival-user/delete/",
    ):
        assert (url, owner_client.get(url).status_code) == (url, 404)
    for url, data in (
        (f"{own_app}/endusers/rival-user/edit/", POSTS["end_user_edit"]),
        (f"{own_app}/endusers/rival-user/delete/", {}),
        (f"{own_app}/endusers/rival-user/setup-link/", {"max_uses": "1"}),
        (f"{own_app}/endusers/rival-user/email/", {}),
        (f"{own_app}/endusers/rival-user/reveal/", {}),
        (f"{own_app}/tokens/{rival_objects['token_id']}/revoke/", {}),
        (f"{own_app}/devices/deactivate/", {"device_id": "rival-phone"}),
    ):
        response = owner_client.post(url, data)
        assert (url, response.status_code) == (url, 404)
        assert "rival" not in response.content.decode().lower()
    assert tenant_state() == before


def test_a_provider_id_in_another_case_is_still_another_tenants(owner_client, app, rival_objects):
    assert owner_client.get("/portal/apps/rivalco/general/").status_code == 404


def test_a_member_of_two_organizations_switches_between_them(owner, owner_client, app, other_org, rival_app):
    Membership.objects.create(organization=other_org, user=owner, role=Role.VIEWER)
    assert [a.provider_id for a in owner_client.get("/portal/").context["apps"]] == ["AcmeInc"]
    response = owner_client.post("/portal/organizations/switch/", {"organization": other_org.pk})
    assert response["Location"] == "/portal/"
    assert [a.provider_id for a in owner_client.get("/portal/").context["apps"]] == ["RivalCo"]
    # A viewer there: the same user may read but not change.
    assert owner_client.post("/portal/apps/RivalCo/general/", {"name": "x"}).status_code == 403


def test_switching_to_an_organization_one_is_not_a_member_of_is_404(owner_client, other_org):
    assert (
        owner_client.post("/portal/organizations/switch/", {"organization": other_org.pk}).status_code == 404
    )
    assert owner_client.post("/portal/organizations/switch/", {"organization": "x"}).status_code == 404


def test_someone_without_an_organization_is_asked_to_create_one(db):
    client = client_for(make_user("lonely@acme.example"))
    assert client.get("/portal/")["Location"] == "/portal/organizations/new/"
    response = client.post("/portal/organizations/new/", {"name": "Lonely Ltd"})
    assert response["Location"] == "/portal/apps/new/"
    organization = Organization.objects.get()
    assert (organization.name, organization.slug) == ("Lonely Ltd", "lonely-ltd")
    assert Membership.objects.get().role == Role.OWNER


def test_opening_an_app_of_ones_other_organization_switches_to_it(
    owner, owner_client, app, other_org, rival_app
):
    Membership.objects.create(organization=other_org, user=owner, role=Role.VIEWER)
    owner_client.post("/portal/organizations/switch/", {"organization": other_org.pk})
    response = owner_client.get("/portal/apps/AcmeInc/general/")
    assert (response.status_code, response.context["app"]) == (200, app)
    assert [str(m) for m in response.context["messages"]] == [
        "Switched to Acme Telecom, the organization of this App."
    ]
    assert [a.provider_id for a in owner_client.get("/portal/").context["apps"]] == ["AcmeInc"]


def test_after_the_switch_the_role_there_applies(owner, owner_client, app, other_org, rival_app):
    Membership.objects.create(organization=other_org, user=owner, role=Role.VIEWER)
    response = owner_client.get("/portal/apps/RivalCo/general/")
    assert response.context["form"].fields["name"].disabled is True
    assert owner_client.post("/portal/apps/RivalCo/general/", {"name": "x"}).status_code == 403


def test_a_post_to_an_app_of_ones_other_organization_does_not_switch(
    owner, owner_client, app, other_org, rival_app
):
    Membership.objects.create(organization=other_org, user=owner, role=Role.OWNER)
    assert owner_client.post("/portal/apps/RivalCo/general/", {"name": "x"}).status_code == 404
    assert [a.provider_id for a in owner_client.get("/portal/").context["apps"]] == ["AcmeInc"]
    rival_app.refresh_from_db()
    assert rival_app.name == "Rival Telecom"


def editable_fields_of_post_forms(content: str) -> list[str]:
    """Fields a person could type into, in forms that would change something (method=post)."""
    from html.parser import HTMLParser

    class Fields(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.in_post_form = False
            self.found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "form":
                self.in_post_form = (values.get("method") or "").lower() == "post"
            elif tag in ("input", "select", "textarea") and self.in_post_form:
                if values.get("type") not in ("hidden", "submit") and "disabled" not in values:
                    self.found.append(values.get("name") or tag)

        def handle_endtag(self, tag: str) -> None:
            if tag == "form":
                self.in_post_form = False

    parser = Fields()
    parser.feed(content)
    return parser.found


def test_a_viewer_sees_every_app_page_read_only(viewer_client, org_objects):
    for page in APP_PAGES:
        content = viewer_client.get(f"/portal/apps/AcmeInc/{page}/").content.decode()
        assert (page, editable_fields_of_post_forms(content)) == (page, [])


def test_an_editor_gets_the_same_pages_editable(owner_client, org_objects):
    editable = {
        page
        for page in APP_PAGES
        if editable_fields_of_post_forms(owner_client.get(f"/portal/apps/AcmeInc/{page}/").content.decode())
    }
    assert editable == {
        "general",
        "branding",
        "sip",
        "provisioning",
        "provisioning/test",
        "add-end-user",
        "endusers/cust-1001",
        "endusers/cust-1001/edit",
        "bulk/import",
        "bulk/export",
        "bulk/codes",
        "bulk/email-settings",
    }
