"""What the portal adds to tenant access: the session's organization, role checks, and 404 pages.

Every view resolves the user's current organization through `org_required` and reaches tenant
data through `sessioncloud.accounts.tenancy`, which decides what that organization may reach;
the `*_for_user` helpers below turn its NotFound into a 404 page: another tenant's object is
"not found", never "forbidden", so its existence cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render

from sessioncloud.accounts import tenancy
from sessioncloud.accounts.models import (
    ApiKey,
    AuditEntry,
    Invitation,
    Membership,
    Organization,
    Role,
)
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import App, Device, EndUser, SetupToken

SESSION_ORG_KEY = "portal_org"
AUDIT_PAGE_SIZE = 50
PAGE_SIZE = 50

# Who may POST to a view: editors (owners and admins), owners only, or every member.
PostRule = Literal["editor", "owner", "member"]


class AuthenticatedRequest(HttpRequest):
    """The request of a view behind `login_required`: its user is logged in (for type checkers)."""

    user: User


class PortalRequest(AuthenticatedRequest):
    """What `org_required` adds to the request (for type checkers)."""

    org: Organization
    membership: Membership


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the organization chosen in this session, else the first one."""
    if not request.user.is_authenticated:
        return None
    memberships = list(tenancy.memberships_of(request.user))
    chosen = request.session.get(SESSION_ORG_KEY)
    for membership in memberships:
        if membership.organization_id == chosen:
            return membership
    return memberships[0] if memberships else None


def select_organization(request: HttpRequest, organization: Organization) -> None:
    request.session[SESSION_ORG_KEY] = organization.pk


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "portal/forbidden.html", {"message": message}, status=403)


def org_required(view: Callable[..., HttpResponseBase] | None = None, *, post: PostRule = "editor") -> Any:
    """Log-in required; sets request.org and request.membership; refuses POSTs by role.

    Safe by default: a POST needs an editor unless the view says otherwise, so a viewer can
    change nothing anywhere.
    """

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(request: PortalRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            membership = current_membership(request)
            if membership is None:
                return redirect("portal:organization_new")
            request.membership = membership
            request.org = membership.organization
            if request.method == "POST":
                refusal = _post_refusal(membership, post)
                if refusal:
                    return forbidden(request, refusal)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def _post_refusal(membership: Membership, rule: PostRule) -> str | None:
    if rule == "owner" and membership.role != Role.OWNER:
        return "Only an owner of this organization can manage its team."
    if rule == "editor" and not membership.can_edit:
        return "Viewers can look at everything but change nothing. Ask an owner for the admin role."
    return None


T = TypeVar("T")


def _found(lookup: Callable[[], T], message: str) -> T:
    """What a tenancy lookup found, else a 404 page saying `message`."""
    try:
        return lookup()
    except tenancy.NotFound:
        raise Http404(message) from None


def app_for_user(request: PortalRequest, provider_id: str) -> App:
    """The App of the current organization; on a GET, also one of the user's other organizations,
    which then becomes the current one (a link or bookmark from another organization's page)."""
    try:
        return tenancy.get_app(request.org, provider_id)
    except tenancy.NotFound:
        pass
    reading = request.method in ("GET", "HEAD")
    membership = tenancy.membership_with_app(request.user, provider_id) if reading else None
    if membership is None:
        raise Http404("No app with that ProviderId in your organization.")
    select_organization(request, membership.organization)
    request.org, request.membership = membership.organization, membership
    messages.info(request, f"Switched to {membership.organization.name}, the organization of this App.")
    return tenancy.get_app(membership.organization, provider_id)


def apps_for_user(request: PortalRequest) -> QuerySet[App]:
    return tenancy.apps_of(request.org)


# An App's own objects. Each function takes an App that app_for_user() returned.


def end_user_for_user(app: App, external_id: str) -> EndUser:
    return _found(lambda: tenancy.get_end_user(app, external_id), "No end user with that id in this App.")


def token_for_user(request: PortalRequest, app: App, token_id: int) -> SetupToken:
    return _found(
        lambda: tenancy.get_token(request.org, token_id, app), "No setup token with that id in this App."
    )


def device_for_user(app: App, device_id: str) -> Device:
    return _found(lambda: tenancy.get_device(app, device_id), "No device with that id in this App.")


def job_for_user(request: PortalRequest, app: App, job_id: Any) -> Job:
    """A job of this very App: another organization's, or another App's, is not found."""
    return _found(lambda: tenancy.get_job(request.org, job_id, app), "No job with that id in this App.")


def page_of(items: QuerySet[Any], request: HttpRequest, size: int = PAGE_SIZE) -> Page:
    return Paginator(items, size).get_page(request.GET.get("page"))


# The current organization's own objects.


def members_for_user(request: PortalRequest) -> QuerySet[Membership]:
    return tenancy.members_of(request.org)


def member_for_user(request: PortalRequest, member_id: int) -> Membership:
    return _found(lambda: tenancy.get_member(request.org, member_id), "No such member.")


def invitations_for_user(request: PortalRequest) -> QuerySet[Invitation]:
    return tenancy.invitations_of(request.org)


def invitation_for_user(request: PortalRequest, invitation_id: int) -> Invitation:
    return _found(lambda: tenancy.get_invitation(request.org, invitation_id), "No such invitation.")


def api_keys_for_user(request: PortalRequest) -> QuerySet[ApiKey]:
    return tenancy.api_keys_of(request.org)


def api_key_for_user(request: PortalRequest, key_id: int) -> ApiKey:
    return _found(lambda: tenancy.get_api_key(request.org, key_id), "No such API key.")


def audit_entries_for_user(request: PortalRequest) -> QuerySet[AuditEntry]:
    return tenancy.audit_entries_of(request.org)


MAX_ID_DIGITS = 18  # every 18-digit number fits a 64-bit key; a longer one is no id of ours


def is_id(value: Any) -> bool:
    """Whether a posted value can be a row id (digits that fit the key column)."""
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS


def membership_of_user(request: AuthenticatedRequest, organization_id: Any) -> Membership:
    """One of the user's own memberships (for switching organization)."""
    if not is_id(organization_id):
        raise Http404("You are not a member of that organization.")
    return _found(
        lambda: tenancy.get_membership(request.user, int(organization_id)),
        "You are not a member of that organization.",
    )
