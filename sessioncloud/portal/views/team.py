"""The team: members and their roles, invitations by e-mail. Only owners change it."""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib import messages
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from sessioncloud.accounts.adapters import (
    accept_invitation,
    forget_invitation,
    security_log,
    stash_invitation,
    stashed_invitation,
)
from sessioncloud.accounts.models import Invitation, Membership, Role
from sessioncloud.portal import auditlog
from sessioncloud.portal.access import (
    PortalRequest,
    invitation_for_user,
    invitations_for_user,
    member_for_user,
    members_for_user,
    org_required,
    select_organization,
)
from sessioncloud.portal.confirm import ONLY_OWNERS, Confirmation, confirmation_page
from sessioncloud.portal.forms import InvitationForm, RoleForm

LAST_OWNER = "An organization needs at least one owner: make someone else an owner first."


@dataclass(frozen=True)
class Member:
    """How a membership appears in the audit log: by the member's e-mail."""

    email: str

    def __str__(self) -> str:
        return self.email


@org_required
def team(request: PortalRequest) -> HttpResponse:
    return _team_page(request, InvitationForm())


def _team_page(request: PortalRequest, invite_form: InvitationForm) -> HttpResponse:
    return render(
        request,
        "portal/team.html",
        {
            "members": members_for_user(request),
            "invitations": invitations_for_user(request),
            "invite_form": invite_form,
            "roles": Role.choices,
            "is_owner": request.membership.role == Role.OWNER,
        },
    )


@require_POST
@org_required(post="owner")
def invite(request: PortalRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        email, role = form.cleaned_data["email"].lower(), form.cleaned_data["role"]
        if members_for_user(request).filter(user__email__iexact=email).exists():
            form.add_error("email", f"{email} is already a member.")
        else:
            # A new invitation replaces an older one to the same address.
            invitations_for_user(request).filter(email__iexact=email).delete()
            invitation, token = Invitation.issue(request.org, email, role, request.user.email)
            _send_invitation(request, invitation, token)
            auditlog.record(request, "invitation.create", invitation, None, {"email": email, "role": role})
            messages.success(request, f"Invitation sent to {email}.")
            return redirect("portal:team")
    return _team_page(request, form)


def _send_invitation(request: PortalRequest, invitation: Invitation, token: str) -> None:
    # The token rides in the fragment (after #), which browsers never send: no access log, proxy
    # or Referer sees it. The page posts it (a small script, or the invitee pastes the code).
    context = {
        "invitation": invitation,
        "link": f"{settings.PUBLIC_URL}{reverse('portal:invitation_open')}#{token}",
        "code": token,
    }
    subject = render_to_string("portal/email/invitation_subject.txt", context).strip()
    body = render_to_string("portal/email/invitation_message.txt", context)
    send_mail(" ".join(subject.split()), body, None, [invitation.email])


@require_POST
@org_required(post="owner")
def change_role(request: PortalRequest, member_id: int) -> HttpResponse:
    member = member_for_user(request, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or viewer.")
    elif (
        member.role == Role.OWNER
        and form.cleaned_data["role"] != Role.OWNER
        and _is_last_owner(request, member)
    ):
        messages.error(request, LAST_OWNER)
    elif form.cleaned_data["role"] != member.role:
        before = _member_snapshot(member)
        member.role = form.cleaned_data["role"]
        member.save(update_fields=["role"])
        auditlog.record(request, "member.role", Member(member.user.email), before, _member_snapshot(member))
        messages.success(request, f"{member.user.email} is now {member.get_role_display().lower()}.")
    return redirect("portal:team")


@require_http_methods(["GET", "POST"])
@org_required(post="owner")
def remove_member(request: PortalRequest, member_id: int) -> HttpResponse:
    """GET asks first, saying what removing does; POST removes."""
    member = member_for_user(request, member_id)
    if request.method == "GET":
        return _confirm_removal(request, member)
    if member.role == Role.OWNER and _is_last_owner(request, member):
        messages.error(request, LAST_OWNER)
        return redirect("portal:team")
    before = _member_snapshot(member)
    member.delete()
    auditlog.record(request, "member.remove", Member(member.user.email), before, None)
    messages.success(request, f"{member.user.email} is no longer a member.")
    return redirect("portal:home" if member.user_id == request.user.pk else "portal:team")


def _confirm_removal(request: PortalRequest, member: Membership) -> HttpResponse:
    organization, email = request.org.name, member.user.email
    yourself = member.user_id == request.user.pk
    return confirmation_page(
        request,
        Confirmation(
            title=f"Remove yourself from {organization}?"
            if yourself
            else f"Remove {email} from {organization}?",
            consequences=[
                f"{'You lose' if yourself else f'{email} loses'} access to {organization} at once: its Apps, "
                "end users, API keys and audit log.",
                "The portal account itself stays, with its other organizations. An owner can invite "
                f"{'you' if yourself else 'them'} again.",
                "What they set up (Apps, end users, API keys) stays; the audit log records the removal.",
            ],
            button="Remove myself" if yourself else "Remove member",
            cancel_url=reverse("portal:team"),
            refusal=_removal_refusal(request, member),
        ),
    )


def _removal_refusal(request: PortalRequest, member: Membership) -> str:
    if request.membership.role != Role.OWNER:
        return ONLY_OWNERS
    return LAST_OWNER if member.role == Role.OWNER and _is_last_owner(request, member) else ""


@require_POST
@org_required(post="owner")
def revoke_invitation(request: PortalRequest, invitation_id: int) -> HttpResponse:
    invitation = invitation_for_user(request, invitation_id)
    invitation.delete()
    auditlog.record(
        request, "invitation.revoke", invitation, {"email": invitation.email, "role": invitation.role}, None
    )
    messages.success(request, f"The invitation to {invitation.email} is revoked.")
    return redirect("portal:team")


@never_cache
def invitation_open(request: HttpRequest) -> HttpResponse:
    """Where the e-mailed link lands: the token comes by POST, never in an address."""
    if request.method != "POST":
        return render(request, "portal/invitation_open.html")
    found = Invitation.find_pending(request.POST.get("token", "").strip())
    if found is None:
        security_log.warning(
            "invitation token refused", extra={"reason": "unknown, accepted, revoked or expired"}
        )
        return render(request, "portal/invitation_invalid.html", status=404)
    stash_invitation(request, found)  # the session keeps its hash through sign-up or log-in
    # A fragment of its own: else the browser would carry the link's (the code) to the next page.
    return redirect(reverse("portal:invitation") + "#join")


@never_cache
def invitation(request: HttpRequest) -> HttpResponse:
    """The opened invitation: sign up or log in, then accept."""
    found = stashed_invitation(request)
    if found is None:
        return render(request, "portal/invitation_invalid.html", status=404)
    if not request.user.is_authenticated:
        return render(request, "portal/invitation.html", {"invitation": found})
    addressed_to_user = EmailAddress.objects.filter(
        user=request.user, email__iexact=found.email, verified=True
    ).exists()
    if request.method == "POST" and addressed_to_user:
        accept_invitation(found, request.user)
        forget_invitation(request)
        select_organization(request, found.organization)
        messages.success(request, f"Welcome to {found.organization.name}.")
        return redirect("portal:home")
    return render(
        request, "portal/invitation.html", {"invitation": found, "addressed_to_user": addressed_to_user}
    )


@require_POST
def invitation_forget(request: HttpRequest) -> HttpResponse:
    forget_invitation(request)
    return redirect("account_signup")


def _is_last_owner(request: PortalRequest, member: Membership) -> bool:
    return not members_for_user(request).filter(role=Role.OWNER).exclude(pk=member.pk).exists()


def _member_snapshot(member: Membership) -> dict[str, str]:
    return {"email": member.user.email, "role": member.role}
