"""Whatever a provider types is shown as text on every page, never run as markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User

from sessioncloud.accounts.models import ApiKey, Invitation, Organization, Role, record_audit
from sessioncloud.providers.models import App
from tests.portal.conftest import member

pytestmark = pytest.mark.django_db

PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
APP_TEXT_FIELDS = (
    "name",
    "ios_bundle_id",
    "android_package",
    "contact_email",
    "help_menu_title",
    "username_placeholder",
    "password_placeholder",
    "sip_domain",
    "sip_proxy",
    "voicemail_number",
    "provisioning_url",
)
PAGES = (
    "/portal/",
    "/portal/apps/AcmeInc/general/",
    "/portal/apps/AcmeInc/branding/",
    "/portal/apps/AcmeInc/sip/",
    "/portal/apps/AcmeInc/provisioning/",
    "/portal/team/",
    "/portal/api-keys/",
    "/portal/audit/",
    "/portal/apps/new/",
    "/portal/organizations/new/",
    "/accounts/email/",
    "/accounts/password/change/",
    "/accounts/2fa/",
)


@pytest.fixture
def hostile_everything(org: Organization, owner: User, app: App) -> None:
    # Stored behind the validators' back, as if an old row or an operator had put it there.
    App.objects.filter(pk=app.pk).update(
        **{field: PAYLOAD for field in APP_TEXT_FIELDS},
        help_links=[{"title": PAYLOAD, "url": "https://acme.example/" + PAYLOAD}],
        theme_color='"><svg>',  # the column holds 7 characters
    )
    Organization.objects.filter(pk=org.pk).update(name=PAYLOAD)
    hostile = member(org, "hostile@acme.example", Role.VIEWER)
    User.objects.filter(pk=hostile.pk).update(email=PAYLOAD)
    Invitation.issue(org, PAYLOAD, Role.ADMIN, PAYLOAD)
    ApiKey.issue(org, PAYLOAD)
    app.refresh_from_db()
    record_audit(org, PAYLOAD, "app.general", app, {"name": "Acme"}, {"name": PAYLOAD})


def test_a_script_stored_in_every_text_field_appears_escaped_on_every_page(owner_client, hostile_everything):
    for page in PAGES:
        response = owner_client.get(page)
        content = response.content.decode()
        assert (page, response.status_code) == (page, 200)
        assert PAYLOAD not in content, page
        assert ESCAPED in content, page  # the organization name is on every page


def test_the_app_pages_show_each_hostile_field_escaped(owner_client, hostile_everything):
    content = "".join(
        owner_client.get(f"/portal/apps/AcmeInc/{page}/").content.decode()
        for page in ("general", "branding", "sip", "provisioning")
    )
    # Each field, in an input's value or as text: as many escaped copies as fields at least.
    assert content.count(ESCAPED) >= len(APP_TEXT_FIELDS) + 1


def test_a_hostile_theme_colour_never_reaches_a_style_attribute(owner_client, hostile_everything):
    home = owner_client.get("/portal/").content.decode()
    assert '"><svg>' not in home
    assert 'style="--theme: #0A7CFF"' in home
    branding = owner_client.get("/portal/apps/AcmeInc/branding/").content.decode()
    assert 'style="--theme: #0A7CFF"' in branding


def test_the_preview_script_never_parses_typed_text_as_html():
    script = (Path(__file__).parents[2] / "sessioncloud/portal/static/portal/branding.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "outerHTML" not in script
    assert script.count("textContent") >= 4


@pytest.fixture
def hostile_end_user_data(app: App) -> None:
    """An end user, token, redemption, device and log rows whose every text field holds a script."""
    from sessioncloud.providers.models import Device, EndUser, ProvisioningLogEntry
    from sessioncloud.providers.tokens import claim, issue_token
    from tests.factories import make_end_user

    user = make_end_user(app, "hostile", provisioning_username="p", provisioning_password="x")
    EndUser.objects.filter(pk=user.pk).update(
        display_name=PAYLOAD,
        email=PAYLOAD,
        sip_username=PAYLOAD,
        subdomain=PAYLOAD,
        auth_username=PAYLOAD,
        provisioning_username=PAYLOAD,
    )
    issued = issue_token(user, created_by=PAYLOAD, max_uses=2)
    claim(issued.plain, PAYLOAD, "203.0.113.9", PAYLOAD)
    Device.objects.create(
        app=app,
        device_id=PAYLOAD,
        username=PAYLOAD,
        end_user=user,
        platform=PAYLOAD[:20],
        app_version=PAYLOAD,
        last_result=PAYLOAD,
    )
    ProvisioningLogEntry.objects.create(
        app=app,
        flow="provision",
        outcome="failed",
        username=PAYLOAD,
        device_id=PAYLOAD,
        error_code=PAYLOAD,
        detail=PAYLOAD,
    )


END_USER_PAGES = (
    "/portal/apps/AcmeInc/dashboard/",
    "/portal/apps/AcmeInc/endusers/",
    "/portal/apps/AcmeInc/endusers/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/portal/apps/AcmeInc/endusers/hostile/",
    "/portal/apps/AcmeInc/endusers/hostile/edit/",
    "/portal/apps/AcmeInc/endusers/hostile/delete/",
    "/portal/apps/AcmeInc/tokens/",
    "/portal/apps/AcmeInc/devices/",
    "/portal/apps/AcmeInc/log/",
    "/portal/apps/AcmeInc/log/?username=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
)


@pytest.mark.parametrize("page", END_USER_PAGES)
def test_a_script_stored_in_end_user_token_device_and_log_fields_appears_escaped(
    owner_client, hostile_end_user_data, page
):
    response = owner_client.get(page)
    content = response.content.decode()
    assert response.status_code == 200
    assert PAYLOAD not in content
    assert content.count(ESCAPED) >= 1


def test_each_hostile_end_user_field_is_shown_escaped_on_the_users_pages(owner_client, hostile_end_user_data):
    detail = owner_client.get("/portal/apps/AcmeInc/endusers/hostile/").content.decode()
    # display name (title, heading, facts), e-mail, SIP username, subdomain, auth username,
    # provisioning username
    assert detail.count(ESCAPED) >= 7
    edit = owner_client.get("/portal/apps/AcmeInc/endusers/hostile/edit/").content.decode()
    assert edit.count(f'value="{ESCAPED}"') == 6
    devices = owner_client.get("/portal/apps/AcmeInc/devices/").content.decode()
    assert "deactivate/?device_id=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in devices
    confirm = owner_client.get(
        "/portal/apps/AcmeInc/devices/deactivate/", {"device_id": PAYLOAD}
    ).content.decode()
    assert f'<input type="hidden" name="device_id" value="{ESCAPED}">' in confirm
    assert PAYLOAD not in confirm


def test_the_copy_script_never_parses_text_as_html():
    script = (Path(__file__).parents[2] / "sessioncloud/portal/static/portal/copy.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "outerHTML" not in script
    assert "source.textContent" in script
