"""Bulk onboarding: CSV import (dry run first) and export, QR codes and setup e-mails as jobs."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from ninja import Query, Status

from sessioncloud.accounts import tenancy
from sessioncloud.api.auth import ApiRequest, caller_of
from sessioncloud.api.errors import ApiError
from sessioncloud.api.manage import router
from sessioncloud.api.manage.common import app_for, end_user_for, invalid, job_for
from sessioncloud.api.schemas import (
    EmailPreviewIn,
    EmailPreviewOut,
    EmailSettingsIn,
    EmailSettingsOut,
    ErrorOut,
    JobIn,
    JobOut,
)
from sessioncloud.onboarding import jobs, mailing, mailtemplate
from sessioncloud.onboarding.csvfile import MAX_BYTES, CsvFileError
from sessioncloud.onboarding.exports import export_csv, export_filename
from sessioncloud.onboarding.models import Job, JobStatus

ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
CSV_TYPES = ("text/csv", "text/plain", "application/csv", "application/octet-stream")
RECENT_JOBS = 50


def job_json(job: Job, *, items: bool = True) -> dict[str, Any]:
    report = job.report or None
    if report and not items:
        report = {key: value for key, value in report.items() if key not in ("lines", "items")}
    status = jobs.job_status(job)
    has_file = job.kind in jobs.FILE_KINDS and job.status == JobStatus.DONE and job.result_size > 0
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "status": status,
        "providerId": job.app.provider_id,
        "params": _params(job),
        "progress": {"done": job.done, "total": job.total},
        "report": report,
        "error": jobs.job_error(job) or None,
        "result": {
            "filename": job.result_name,
            "contentType": job.result_type,
            "size": job.result_size,
            "url": f"/api/v1/manage/jobs/{job.pk}/result",
        }
        if has_file
        else None,
        "createdBy": job.created_by,
        "created": job.created.isoformat(),
        "started": job.started.isoformat() if job.started else None,
        "finished": job.finished.isoformat() if job.finished else None,
    }


@router.post(
    "/apps/{provider_id}/endusers.csv",
    response={200: JobOut, 202: JobOut, **ERRORS, 413: ErrorOut, 415: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Import end users from a CSV file (dry run by default)",
    description="The body is the CSV file itself (columns in docs/csv.md). Files of up to "
    f"{jobs.INLINE_IMPORT_ROWS} rows are checked (and imported) at once: 200 with the finished "
    "job and its row-by-row report. Larger files run as a job: 202, then poll "
    "GET /api/v1/manage/jobs/{id}. Importing is idempotent by external id.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def import_end_users(
    request: ApiRequest, response: HttpResponse, provider_id: str, dryRun: Query[bool] = True
) -> Status:  # the documented name
    app = app_for(request, provider_id)
    content_type = (request.content_type or "").lower()
    declared = request.headers.get("Content-Length", "")
    if declared not in ("", "0") and content_type not in CSV_TYPES:
        raise ApiError(
            415, "unsupported_media_type", "Send the CSV file itself as the body (Content-Type: text/csv)."
        )
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller files.",
        )
    # Read the stream directly: the general request-body limit is smaller than a CSV file may be.
    data = request.read(MAX_BYTES + 1)
    try:
        job = jobs.start_import(app, data, dry_run=dryRun, actor=caller_of(request).actor)
    except CsvFileError as error:
        raise ApiError(422, "invalid_csv", str(error), fields={"file": str(error)}) from None
    except jobs.TooManyJobs as error:
        raise ApiError(429, "too_many_jobs", str(error), headers={"Retry-After": "30"}) from None
    except jobs.JobQueueUnavailable as error:
        raise ApiError(503, "unavailable", str(error), headers={"Retry-After": "30"}) from None
    return _job_answer(job, response)


def _params(job: Job) -> dict[str, Any]:
    """What was asked; a selection of external ids shows as its size (the report names each)."""
    params = dict(job.params)
    if params.get("externalIds") is not None:
        params["externalIds"] = len(params["externalIds"])
    return params


def _job_answer(job: Job, response: HttpResponse) -> Status:
    if job.status in (JobStatus.DONE, JobStatus.FAILED):
        return Status(200, job_json(job))
    response["Location"] = f"/api/v1/manage/jobs/{job.pk}"
    return Status(202, job_json(job))


@router.get(
    "/apps/{provider_id}/endusers.csv",
    response={200: None, **ERRORS},
    summary="Export end users as CSV (passwords only when asked for; that is audited)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The CSV file (columns in docs/csv.md).",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_end_users(request: ApiRequest, provider_id: str, passwords: Query[bool] = False) -> HttpResponse:
    app = app_for(request, provider_id)
    lines = export_csv(app, passwords=passwords, actor=caller_of(request).actor)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(app)}"'
    response["Cache-Control"] = "no-store"
    return response


@router.post(
    "/apps/{provider_id}/jobs",
    response={202: JobOut, **ERRORS, 429: ErrorOut, 503: ErrorOut},
    summary="Start QR codes (ZIP or PDF) or setup e-mails for some or all end users",
)
def create_job(request: ApiRequest, response: HttpResponse, provider_id: str, payload: JobIn) -> Status:
    app = app_for(request, provider_id)
    try:
        job = jobs.start_job(
            app,
            payload.kind,
            code_format=payload.format,
            external_ids=payload.externalIds,
            paper=payload.paper,
            actor=caller_of(request).actor,
        )
    except jobs.JobRequestError as error:
        raise invalid({error.field: error.message}) from None
    except jobs.TooManyJobs as error:
        raise ApiError(429, "too_many_jobs", str(error), headers={"Retry-After": "30"}) from None
    except jobs.JobQueueUnavailable as error:
        raise ApiError(503, "unavailable", str(error), headers={"Retry-After": "30"}) from None
    response["Location"] = f"/api/v1/manage/jobs/{job.pk}"
    return Status(202, job_json(job))


@router.get(
    "/apps/{provider_id}/jobs",
    response={200: list[JobOut], **ERRORS},
    summary="The App's recent jobs, newest first (reports without their per-row lists)",
)
def list_jobs(request: ApiRequest, provider_id: str) -> list[dict]:
    app = app_for(request, provider_id)
    return [job_json(job, items=False) for job in tenancy.jobs_of(app)[:RECENT_JOBS]]


@router.get(
    "/jobs/{job_id}", response={200: JobOut, **ERRORS}, summary="A job's progress and, when done, its report"
)
def read_job(request: ApiRequest, job_id: str) -> dict:
    return job_json(job_for(request, job_id))


@router.get(
    "/jobs/{job_id}/result",
    response={200: None, **ERRORS, 409: ErrorOut, 410: ErrorOut},
    summary="The ZIP or PDF a finished QR-code job made",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file.",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in ("application/zip", "application/pdf")
                },
            }
        }
    },
)
def job_result(request: ApiRequest, job_id: str) -> HttpResponse:
    job = job_for(request, job_id)
    try:
        file = jobs.download_result(job, caller_of(request).actor)
    except jobs.ResultUnavailable as error:
        gone = job.kind in jobs.FILE_KINDS and job.status == JobStatus.DONE
        raise ApiError(
            410 if gone else 409, "result_expired" if gone else "result_unavailable", str(error)
        ) from None
    response = HttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response["Cache-Control"] = "no-store"  # the codes stand for credentials
    return response


@router.get(
    "/apps/{provider_id}/email-settings",
    response={200: EmailSettingsOut, **ERRORS},
    summary="The App's setup e-mail: sender name, subject and body template",
)
def read_email_settings(request: ApiRequest, provider_id: str) -> dict:
    return email_settings_json(mailing.email_settings_for(app_for(request, provider_id)))


@router.put(
    "/apps/{provider_id}/email-settings",
    response={200: EmailSettingsOut, **ERRORS},
    summary="Change the App's setup e-mail (placeholders: {{ name }}, {{ link }}, {{ provider }}, {{ expires "
    "}})",
)
def update_email_settings(request: ApiRequest, provider_id: str, payload: EmailSettingsIn) -> dict:
    app = app_for(request, provider_id)
    try:
        saved = mailing.save_email_settings(
            app,
            sender_name=payload.senderName,
            subject=payload.subject,
            body=payload.body,
            actor=caller_of(request).actor,
        )
    except mailing.EmailSettingsInvalid as error:
        raise invalid(error.fields) from None
    return email_settings_json(saved)


def email_settings_json(email_settings: Any) -> dict[str, Any]:
    return {
        "senderName": email_settings.sender_name,
        "subject": email_settings.subject,
        "body": email_settings.body,
        "placeholders": mailtemplate.PLACEHOLDERS,
    }


@router.post(
    "/apps/{provider_id}/email-settings/preview",
    response={200: EmailPreviewOut, **ERRORS},
    summary="The setup e-mail as a recipient would see it (saved or draft settings, example link)",
)
def preview_email(request: ApiRequest, provider_id: str, payload: EmailPreviewIn | None = None) -> dict:
    body = payload or EmailPreviewIn()
    app = app_for(request, provider_id)
    end_user = end_user_for(request, provider_id, body.externalId) if body.externalId else None
    try:
        preview = mailing.preview_email(
            app, sender_name=body.senderName, subject=body.subject, body=body.body, end_user=end_user
        )
    except mailing.EmailSettingsInvalid as error:
        raise invalid(error.fields) from None
    return {
        "sender": preview.sender,
        "to": preview.to,
        "subject": preview.subject,
        "body": preview.body,
        "attachment": preview.attachment,
    }
