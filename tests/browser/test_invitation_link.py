"""The invitation link carries its code after "#": a browser opens it with or without scripts."""

from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.accounts.models import Invitation, Organization, Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def code(db: Any) -> str:
    organization = Organization.objects.create(slug="acme", name="Acme Telecom")
    return Invitation.issue(organization, "bob@acme.example", Role.VIEWER, "owner@acme.example")[1]


def test_the_link_opens_the_invitation_and_leaves_no_code_in_the_address(browser, live_server, code):
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/portal/invitations/open/#{code}")
    page.wait_for_url(f"{live_server.url}/portal/invitations/#join")
    assert page.inner_text("h1") == "Join Acme Telecom"
    assert [url for url in requested if code in url] == []
    assert code not in page.evaluate("window.location.href")
    context.close()


def test_without_scripts_the_code_from_the_mail_is_typed_in(browser, live_server, code):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/portal/invitations/open/#{code}")
    assert page.inner_text("h1") == "Open your invitation"
    page.fill("#id_token", code)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert (page.url, page.inner_text("h1")) == (
        f"{live_server.url}/portal/invitations/#join",
        "Join Acme Telecom",
    )
    context.close()
