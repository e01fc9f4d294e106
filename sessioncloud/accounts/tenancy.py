"""The one way to reach a tenant's data: every lookup is scoped to an organization.

Another organization's object is "not found", never "forbidden", so ids cannot be probed.
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from sessioncloud.accounts.models import Organization
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import App, EndUser, SetupToken


class NotFound(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def apps_of(organization: Organization) -> QuerySet[App]:
    return (App.objects.filter(organization=organization).select_related("logo", "logo_dark")
            .defer("logo__content", "logo_dark__content"))


def get_app(organization: Organization, provider_id: str) -> App:
    app = apps_of(organization).filter(provider_id__iexact=provider_id).first()
    if app is None:
        raise NotFound("app")
    return app


def get_end_user(app: App, external_id: str) -> EndUser:
    user = EndUser.objects.filter(app=app, external_id=external_id).first()
    if user is None:
        raise NotFound("end user")
    return user


def get_token(organization: Organization, token_id: int) -> SetupToken:
    token = (
        SetupToken.objects.filter(app__organization=organization, pk=token_id)
        .select_related("app", "end_user")
        .first()
    )
    if token is None:
        raise NotFound("token")
    return token


def get_job(organization: Organization, job_id: uuid.UUID | str) -> Job:
    try:
        pk = uuid.UUID(str(job_id))
    except ValueError:
        raise NotFound("job") from None
    # The upload and the file load only when used: a progress poll needs neither.
    job = Job.objects.filter(organization=organization, pk=pk).select_related("app").defer("input", "result").first()
    if job is None:
        raise NotFound("job")
    return job
