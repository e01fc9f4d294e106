"""Deleting an App, for the portal and the management API alike (docs/portal.md, "Deleting an App").

Everything the App holds goes with it; its ProviderId stays reserved for its organization, so a
new sign-up can never receive the logins of phones that still hold it. The phone config cache
forgets the App when the row is deleted (providers/signals.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from sessioncloud.accounts.models import record_audit
from sessioncloud.onboarding.jobs import STALE_AFTER
from sessioncloud.onboarding.models import Job, JobStatus
from sessioncloud.providers.appdata import audit_snapshot
from sessioncloud.providers.models import (
    App,
    Device,
    EndUser,
    ProvisioningLogEntry,
    RetiredProviderId,
    SetupToken,
)

JOB_RUNNING = "A bulk job of this App is still running: delete the App once it has finished."


class AppBusy(Exception):
    """The App cannot be deleted just now (a bulk job is working on it)."""


class AppGone(Exception):
    """Someone else deleted the App a moment ago."""


@dataclass(frozen=True)
class AppContents:
    """What deleting an App deletes with it."""

    end_users: int
    setup_tokens: int
    devices: int
    provisioning_log_entries: int
    jobs: int

    def as_json(self) -> dict[str, int]:
        names = {
            "end_users": "endUsers",
            "setup_tokens": "setupTokens",
            "devices": "devices",
            "provisioning_log_entries": "provisioningLogEntries",
            "jobs": "jobs",
        }
        return {names[key]: value for key, value in asdict(self).items()}


def contents_of(app: App) -> AppContents:
    return AppContents(
        end_users=EndUser.objects.filter(app=app).count(),
        setup_tokens=SetupToken.objects.filter(app=app).count(),
        devices=Device.objects.filter(app=app).count(),
        provisioning_log_entries=ProvisioningLogEntry.objects.filter(app=app).count(),
        jobs=Job.objects.filter(app=app).count(),
    )


def has_running_job(app: App) -> bool:
    # A job that stopped reporting progress is dead (onboarding.jobs.job_status): it holds nothing up.
    return Job.objects.filter(
        app=app, status__in=(JobStatus.QUEUED, JobStatus.RUNNING), updated__gt=timezone.now() - STALE_AFTER
    ).exists()


def retire_provider_id(provider_id: str, organization_id: int | None, actor: str) -> None:
    """Keep a ProviderId phones may still hold for its organization (an App deleted or renamed)."""
    RetiredProviderId.objects.filter(provider_id__iexact=provider_id).delete()
    RetiredProviderId.objects.create(
        provider_id=provider_id, organization_id=organization_id, retired_by=actor[:200]
    )


def delete_app(app: App, actor: str) -> AppContents:
    """Delete the App and all it holds, reserve its ProviderId, audit it.

    Raises AppBusy while a bulk job works on the App, AppGone when it was deleted meanwhile.
    """
    with transaction.atomic():
        # A second delete of the same App waits here for the first, then finds nothing.
        if App.objects.select_for_update().filter(pk=app.pk).values_list("pk", flat=True).first() is None:
            raise AppGone(app.provider_id)
        if has_running_job(app):
            raise AppBusy(JOB_RUNNING)
        contents = contents_of(app)
        retire_provider_id(app.provider_id, app.organization_id, actor)
        record_audit(app.organization, actor, "app.delete", app, audit_snapshot(app), None)
        app.delete()
    return contents
