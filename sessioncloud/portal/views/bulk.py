"""Bulk onboarding pages of an App: CSV import (dry run first) and export, QR codes and setup
e-mails as jobs, the text of the setup e-mail, and the App's recent jobs.

Every page calls the same service functions as the management API (sessioncloud.onboarding).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from sessioncloud.accounts.tenancy import jobs_of
from sessioncloud.onboarding import jobs, mailing, mailtemplate
from sessioncloud.onboarding.csvfile import MAX_BYTES, CsvFileError
from sessioncloud.onboarding.exports import export_csv, export_filename
from sessioncloud.onboarding.models import Job, JobKind, JobStatus
from sessioncloud.portal.access import PortalRequest, app_for_user, job_for_user, org_required
from sessioncloud.providers.models import App

RECENT_JOBS = 50
ROWS_PER_PAGE = 500  # rows of a report per page of the job page
REFRESH_SECONDS = 2
MAX_MB = MAX_BYTES // (1024 * 1024)
EMAIL_FIELDS = {"senderName": "sender_name", "subject": "subject", "body": "body"}
JOB_FIELDS = {"kind": "kind", "format": "format", "paper": "paper", "externalIds": "external_ids"}
ACTIONS = {"create": "Create", "update": "Change", "unchanged": "Unchanged", "refuse": "Refused"}


# --- forms ----------------------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, comma-separated, at most {MAX_MB} MB and 50,000 rows; "
        "the columns are those of the export.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_MB} MB; split it into smaller files.")
        return upload


class ExportForm(forms.Form):
    passwords = forms.BooleanField(
        required=False,
        label="Include passwords",
        help_text="The file then carries every SIP and provisioning password. An export with passwords is "
        "recorded in the audit log.",
    )


class CodesForm(forms.Form):
    kind = forms.ChoiceField(
        label="What to make",
        widget=forms.RadioSelect,
        initial=JobKind.QR_ZIP,
        choices=[
            (JobKind.QR_ZIP, "QR codes as a ZIP of PNG files"),
            (JobKind.QR_PDF, "QR codes as a printable PDF sheet (six cards per page)"),
            (JobKind.EMAIL, "Setup e-mails (a link and a QR code to each end user)"),
        ],
    )
    format = forms.ChoiceField(
        label="Code",
        widget=forms.RadioSelect,
        initial="token",
        choices=[
            (
                "token",
                "Setup token: a new one-time setup link per user (the safe choice; e-mails always use it)",
            ),
            ("local", "SIP credentials (scloc), password included"),
            ("external", "Provisioning login (scsc), for Apps in external mode"),
        ],
    )
    paper = forms.ChoiceField(
        label="Paper (PDF only)", initial="A4", choices=[("A4", "A4"), ("letter", "US letter")]
    )
    selection = forms.ChoiceField(
        label="End users",
        widget=forms.RadioSelect,
        initial="all",
        choices=[
            ("all", "All end users of this App"),
            ("listed", "Only the external ids listed below"),
        ],
    )
    external_ids = forms.CharField(
        label="External ids",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line (commas and spaces separate them too), in the order you want them.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("selection") == "listed":
            ids = [part for part in re.split(r"[\s,;]+", data.get("external_ids", "")) if part]
            if not ids:
                self.add_error("external_ids", "List at least one external id, or choose all end users.")
            data["ids"] = ids
        else:
            data["ids"] = None
        return data


class EmailSettingsForm(forms.Form):
    sender_name = forms.CharField(
        label="Sender name",
        required=False,
        strip=False,
        help_text="The From name; empty means the App's name.",
    )
    subject = forms.CharField(label="Subject", required=False, strip=False)
    body = forms.CharField(
        label="Body (plain text)", required=False, strip=False, widget=forms.Textarea(attrs={"rows": 12})
    )


# --- pages ----------------------------------------------------------------------------------------


@require_GET
@org_required
def bulk(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    recent = [_job_view(job) for job in jobs_of(app)[:RECENT_JOBS]]
    return _page(request, app, "portal/bulk_jobs.html", {"jobs": recent, "recent": RECENT_JOBS})


@never_cache
@org_required
def bulk_import(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    form = ImportForm(*_posted(request, files=True))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data["file"].read(MAX_BYTES + 1)
        try:
            job = jobs.start_import(app, data, dry_run=True, actor=_actor(request))
        except CsvFileError as error:
            form.add_error("file", str(error))
        except (jobs.TooManyJobs, jobs.JobQueueUnavailable) as error:
            form.add_error(None, str(error))
        else:
            return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=job.pk)
    return _page(request, app, "portal/bulk_import.html", {"form": form, "max_mb": MAX_MB})


@require_POST
@org_required
def bulk_job_import(request: PortalRequest, provider_id: str, job_id: Any) -> HttpResponse:
    """The "import these rows" button of a dry run: imports the file the dry run checked."""
    app = app_for_user(request, provider_id)
    dry_run = job_for_user(request, app, job_id)
    try:
        job = jobs.import_again(dry_run, actor=_actor(request))
    except jobs.JobRequestError as error:
        messages.error(request, error.message)
        return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=dry_run.pk)
    except (CsvFileError, jobs.TooManyJobs, jobs.JobQueueUnavailable) as error:
        messages.error(request, str(error))
        return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=dry_run.pk)
    return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=job.pk)


@never_cache
@org_required
def bulk_export(request: PortalRequest, provider_id: str) -> HttpResponse | StreamingHttpResponse:
    app = app_for_user(request, provider_id)
    form = ExportForm(*_posted(request))
    if request.method == "POST" and form.is_valid():
        lines = export_csv(app, passwords=form.cleaned_data["passwords"], actor=_actor(request))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export_filename(app)}"'
        response["Cache-Control"] = "no-store"
        return response
    return _page(request, app, "portal/bulk_export.html", {"form": form})


@org_required
def bulk_codes(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    form = CodesForm(*_posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = jobs.start_job(
                app,
                data["kind"],
                code_format=data["format"],
                external_ids=data["ids"],
                paper=data["paper"],
                actor=_actor(request),
            )
        except jobs.JobRequestError as error:
            form.add_error(JOB_FIELDS.get(error.field), error.message)
        except (jobs.TooManyJobs, jobs.JobQueueUnavailable) as error:
            form.add_error(None, str(error))
        else:
            return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=job.pk)
    return _page(
        request,
        app,
        "portal/bulk_codes.html",
        {"form": form, "mail_server": mailing.mail_server_configured()},
    )


@never_cache
@require_GET
@org_required
def bulk_job(request: PortalRequest, provider_id: str, job_id: Any) -> HttpResponse:
    app = app_for_user(request, provider_id)
    view = _job_view(job_for_user(request, app, job_id))
    return _page(
        request,
        app,
        "portal/bulk_job.html",
        {
            "job": view,
            "refresh": REFRESH_SECONDS if view["active"] else None,
            "rows": _report_rows(view, request),
        },
    )


def _report_rows(view: dict[str, Any], request: PortalRequest) -> Page:
    """One page of the report's rows (an import's lines, or the items of a QR or e-mail job)."""
    report = view["report"]
    rows = report.get("lines") or report.get("items") or []
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    if view["job"].kind == JobKind.IMPORT:
        page.object_list = [
            {
                **line,
                "action_name": ACTIONS.get(line.get("action"), line.get("action")),
                "errors": sorted((line.get("errors") or {}).items()),
            }
            for line in page.object_list
        ]
    return page


@require_POST  # the file stands for credentials: handing it out is an action, audited, for editors
@org_required
def bulk_job_download(request: PortalRequest, provider_id: str, job_id: Any) -> HttpResponse:
    app = app_for_user(request, provider_id)
    job = job_for_user(request, app, job_id)
    try:
        file = jobs.download_result(job, _actor(request))
    except jobs.ResultUnavailable as error:
        messages.error(request, str(error))
        return redirect("portal:bulk_job", provider_id=app.provider_id, job_id=job.pk)
    response = HttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response["Cache-Control"] = "no-store"  # the codes stand for credentials
    return response


@org_required
def bulk_email_settings(request: PortalRequest, provider_id: str) -> HttpResponse:
    app = app_for_user(request, provider_id)
    saved = mailing.email_settings_for(app)
    initial = {"sender_name": saved.sender_name, "subject": saved.subject, "body": saved.body}
    form = EmailSettingsForm(*_posted(request), initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            if "save" in request.POST:
                mailing.save_email_settings(
                    app,
                    sender_name=values["sender_name"],
                    subject=values["subject"],
                    body=values["body"],
                    actor=_actor(request),
                )
                messages.success(request, "The setup e-mail is saved.")
                return redirect("portal:bulk_email_settings", provider_id=app.provider_id)
            preview = mailing.preview_email(
                app, sender_name=values["sender_name"], subject=values["subject"], body=values["body"]
            )
        except mailing.EmailSettingsInvalid as error:
            for field, message in error.fields.items():
                form.add_error(EMAIL_FIELDS.get(field), message)
    elif request.method == "GET":
        preview = mailing.preview_email(app)
    if not request.membership.can_edit:
        for field in form.fields.values():
            field.disabled = True  # read-only for viewers, rather than a form that fails on submit
    return _page(
        request,
        app,
        "portal/bulk_email.html",
        {"form": form, "preview": preview, "placeholders": mailtemplate.PLACEHOLDERS},
    )


# --- shared parts ---------------------------------------------------------------------------------


def _actor(request: PortalRequest) -> str:
    return request.user.email


def _posted(request: PortalRequest, *, files: bool = False) -> tuple[Any, ...]:
    """A form's data: bound on POST even when nothing was ticked, unbound on GET."""
    if request.method != "POST":
        return (None, None) if files else (None,)
    return (request.POST, request.FILES) if files else (request.POST,)


def _page(request: PortalRequest, app: App, template: str, context: dict[str, Any]) -> HttpResponse:
    return render(request, template, {"app": app, "page": "bulk", **context})


def _job_view(job: Job) -> dict[str, Any]:
    """What the pages show of a job: its live status, progress and report."""
    status = jobs.job_status(job)
    report = job.report or {}
    dry_run = job.kind == JobKind.IMPORT and bool(job.params.get("dryRun"))
    return {
        "job": job,
        "status": status,
        "active": status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "error": jobs.job_error(job),
        "percent": 100 if status == JobStatus.DONE else (job.done * 100 // job.total if job.total else 0),
        "dry_run": dry_run,
        "can_import": dry_run and status == JobStatus.DONE,
        "has_file": job.kind in jobs.FILE_KINDS and status == JobStatus.DONE and job.result_size > 0,
        "report": report,
        "selection": len(job.params["externalIds"]) if job.params.get("externalIds") is not None else None,
    }
