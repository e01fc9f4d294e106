"""Bulk jobs: start them, run them on the job runner, follow their progress, fetch their files.

Imports of up to INLINE_IMPORT_ROWS rows run at once, inside the caller's request; larger
imports and every QR-code and e-mail run go to the job runner (runner.py). Either way the
caller gets a Job to show or poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from huey import crontab

from sessioncloud.accounts.models import record_audit
from sessioncloud.onboarding import imports, mailing, qrfiles
from sessioncloud.onboarding.csvfile import read_csv
from sessioncloud.onboarding.models import Job, JobKind, JobStatus
from sessioncloud.onboarding.queue import huey, tidies_connections
from sessioncloud.onboarding.sheet import PAPER
from sessioncloud.providers.models import App, EndUser

log = logging.getLogger("sessioncloud.onboarding")

# About half a second of work in a request (docs/performance.md); larger files go to the runner.
INLINE_IMPORT_ROWS = 2000
MAX_SELECTION = 50_000
# Jobs an organization may have queued or running at once, so one tenant cannot fill the queue.
MAX_ACTIVE_JOBS = 5
RESULT_TTL = timedelta(hours=24)
JOB_TTL = timedelta(days=30)
# A running job writes its progress at least this often while it works (PROGRESS_SECONDS);
# one that has been silent this long lost its worker (a restart or a crash).
STALE_AFTER = timedelta(minutes=10)
PROGRESS_SECONDS = 0.5
LOOKUP_BATCH = 500
FILE_KINDS = (JobKind.QR_ZIP, JobKind.QR_PDF)
INTERRUPTED = "The job was interrupted (its worker stopped); start it again."
# A queued job that has no message in the queue after this long is delivered again
# (redeliver_lost_jobs); well past the moment a worker takes a message and claims its job.
REDELIVER_AFTER = timedelta(seconds=30)
MAX_REDELIVERIES = 500  # per sweep (a minute): the oldest first, the rest at the next


class JobRequestError(ValueError):
    """A job that cannot be started as asked; `field` names the offending parameter."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class JobQueueUnavailable(RuntimeError):
    """The job runner's queue cannot be reached (Redis down): the job was not started."""


class TooManyJobs(RuntimeError):
    """The organization already has MAX_ACTIVE_JOBS jobs queued or running."""


class ResultUnavailable(LookupError):
    """The job has no file: not finished, failed, of a kind without one, or expired."""


@dataclass(frozen=True)
class JobFile:
    content: bytes
    filename: str
    content_type: str


# --- starting ------------------------------------------------------------------------------


def start_import(app: App, data: bytes, *, dry_run: bool, actor: str) -> Job:
    """Check and (unless dry_run) import a CSV file; raises CsvFileError for an unreadable file."""
    rows = len(read_csv(data).rows)
    if rows > INLINE_IMPORT_ROWS:
        _check_active_jobs(app)
    job = Job.objects.create(
        organization_id=app.organization_id,
        app=app,
        kind=JobKind.IMPORT,
        params={"dryRun": dry_run},
        total=rows,
        input=data,
        created_by=actor[:200],
    )
    if rows <= INLINE_IMPORT_ROWS:
        run_job(str(job.pk))
        job.refresh_from_db()
        return job
    return _enqueue(job)


def import_again(job: Job, *, actor: str) -> Job:
    """Import for real the file a finished dry run checked (what the portal's confirm button does)."""
    if job.kind != JobKind.IMPORT or not job.params.get("dryRun") or job_status(job) != JobStatus.DONE:
        raise JobRequestError("job", "Only a finished dry run can be imported.")
    if not job.input or _expired(job):
        raise JobRequestError("job", "The file of this dry run is no longer kept; upload it again.")
    return start_import(job.app, job.input, dry_run=False, actor=actor)


def start_job(
    app: App,
    kind: str,
    *,
    code_format: str = "token",
    external_ids: list[str] | None = None,
    paper: str = "A4",
    actor: str,
) -> Job:
    """Queue QR codes (qr_zip, qr_pdf) or setup e-mails (email) for some or all of an App's users."""
    _check_job_request(app, kind, code_format, external_ids, paper)
    selection = list(dict.fromkeys(external_ids)) if external_ids is not None else None
    total = len(selection) if selection is not None else EndUser.objects.filter(app=app).count()
    if total > MAX_SELECTION:
        raise JobRequestError(
            "externalIds", f"A job covers at most {MAX_SELECTION} end users; select them in several jobs."
        )
    _check_active_jobs(app)
    params: dict[str, Any] = {"format": code_format, "externalIds": selection}
    if kind == JobKind.QR_PDF:
        params["paper"] = paper
    job = Job.objects.create(
        organization_id=app.organization_id,
        app=app,
        kind=kind,
        params=params,
        total=total,
        created_by=actor[:200],
    )
    record_audit(
        app.organization,
        actor,
        "job.start",
        job,
        None,
        {"kind": kind, "format": code_format, "endUsers": total},
    )
    return _enqueue(job)


def _check_job_request(
    app: App, kind: str, code_format: str, external_ids: list[str] | None, paper: str
) -> None:
    if kind not in (JobKind.QR_ZIP, JobKind.QR_PDF, JobKind.EMAIL):
        raise JobRequestError("kind", "Use qr_zip, qr_pdf or email.")
    if code_format not in qrfiles.FORMATS:
        raise JobRequestError("format", "Use token, local or external.")
    if kind == JobKind.EMAIL and code_format != "token":
        raise JobRequestError("format", "E-mails always carry a setup token, never a password: use token.")
    if kind == JobKind.EMAIL and not mailing.mail_server_configured():
        raise JobRequestError("kind", "No mail server is configured (EMAIL_URL), so no e-mail can be sent.")
    if code_format == "external" and not app.is_external:
        raise JobRequestError(
            "format",
            "This App does not use external provisioning, so an external code would not work on a phone.",
        )
    if paper not in PAPER:
        raise JobRequestError("paper", "Use A4 or letter.")
    if external_ids is not None and len(external_ids) > MAX_SELECTION:
        raise JobRequestError("externalIds", f"Select at most {MAX_SELECTION} end users per job.")


def _check_active_jobs(app: App) -> None:
    active = Job.objects.filter(
        organization_id=app.organization_id,
        status__in=(JobStatus.QUEUED, JobStatus.RUNNING),
        updated__gt=timezone.now() - STALE_AFTER,
    ).count()
    if active >= MAX_ACTIVE_JOBS:
        raise TooManyJobs(
            f"Your organization has {active} jobs queued or running; start more once they finish."
        )


def _enqueue(job: Job) -> Job:
    try:
        run_job_task(str(job.pk))
    except Exception:
        log.exception("job queue unavailable", extra={"job": str(job.pk)})
        Job.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, finished=timezone.now(), error="The job runner could not be reached."
        )
        raise JobQueueUnavailable("The job runner could not be reached.") from None
    job.refresh_from_db()
    return job


# --- following -----------------------------------------------------------------------------


def job_status(job: Job) -> str:
    """The status to show: a running job that stopped reporting progress counts as failed."""
    if job.status == JobStatus.RUNNING and job.updated < timezone.now() - STALE_AFTER:
        return JobStatus.FAILED
    return job.status


def job_error(job: Job) -> str:
    if job.status == JobStatus.RUNNING and job_status(job) == JobStatus.FAILED:
        return INTERRUPTED
    return job.error


def job_result(job: Job) -> JobFile:
    if job.kind not in FILE_KINDS:
        raise ResultUnavailable("This kind of job makes no file.")
    if job.status != JobStatus.DONE:
        raise ResultUnavailable(
            "The job has not finished yet."
            if job_status(job) in (JobStatus.QUEUED, JobStatus.RUNNING)
            else "The job failed, so it has no file."
        )
    if not job.result or _expired(job):
        raise ResultUnavailable(
            f"Files are kept for {RESULT_TTL.total_seconds() / 3600:.0f} hours; start the job again."
        )
    return JobFile(job.result, job.result_name, job.result_type)


def download_result(job: Job, actor: str) -> JobFile:
    """The job's file for someone who may see the credentials it holds; each download is audited,
    since the file stands for passwords or live setup tokens whoever started the job."""
    file = job_result(job)
    record_audit(
        job.organization,
        actor,
        "job.download",
        job,
        None,
        {
            "kind": job.kind,
            "format": job.params.get("format"),
            "startedBy": job.created_by,
            "file": file.filename,
        },
    )
    return file


def _expired(job: Job) -> bool:
    return job.created < timezone.now() - RESULT_TTL


# --- running -------------------------------------------------------------------------------


class Progress:
    """Counts work done and writes it to the job now and then (it also proves the job alive)."""

    def __init__(self, job: Job):
        self.job_id = job.pk
        self.done = 0
        self._written = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        if time.monotonic() - self._written >= PROGRESS_SECONDS:
            Job.objects.filter(pk=self.job_id).update(done=self.done, updated=timezone.now())
            self._written = time.monotonic()


# A job's own errors mark it failed inside run_job; what escapes is the database failing around
# it (no connection while claiming or finishing), which a later try may get past. Once the tries
# are spent, a job never claimed is delivered again by redeliver_lost_jobs.
@huey.task(retries=3, retry_delay=10)
@tidies_connections
def run_job_task(job_id: str) -> None:
    run_job(job_id)


def run_job(job_id: str) -> None:
    if not _claim(job_id):
        return
    try:
        job = Job.objects.select_related("app__organization").get(pk=job_id)
        progress = Progress(job)
        report, result = RUNNERS[job.kind](job, progress)
    except Exception:
        log.exception("job failed", extra={"job": job_id})
        Job.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED,
            finished=timezone.now(),
            error="The job stopped on an unexpected error, which has been logged.",
        )
        return
    changes: dict[str, Any] = {
        "status": JobStatus.DONE,
        "done": job.total,
        "report": report,
        "finished": timezone.now(),
        "updated": timezone.now(),
    }
    if result is not None:
        changes.update(
            result=result.content,
            result_name=result.filename,
            result_type=result.content_type,
            result_size=len(result.content),
        )
    if job.kind == JobKind.IMPORT and not job.params.get("dryRun"):
        changes["input"] = b""  # imported: its passwords need not be kept any longer
    Job.objects.filter(pk=job_id).update(**changes)
    log.info("job done", extra={"job": job_id, "kind": job.kind, "total": job.total})


Outcome = tuple[dict[str, Any], JobFile | None]


def _run_import(job: Job, progress: Progress) -> Outcome:
    plans = imports.plan_import(job.app, read_csv(job.input))
    dry_run = bool(job.params.get("dryRun"))
    if not dry_run:
        progress.advance(sum(1 for plan in plans if plan.action not in ("create", "update")))
        imports.apply_import(job.app, plans, job.created_by, progress.advance)
    return imports.import_report(plans, dry_run=dry_run), None


def _run_qr_files(job: Job, progress: Progress) -> Outcome:
    code_format = job.params["format"]
    users, missing = _selected(job)
    codes, skipped = qrfiles.codes_for(job.app, users, code_format, job.created_by)
    # The bar counts users drawn into the file, the bulk of the work.
    if job.kind == JobKind.QR_ZIP:
        content, extension, content_type = (
            qrfiles.zip_of_pngs(codes, progress.advance),
            "zip",
            "application/zip",
        )
    else:
        content = qrfiles.pdf_sheet(
            job.app, codes, code_format, job.params.get("paper", "A4"), progress.advance
        )
        extension, content_type = "pdf", "application/pdf"
    items = [
        *({"externalId": item.user.external_id, "status": "included", "message": ""} for item in codes),
        *skipped,
        *missing,
    ]
    report = {
        "format": code_format,
        "requested": job.total,
        "included": len(codes),
        "skipped": len(skipped) + len(missing),
        "items": _in_request_order(job, items),
    }
    filename = f"{job.app.provider_id}-qr-{code_format}.{extension}"
    return report, JobFile(content, filename, content_type)


def _run_email(job: Job, progress: Progress) -> Outcome:
    users, missing = _selected(job)
    items = mailing.send_setup_emails(job.app, users, actor=job.created_by, advance=progress.advance)
    counts = {
        status: sum(1 for item in items if item["status"] == status)
        for status in ("sent", "failed", "skipped")
    }
    report = {
        "format": "token",
        "requested": job.total,
        **counts,
        "items": _in_request_order(job, [*items, *missing]),
    }
    report["skipped"] += len(missing)
    return report, None


def _selected(job: Job) -> tuple[list[EndUser], list[dict[str, Any]]]:
    """The chosen users (in the order asked, else by external id) and items for unknown ids."""
    users = EndUser.objects.filter(app=job.app).select_related("app")
    wanted = job.params.get("externalIds")
    if wanted is None:
        return list(users.order_by("external_id")), []
    found: dict[str, EndUser] = {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        found.update(
            (user.external_id, user)
            for user in users.filter(external_id__in=wanted[start : start + LOOKUP_BATCH])
        )
    missing = [
        {
            "externalId": value,
            "status": "skipped",
            "message": "No end user with this external id in this App.",
        }
        for value in wanted
        if value not in found
    ]
    return [found[value] for value in wanted if value in found], missing


def _in_request_order(job: Job, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = job.params.get("externalIds")
    order = {value: index for index, value in enumerate(wanted)} if wanted is not None else None
    return sorted(
        items, key=lambda item: order.get(item["externalId"], 0) if order is not None else item["externalId"]
    )


RUNNERS: dict[str, Callable[[Job, Progress], Outcome]] = {
    JobKind.IMPORT: _run_import,
    JobKind.QR_ZIP: _run_qr_files,
    JobKind.QR_PDF: _run_qr_files,
    JobKind.EMAIL: _run_email,
}


def _claim(job_id: str) -> bool:
    """Mark the job running; False when it is not queued (a message delivered twice, say)."""
    now = timezone.now()
    # A conditional update makes a job run once, however often it is delivered.
    if Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started=now, updated=now
    ):
        return True
    if not Job.objects.filter(pk=job_id).exists():
        # Otherwise silent: a queue shared with another installation hands us its jobs.
        log.warning("job to run is not in the database", extra={"job": job_id})
    return False


# --- recovering ----------------------------------------------------------------------------
# The database, not the queue, says which jobs are still to run. A job's message can be used up
# without the job being claimed: a worker that cannot reach the database (its connection slots
# all taken, a restart) spends the task's few retries in half a minute and drops it; a Redis
# restart or flush loses the queue. Such a job would stay queued for ever, so the workers
# deliver again every queued job that no longer has a message.


def redeliver_lost_jobs() -> int:
    """Queue again each job left queued past REDELIVER_AFTER without a message; returns how many."""
    cutoff = timezone.now() - REDELIVER_AFTER
    waiting = list(
        Job.objects.filter(status=JobStatus.QUEUED, updated__lt=cutoff)
        .order_by("created")
        .values_list("pk", flat=True)[:MAX_REDELIVERIES]
    )
    if not waiting:
        return 0
    in_queue = _jobs_in_queue()
    lost = [str(job_id) for job_id in waiting if str(job_id) not in in_queue]
    return sum(_redeliver(job_id, cutoff) for job_id in lost)


def _jobs_in_queue() -> set[str]:
    """The ids of jobs with a message waiting: queued, or scheduled for a retry."""
    tasks = [*huey.pending(), *huey.scheduled()]
    return {str(task.args[0]) for task in tasks if isinstance(task, run_job_task.task_class) and task.args}


def _redeliver(job_id: str, cutoff: datetime) -> bool:
    # Touching `updated` only if nobody did since the cutoff: of the sweeps of several workers,
    # one sends the job, and the next sweeps give that message its time. A duplicate would be
    # harmless anyway (the claim is conditional).
    if not Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, updated__lt=cutoff).update(
        updated=timezone.now()
    ):
        return False
    log.warning("queued job had no message left in the queue: delivering it again", extra={"job": job_id})
    run_job_task(job_id)
    return True


# Every minute, and at once when a worker starts (after an outage, say).
@huey.periodic_task(crontab())
@tidies_connections
def redeliver_lost_jobs_task() -> None:
    redeliver_lost_jobs()


# --- housekeeping --------------------------------------------------------------------------


def purge_old_jobs() -> int:
    """Drop files and uploads past RESULT_TTL and jobs past JOB_TTL; returns jobs deleted."""
    now = timezone.now()
    Job.objects.filter(Q(created__lt=now - RESULT_TTL) & (~Q(result=b"") | ~Q(input=b""))).update(
        result=b"", input=b"", result_size=0
    )
    deleted, _ = Job.objects.filter(created__lt=now - JOB_TTL).delete()
    return deleted


@huey.periodic_task(crontab(minute="*/30"))
@tidies_connections
def purge_old_jobs_task() -> None:
    purge_old_jobs()
