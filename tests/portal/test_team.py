from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from sessioncloud.accounts.models import AuditEntry, Invitation, Membership, Organization, Role
from tests.portal.conftest import PASSWORD, client_for, make_user

pytestmark = pytest.mark.django_db


INVITATION = "/portal/invitations/"
OPEN = "/portal/invitations/open/"


def invite(client: Client, email: str = "bob@acme.example", role: str = Role.VIEWER) -> str:
    """Invite someone; the code of the e-mailed link."""
    response = client.post("/portal/team/invite/", {"email": email, "role": role})
    assert response["Location"] == "/portal/team/"
    return re.search(
        rf"{re.escape(settings.PUBLIC_URL)}{OPEN}#([A-Za-z0-9_-]+)\n", mail.outbox[-1].body
    ).group(1)


def opened(code: str, client: Client | None = None) -> Client:
    """What the invitation page's script does with the link's code: post it."""
    client = client or Client()
    response = client.post(OPEN, {"token": code})
    assert (response.status_code, response["Location"]) == (302, INVITATION + "#join")
    return client


def roles(org: Organization) -> list[tuple[str, str]]:
    return sorted(Membership.objects.filter(organization=org).values_list("user__email", "role"))


def test_an_invitation_is_emailed_with_a_link(owner_client, org):
    invite(owner_client)
    message = mail.outbox[0]
    assert (message.subject, message.to) == ("[SessionCloud] Join Acme Telecom", ["bob@acme.example"])
    assert "owner@acme.example invited you to join Acme Telecom on SessionCloud as viewer." in message.body
    invitation = Invitation.objects.get()
    assert (invitation.organization, invitation.email, invitation.role, invitation.accepted) == (
        org,
        "bob@acme.example",
        Role.VIEWER,
        None,
    )
    assert invitation.token_hash not in message.body


def test_the_code_travels_in_the_links_fragment_and_in_no_path_or_query(owner_client, org):
    code = invite(owner_client)
    urls = re.findall(r"https?://\S+", mail.outbox[0].body)
    assert urls == [f"{settings.PUBLIC_URL}{OPEN}#{code}"]
    assert [url for url in urls if code in url.split("#", 1)[0]] == []
    assert f"copy this one into it:\n\n{code}\n" in mail.outbox[0].body


def test_the_link_opens_a_form_that_takes_the_code_by_post(db):
    content = Client().get(OPEN).content.decode()
    assert '<form method="post" id="invitation-open"' in content
    assert '<input type="text" name="token" id="id_token"' in content
    assert '<script src="/static/portal/invitation.js" defer></script>' in content


def test_a_code_that_is_not_pending_is_not_valid_and_logged(db, caplog):
    response = Client().post(OPEN, {"token": "no-such-code"})
    assert response.status_code == 404
    assert "This invitation is not valid" in response.content.decode()
    assert [r.getMessage() for r in caplog.records if r.name == "sessioncloud.security"] == [
        "invitation token refused"
    ]


def test_the_invitation_page_without_an_opened_invitation_is_not_valid(db):
    assert Client().get(INVITATION).status_code == 404


def test_a_new_user_accepts_by_signing_up_and_becomes_a_member_with_the_role(owner_client, org):
    bob = opened(invite(owner_client))
    page = bob.get(INVITATION)
    assert "owner@acme.example invited bob@acme.example to join" in page.content.decode()
    signup = bob.get("/accounts/signup/")
    assert "organization" not in signup.context["form"].fields
    response = bob.post(
        "/accounts/signup/", {"email": "bob@acme.example", "password1": PASSWORD, "password2": PASSWORD}
    )
    # The invitation reached this address, so no verification e-mail is needed.
    assert response["Location"] == "/portal/"
    assert roles(org) == [("bob@acme.example", "viewer"), ("owner@acme.example", "owner")]
    assert Invitation.objects.get().accepted is not None
    assert [a.provider_id for a in bob.get("/portal/").context["apps"]] == []
    entry = AuditEntry.objects.get(action="member.join")
    assert (entry.actor, entry.after) == ("bob@acme.example", {"email": "bob@acme.example", "role": "viewer"})


def test_signing_up_by_invitation_needs_the_invited_address(owner_client, org):
    bob = opened(invite(owner_client))
    response = bob.post(
        "/accounts/signup/",
        {"email": "someone-else@acme.example", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.context["form"].errors == {
        "email": ["Use the address the invitation was sent to: bob@acme.example."]
    }
    assert not User.objects.filter(email="someone-else@acme.example").exists()


def test_an_existing_user_logs_in_and_accepts(owner_client, org):
    make_user("bob@acme.example")
    bob = opened(invite(owner_client, role=Role.ADMIN))
    login = bob.post(
        f"/accounts/login/?next={INVITATION}", {"login": "bob@acme.example", "password": PASSWORD}
    )
    assert login["Location"] == INVITATION
    response = bob.post(INVITATION)
    assert response["Location"] == "/portal/"
    assert roles(org) == [("bob@acme.example", "admin"), ("owner@acme.example", "owner")]


def test_only_the_invited_address_may_accept(owner_client, org):
    mallory = opened(invite(owner_client), client_for(make_user("mallory@acme.example")))
    response = mallory.post(INVITATION)
    assert response.status_code == 200
    assert "this invitation was sent to bob@acme.example" in response.content.decode()
    assert roles(org) == [("owner@acme.example", "owner")]


def test_an_accepted_revoked_or_expired_invitation_is_not_valid(owner_client, org):
    code = invite(owner_client)
    Invitation.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert Client().post(OPEN, {"token": code}).status_code == 404
    code = invite(owner_client, email="carol@acme.example")
    carol = opened(code)
    owner_client.post(
        f"/portal/team/invitations/{Invitation.objects.get(email='carol@acme.example').pk}/revoke/"
    )
    assert Client().post(OPEN, {"token": code}).status_code == 404
    assert carol.get(INVITATION).status_code == 404  # revoked after it was opened


def test_inviting_a_member_again_is_refused(owner_client, admin_user):
    response = owner_client.post("/portal/team/invite/", {"email": "ADMIN@acme.example", "role": "viewer"})
    assert response.context["invite_form"].errors == {"email": ["admin@acme.example is already a member."]}
    assert not mail.outbox


def test_the_owner_changes_a_role_and_removes_a_member(owner_client, org, admin_user):
    owner_client.post(
        f"/portal/team/members/{Membership.objects.get(user=admin_user).pk}/role/", {"role": "viewer"}
    )
    assert roles(org) == [("admin@acme.example", "viewer"), ("owner@acme.example", "owner")]
    owner_client.post(f"/portal/team/members/{Membership.objects.get(user=admin_user).pk}/remove/")
    assert roles(org) == [("owner@acme.example", "owner")]
    assert [(e.action, e.object_type, e.object_repr) for e in AuditEntry.objects.order_by("id")] == [
        ("member.role", "Member", "admin@acme.example"),
        ("member.remove", "Member", "admin@acme.example"),
    ]


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner_client, org, owner):
    membership = Membership.objects.get(user=owner)
    response = owner_client.post(
        f"/portal/team/members/{membership.pk}/role/", {"role": "admin"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "An organization needs at least one owner: make someone else an owner first."
    ]
    owner_client.post(f"/portal/team/members/{membership.pk}/remove/")
    assert roles(org) == [("owner@acme.example", "owner")]


def test_a_removed_member_loses_access(owner_client, org, admin_client, admin_user, app):
    owner_client.post(f"/portal/team/members/{Membership.objects.get(user=admin_user).pk}/remove/")
    assert admin_client.get("/portal/apps/AcmeInc/general/")["Location"] == "/portal/organizations/new/"
