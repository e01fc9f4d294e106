"""The one way to reach a tenant's data: what a caller may reach, as queries scoped to an
organization or to one of its Apps.

The portal (a member's chosen organization) and the management API (the organization of an API
key) reach tenant data only through these functions and add nothing but HTTP: the portal its
404 pages and role checks, the API its error answers. Another organization's object, or another
App's, is NotFound, never "forbidden", so ids cannot be probed.
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.contrib.auth.models import User
from django.db.models import Model, QuerySet

from sessioncloud.accounts.models import ApiKey, AuditEntry, Invitation, Membership, Organization
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import App, Device, EndUser, ProvisioningLogEntry, SetupToken
from sessioncloud.providers.tokens import with_status


class NotFound(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


M = TypeVar("M", bound=Model)


def _one(objects: QuerySet[M], what: str) -> M:
    found = objects.first()
    if found is None:
        raise NotFound(what)
    return found


# A person's organizations.


def memberships_of(user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name", "organization_id")
    )


def get_membership(user: User, organization_id: int) -> Membership:
    return _one(memberships_of(user).filter(organization_id=organization_id), "membership")


def membership_with_app(user: User, provider_id: str) -> Membership | None:
    """The user's membership of the organization that owns this App, if any."""
    organization_id = (
        App.objects.filter(provider_id__iexact=provider_id).values_list("organization_id", flat=True).first()
    )
    return memberships_of(user).filter(organization_id=organization_id).first() if organization_id else None


# An organization's own objects.


def apps_of(organization: Organization) -> QuerySet[App]:
    return (
        App.objects.filter(organization=organization)
        .select_related("logo", "logo_dark")
        .defer("logo__content", "logo_dark__content")
    )


def get_app(organization: Organization, provider_id: str) -> App:
    return _one(apps_of(organization).filter(provider_id__iexact=provider_id), "app")


def members_of(organization: Organization) -> QuerySet[Membership]:
    return organization.memberships.select_related("user").order_by("created", "id")


def get_member(organization: Organization, member_id: int) -> Membership:
    return _one(members_of(organization).filter(pk=member_id), "member")


def invitations_of(organization: Organization) -> QuerySet[Invitation]:
    return Invitation.pending().filter(organization=organization)


def get_invitation(organization: Organization, invitation_id: int) -> Invitation:
    return _one(invitations_of(organization).filter(pk=invitation_id), "invitation")


def api_keys_of(organization: Organization) -> QuerySet[ApiKey]:
    return organization.api_keys.order_by("-created", "-id")


def get_api_key(organization: Organization, key_id: int) -> ApiKey:
    return _one(api_keys_of(organization).filter(pk=key_id), "API key")


def audit_entries_of(organization: Organization) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(organization=organization)


def get_token(organization: Organization, token_id: int, app: App | None = None) -> SetupToken:
    """A setup token of the organization; given an App, of that very App."""
    tokens = SetupToken.objects.filter(app__organization=organization, pk=token_id)
    if app is not None:
        tokens = tokens.filter(app=app)
    return _one(tokens.select_related("app", "end_user"), "token")


def get_job(organization: Organization, job_id: uuid.UUID | str, app: App | None = None) -> Job:
    """A bulk job of the organization; given an App, of that very App."""
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("job") from None
    jobs = Job.objects.filter(organization=organization, pk=pk)
    if app is not None:
        jobs = jobs.filter(app=app)
    # The upload and the file load only when used: a progress poll needs neither.
    return _one(jobs.select_related("app").defer("input", "result"), "job")


# An App's own objects. Each function takes an App that get_app() returned, so the organization
# is already checked; the object must also belong to that very App.


def end_users_of(app: App) -> QuerySet[EndUser]:
    return EndUser.objects.filter(app=app).select_related("app").order_by("external_id")


def get_end_user(app: App, external_id: str) -> EndUser:
    return _one(EndUser.objects.filter(app=app, external_id=external_id), "end user")


def tokens_of(app: App) -> QuerySet[SetupToken]:
    return (
        SetupToken.objects.filter(app=app)
        .select_related("end_user")
        .prefetch_related("redemptions")
        .order_by("-created", "-id")
    )


def tokens_with_status(app: App, status: str) -> QuerySet[SetupToken]:
    return tokens_of(app).filter(with_status(status))


def devices_of(app: App) -> QuerySet[Device]:
    return Device.objects.filter(app=app).select_related("end_user").order_by("-last_seen", "-id")


def get_device(app: App, device_id: str) -> Device:
    if "\x00" in device_id:  # no stored id holds a NUL, and PostgreSQL refuses one in a query
        raise NotFound("device")
    return _one(devices_of(app).filter(device_id=device_id), "device")


def provisioning_log_of(app: App) -> QuerySet[ProvisioningLogEntry]:
    return ProvisioningLogEntry.objects.filter(app=app).order_by("-created", "-id")


def jobs_of(app: App) -> QuerySet[Job]:
    """The App's bulk jobs, newest first, without the uploaded or produced files."""
    return Job.objects.filter(app=app).select_related("app").defer("input", "result").order_by("-created")
