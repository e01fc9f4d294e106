"""The portal's one way to reach tenant data.

Every view resolves the user's current organization through `org_required` and reaches
tenant objects through the helpers below, which answer 404 for anything outside it: another
tenant's object is "not found", never "forbidden", so its existence cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import F, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone

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
from sessioncloud.providers.models import (
    App,
    Device,
    EndUser,
    ProvisioningLogEntry,
    SetupToken,
)

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


def memberships_of(user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name", "organization_id")
    )


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the organization chosen in this session, else the first one."""
    if not request.user.is_authenticated:
        return None
    memberships = list(memberships_of(request.user))
    chosen = request.session.get(SESSION_ORG_KEY)
    for membership in memberships:
        if membership.organization_id == chosen:
            return membership
    return memberships[0] if memberships else None


def select_organization(request: HttpRequest, organization: Organization) -> None:
    request.session[SESSION_ORG_KEY] = organization.pk


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "portal/forbidden.html", {"message": message}, status=403)


def org_required(
    view: Callable[..., HttpResponseBase] | None = None, *, post: PostRule = "editor"
) -> Any:
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


def app_for_user(request: PortalRequest, provider_id: str) -> App:
    """The App of the current organization; on a GET, also one of the user's other organizations,
    which then becomes the current one (a link or bookmark from another organization's page)."""
    try:
        return tenancy.get_app(request.org, provider_id)
    except tenancy.NotFound:
        pass
    membership = _membership_with_app(request, provider_id) if request.method in ("GET", "HEAD") else None
    if membership is None:
        raise Http404("No app with that ProviderId in your organization.")
    select_organization(request, membership.organization)
    request.org, request.membership = membership.organization, membership
    messages.info(request, f"Switched to {membership.organization.name}, the organization of this App.")
    return tenancy.get_app(membership.organization, provider_id)


def _membership_with_app(request: PortalRequest, provider_id: str) -> Membership | None:
    """The user's membership of the organization that owns this App, if any."""
    organization_id = App.objects.filter(provider_id__iexact=provider_id).values_list(
        "organization_id", flat=True).first()
    return memberships_of(request.user).filter(organization_id=organization_id).first() if organization_id else None


def apps_for_user(request: PortalRequest) -> QuerySet[App]:
    return tenancy.apps_of(request.org)


# An App's own objects. Each function takes an App that app_for_user() returned, so the
# organization is already checked; the object must also belong to that very App.


def end_users_of(app: App) -> QuerySet[EndUser]:
    return EndUser.objects.filter(app=app).select_related("app").order_by("external_id")


def end_user_for_user(app: App, external_id: str) -> EndUser:
    try:
        return tenancy.get_end_user(app, external_id)
    except tenancy.NotFound:
        raise Http404("No end user with that id in this App.") from None


def tokens_of(app: App) -> QuerySet[SetupToken]:
    return (SetupToken.objects.filter(app=app).select_related("end_user")
            .prefetch_related("redemptions").order_by("-created", "-id"))


def tokens_with_status(app: App, status: str) -> QuerySet[SetupToken]:
    """The App's tokens that providers.tokens.token_status() would call `status`, as a query."""
    now = timezone.now()
    live_and_unused = Q(revoked__isnull=True, uses__lt=F("max_uses"))
    conditions = {
        "pending": live_and_unused & Q(expires__gt=now),
        "used": Q(revoked__isnull=True, uses__gte=F("max_uses")),
        "expired": live_and_unused & Q(expires__lte=now),
        "revoked": Q(revoked__isnull=False),
    }
    return tokens_of(app).filter(conditions[status])


def token_for_user(request: PortalRequest, app: App, token_id: int) -> SetupToken:
    try:
        token = tenancy.get_token(request.org, token_id)
    except tenancy.NotFound:
        raise Http404("No setup token with that id in this App.") from None
    if token.app_id != app.pk:
        raise Http404("No setup token with that id in this App.")
    return token


def devices_of(app: App) -> QuerySet[Device]:
    return Device.objects.filter(app=app).select_related("end_user").order_by("-last_seen", "-id")


def device_for_user(app: App, device_id: str) -> Device:
    # Posted by a form, not a path: a NUL (which no stored id holds) must not reach the query.
    device = devices_of(app).filter(device_id=device_id).first() if "\x00" not in device_id else None
    if device is None:
        raise Http404("No device with that id in this App.")
    return device


def provisioning_log_of(app: App) -> QuerySet[ProvisioningLogEntry]:
    return ProvisioningLogEntry.objects.filter(app=app).order_by("-created", "-id")


def jobs_of(app: App) -> QuerySet[Job]:
    """The App's bulk jobs, newest first, without the uploaded or produced files."""
    return Job.objects.filter(app=app).select_related("app").defer("input", "result").order_by("-created")


def job_for_user(request: PortalRequest, app: App, job_id: Any) -> Job:
    """A job of this very App: another organization's, or another App's, is not found."""
    try:
        job = tenancy.get_job(request.org, job_id)
    except tenancy.NotFound:
        raise Http404("No job with that id in this App.") from None
    if job.app_id != app.pk:
        raise Http404("No job with that id in this App.")
    return job


def page_of(items: QuerySet[Any], request: HttpRequest, size: int = PAGE_SIZE) -> Page:
    return Paginator(items, size).get_page(request.GET.get("page"))


def members_for_user(request: PortalRequest) -> QuerySet[Membership]:
    return request.org.memberships.select_related("user").order_by("created", "id")


def member_for_user(request: PortalRequest, member_id: int) -> Membership:
    member = members_for_user(request).filter(pk=member_id).first()
    if member is None:
        raise Http404("No such member.")
    return member


def invitations_for_user(request: PortalRequest) -> QuerySet[Invitation]:
    return Invitation.pending().filter(organization=request.org)


def invitation_for_user(request: PortalRequest, invitation_id: int) -> Invitation:
    invitation = invitations_for_user(request).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def api_keys_for_user(request: PortalRequest) -> QuerySet[ApiKey]:
    return request.org.api_keys.order_by("-created", "-id")


def api_key_for_user(request: PortalRequest, key_id: int) -> ApiKey:
    key = api_keys_for_user(request).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such API key.")
    return key


def audit_entries_for_user(request: PortalRequest) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(organization=request.org)


MAX_ID_DIGITS = 18  # every 18-digit number fits a 64-bit key; a longer one is no id of ours


def is_id(value: Any) -> bool:
    """Whether a posted value can be a row id (digits that fit the key column)."""
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS


def membership_of_user(request: AuthenticatedRequest, organization_id: Any) -> Membership:
    """One of the user's own memberships (for switching organization)."""
    membership = memberships_of(request.user).filter(organization_id=organization_id).first() \
        if is_id(organization_id) else None
    if membership is None:
        raise Http404("You are not a member of that organization.")
    return membership
