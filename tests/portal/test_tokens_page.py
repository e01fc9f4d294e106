"""The setup tokens page: each token's status and redemptions; revoking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.accounts.tenancy import tokens_with_status
from sessioncloud.providers.models import App, SetupToken
from sessioncloud.providers.tokens import claim, issue_token, revoke, token_status
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db

PAGE = "/portal/apps/AcmeInc/tokens/"


@pytest.fixture
def four_tokens(app: App) -> dict[str, SetupToken]:
    """One token in each status, created in this order: pending, used, expired, revoked."""
    user = make_end_user(app, "cust-1001")
    pending = issue_token(user).token
    used = issue_token(user)
    claim(used.plain, "phone-<b>1</b>", "203.0.113.9", "SessionTalk/6.1 <script>")
    expired = issue_token(user).token
    SetupToken.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(minutes=1))
    revoked = issue_token(user).token
    revoke(revoked)
    return {"pending": pending, "used": used.token, "expired": expired, "revoked": revoked}


def test_the_page_shows_each_tokens_status_newest_first(owner_client, four_tokens):
    response = owner_client.get(PAGE)
    assert [(item["token"].pk, item["status"]) for item in response.context["items"]] == [
        (four_tokens[status].pk, status) for status in ("revoked", "expired", "used", "pending")
    ]


def test_a_redemption_shows_when_which_device_from_where_and_with_what(owner_client, four_tokens):
    content = owner_client.get(PAGE).content.decode()
    assert "device <code>phone-&lt;b&gt;1&lt;/b&gt;</code> · 203.0.113.9" in content
    assert '<div class="muted ua">SessionTalk/6.1 &lt;script&gt;</div>' in content
    assert "<script>" not in content


@pytest.mark.parametrize("status", ["pending", "used", "expired", "revoked"])
def test_the_status_filter_agrees_with_token_status(owner_client, app, four_tokens, status):
    response = owner_client.get(PAGE, {"status": status})
    assert [item["token"].pk for item in response.context["items"]] == [four_tokens[status].pk]
    assert [token_status(t) for t in tokens_with_status(app, status)] == [status]


def test_revoking_a_pending_token_audits_it(owner_client, four_tokens):
    token = four_tokens["pending"]
    response = owner_client.post(f"{PAGE}{token.pk}/revoke/")
    assert response["Location"] == PAGE
    token.refresh_from_db()
    assert token_status(token) == "revoked"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.before, entry.after) == (
        "owner@acme.example",
        "token.revoke",
        {"id": token.pk, "revoked": False},
        {"id": token.pk, "revoked": True},
    )


def test_revoking_twice_changes_nothing_the_second_time(owner_client, four_tokens):
    token = four_tokens["revoked"]
    first_revoked = token.revoked
    owner_client.post(f"{PAGE}{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked == first_revoked
    assert not AuditEntry.objects.exists()


def test_a_token_of_another_app_of_the_same_organization_is_not_found_here(owner_client, org, four_tokens):
    other = make_app(org, "AcmeTwo")
    token = issue_token(make_end_user(other, "cust-9")).token
    assert owner_client.post(f"{PAGE}{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked is None
    assert owner_client.post(f"/portal/apps/AcmeTwo/tokens/{token.pk}/revoke/").status_code == 302


def test_a_viewer_sees_the_tokens_but_no_revoke_button(viewer_client, four_tokens):
    content = viewer_client.get(PAGE).content.decode()
    assert f"#{four_tokens['pending'].pk}" in content
    assert "/revoke/" not in content and ">Revoke</button>" not in content
