"""The end-user setup page: what to install, the code, and a token it never uses up."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sessioncloud.codes.qr import render_svg
from sessioncloud.providers.setup import LINPHONE_STORES
from sessioncloud.providers.tokens import issue_token, revoke
from tests.factories import make_end_user

pytestmark = pytest.mark.django_db


def page(token: str):
    return Client().get(f"/setup/{token}")


def qr_svg(response) -> bytes:
    """The page's QR code image (an SVG data: URI)."""
    found = re.search(r'id="setup-qr" src="data:image/svg\+xml;base64,([^"]+)"', response.content.decode())
    return base64.b64decode(found.group(1))


def test_it_names_linphone_and_its_stores_by_default(app):
    response = page(issue_token(make_end_user(app, "alice")).plain)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Install Linphone" in text
    for link in LINPHONE_STORES.values():
        assert f'href="{link}"' in text


def test_it_opens_linphone_with_the_tokens_linphone_address(app, settings):
    settings.PUBLIC_URL = "https://sc.example"
    issued = issue_token(make_end_user(app, "alice"))
    text = page(issued.plain).content.decode()
    assert f'href="linphone-config:https://sc.example/api/v1/linphone/{issued.plain}"' in text


def test_its_qr_code_carries_the_linphone_address(app, settings):
    settings.PUBLIC_URL = "https://sc.example"
    issued = issue_token(make_end_user(app, "alice"))
    assert qr_svg(page(issued.plain)) == render_svg(f"https://sc.example/api/v1/linphone/{issued.plain}")


def test_it_uses_the_apps_own_store_links_and_app(app):
    app.phone_app, app.phone_app_name = "sessiontalk", "Acme Phone"
    app.ios_store_url = "https://apps.apple.com/app/acme/id1"
    app.save()
    issued = issue_token(make_end_user(app, "alice"))
    text = page(issued.plain).content.decode()
    assert "Install Acme Phone" in text
    assert 'href="https://apps.apple.com/app/acme/id1"' in text
    assert "play.google.com" not in text
    assert f'href="scloc:?v=2&amp;token={issued.plain}"' in text


def test_opening_the_page_uses_nothing_up(app):
    issued = issue_token(make_end_user(app, "alice"))
    page(issued.plain)
    page(issued.plain)
    issued.token.refresh_from_db()
    assert issued.token.uses == 0


def test_it_keeps_the_token_out_of_referrers_and_caches(app):
    response = page(issue_token(make_end_user(app, "alice")).plain)
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_a_used_expired_or_revoked_token_shows_the_same_invalid_page(app):
    user = make_end_user(app, "alice")
    used, expired, revoked = issue_token(user), issue_token(user), issue_token(user)
    used.token.uses = 1
    used.token.save()
    expired.token.expires = timezone.now() - timedelta(seconds=1)
    expired.token.save()
    revoke(revoked.token)
    answers = {
        page(token).content
        for token in (used.plain, expired.plain, revoked.plain, "unknown-token-0123456789")
    }
    assert len(answers) == 1
    assert page(used.plain).status_code == 404
    assert b"This setup link is not valid" in answers.pop()


def test_it_escapes_the_apps_and_users_names(app):
    app.name = '<script>alert("app")</script>'
    app.save()
    user = make_end_user(app, "alice", display_name="<img src=x onerror=alert(1)>")
    text = page(issue_token(user).plain).content.decode()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "Set up &lt;script&gt;alert(&quot;app&quot;)&lt;/script&gt; on your phone" in text
