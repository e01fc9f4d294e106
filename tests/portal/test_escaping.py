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
    "name", "ios_bundle_id", "android_package", "contact_email", "help_menu_title",
    "username_placeholder", "password_placeholder", "sip_domain", "sip_proxy", "voicemail_number",
    "provisioning_url",
)
PAGES = (
    "/portal/", "/portal/apps/AcmeInc/general/", "/portal/apps/AcmeInc/branding/",
    "/portal/apps/AcmeInc/sip/", "/portal/apps/AcmeInc/provisioning/", "/portal/team/",
    "/portal/api-keys/", "/portal/audit/", "/portal/apps/new/", "/portal/organizations/new/",
    "/accounts/email/", "/accounts/password/change/", "/accounts/2fa/",
)


@pytest.fixture
def hostile_everything(org, owner, app):  # type: ignore[no-untyped-def]
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
