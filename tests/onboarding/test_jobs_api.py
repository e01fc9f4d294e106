"""The management API of bulk onboarding: import, jobs, their progress and their files."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sessioncloud.api.manage import bulk
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import Job, JobStatus
from sessioncloud.providers.models import App, EndUser
from tests.conftest import ApiClient
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db
APP = "/api/v1/manage/apps/AcmeInc"
CSV = b"external_id,display_name,sip_username,sip_password\r\nalice,Alice,2001,pw1\r\nbob,Bob,2002,\r\n"


def post_csv(api: ApiClient, path: str, data: bytes = CSV, content_type: str = "text/csv") -> Any:
    return api.client.post(path, data=data, content_type=content_type, headers=api.headers)


@pytest.fixture
def users(app: App) -> list[EndUser]:
    return [make_end_user(app, name) for name in ("alice", "bob")]


def test_a_dry_run_answers_the_finished_job_at_once(api: ApiClient, app: App) -> None:
    response = post_csv(api, f"{APP}/endusers.csv")
    assert response.status_code == 200
    job = response.json()
    assert {key: job[key] for key in ("kind", "status", "params", "progress", "result", "error")} == {
        "kind": "import",
        "status": "done",
        "params": {"dryRun": True},
        "progress": {"done": 2, "total": 2},
        "result": None,
        "error": None,
    }


def test_a_dry_run_answers_the_row_by_row_report(api: ApiClient, app: App) -> None:
    job = post_csv(api, f"{APP}/endusers.csv").json()
    assert job["report"] == {
        "dryRun": True,
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "refused": 1,
        "lines": [
            {"line": 2, "externalId": "alice", "action": "create", "changes": [], "errors": {}},
            {
                "line": 3,
                "externalId": "bob",
                "action": "refuse",
                "changes": [],
                "errors": {"sip_password": "This field is required."},
            },
        ],
    }


def test_a_dry_run_imports_nothing(api: ApiClient, app: App) -> None:
    post_csv(api, f"{APP}/endusers.csv")
    assert EndUser.objects.count() == 0


def test_dry_run_false_imports(api, app):
    response = post_csv(api, f"{APP}/endusers.csv?dryRun=false")
    assert (response.status_code, response.json()["report"]["created"]) == (200, 1)
    assert list(EndUser.objects.values_list("external_id", "sip_password")) == [("alice", "pw1")]


def test_a_large_file_is_accepted_as_a_job_to_poll(api, app, monkeypatch):
    monkeypatch.setattr(jobs, "INLINE_IMPORT_ROWS", 1)
    monkeypatch.setattr(jobs.huey, "immediate", False)
    response = post_csv(api, f"{APP}/endusers.csv?dryRun=false")
    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["progress"], job["report"]) == ("queued", {"done": 0, "total": 2}, None)
    assert response["Location"] == f"/api/v1/manage/jobs/{job['id']}"
    jobs.huey.flush()
    jobs.run_job(job["id"])  # what the runner does
    polled = api.get(response["Location"]).json()
    assert (polled["status"], polled["progress"], polled["report"]["created"]) == (
        "done",
        {"done": 2, "total": 2},
        1,
    )


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (CSV, "application/json", 415, "unsupported_media_type"),
        (b"external_id;email\n", "text/csv", 422, "invalid_csv"),
        (b"", "text/csv", 422, "invalid_csv"),
    ],
)
def test_it_refuses_what_is_not_a_csv_file(api, app, data, content_type, status, code):
    response = post_csv(api, f"{APP}/endusers.csv", data, content_type)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert Job.objects.count() == 0


def test_a_file_error_names_the_file_field(api, app):
    response = post_csv(api, f"{APP}/endusers.csv", b"external_id;email\n")
    assert response.json()["error"] == {
        "code": "invalid_csv",
        "message": "The columns are separated by semicolons; separate them by commas.",
        "fields": {"file": "The columns are separated by semicolons; separate them by commas."},
    }


def test_a_file_over_the_size_cap_is_413(api, app, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_BYTES", 50)
    response = post_csv(api, f"{APP}/endusers.csv")
    assert (response.status_code, response.json()["error"]["code"]) == (413, "payload_too_large")


def start_qr_job(api: ApiClient) -> Any:
    return api.post(f"{APP}/jobs", {"kind": "qr_zip", "format": "local", "externalIds": ["bob", "alice"]})


def poll(api: ApiClient, job: dict[str, Any]) -> dict[str, Any]:
    return api.get(f"/api/v1/manage/jobs/{job['id']}").json()


@pytest.fixture
def qr_job(api: ApiClient, users: list[EndUser]) -> dict[str, Any]:
    """A QR job as starting it answers; it is done at once, as jobs run inline in tests."""
    return start_qr_job(api).json()


def test_a_qr_job_is_accepted_with_the_address_to_poll(api: ApiClient, users: list[EndUser]) -> None:
    response = start_qr_job(api)
    assert response.status_code == 202
    job = response.json()
    assert response["Location"] == f"/api/v1/manage/jobs/{job['id']}"


def test_polling_a_done_qr_job_answers_its_report_and_file(api: ApiClient, qr_job: dict[str, Any]) -> None:
    polled, job = poll(api, qr_job), qr_job
    assert polled == {
        "id": job["id"],
        "kind": "qr_zip",
        "status": "done",
        "providerId": "AcmeInc",
        "params": {"format": "local", "externalIds": 2},
        "progress": {"done": 2, "total": 2},
        "report": {
            "format": "local",
            "requested": 2,
            "included": 2,
            "skipped": 0,
            "items": [
                {"externalId": "bob", "status": "included", "message": ""},
                {"externalId": "alice", "status": "included", "message": ""},
            ],
        },
        "error": None,
        "result": {
            "filename": "AcmeInc-qr-local.zip",
            "contentType": "application/zip",
            "size": polled["result"]["size"],
            "url": f"/api/v1/manage/jobs/{job['id']}/result",
        },
        "createdBy": polled["createdBy"],
        "created": polled["created"],
        "started": polled["started"],
        "finished": polled["finished"],
    }


def test_a_job_names_the_api_key_that_started_it(api: ApiClient, qr_job: dict[str, Any]) -> None:
    assert poll(api, qr_job)["createdBy"].startswith("api key tests (sck_")


def test_a_jobs_file_is_fetched_as_an_attachment_never_cached(api: ApiClient, qr_job: dict[str, Any]) -> None:
    result = api.get(poll(api, qr_job)["result"]["url"])
    assert (result.status_code, result["Content-Type"], result["Cache-Control"]) == (
        200,
        "application/zip",
        "no-store",
    )
    assert result["Content-Disposition"] == 'attachment; filename="AcmeInc-qr-local.zip"'


def test_a_qr_jobs_file_is_a_zip_of_the_size_announced_with_a_png_per_user(
    api: ApiClient, qr_job: dict[str, Any]
) -> None:
    announced = poll(api, qr_job)["result"]
    result = api.get(announced["url"])
    assert len(result.content) == announced["size"]
    assert sorted(zipfile.ZipFile(io.BytesIO(result.content)).namelist()) == ["alice.png", "bob.png"]


def test_fetching_a_jobs_file_with_an_api_key_is_audited(api, users):
    from sessioncloud.accounts.models import AuditEntry

    job = api.post(f"{APP}/jobs", {"kind": "qr_zip", "format": "local"}).json()
    assert api.get(f"/api/v1/manage/jobs/{job['id']}/result").status_code == 200
    entry = AuditEntry.objects.get(action="job.download")
    assert entry.actor.startswith("api key tests (sck_")
    assert entry.after == {
        "kind": "qr_zip",
        "format": "local",
        "startedBy": entry.actor,
        "file": "AcmeInc-qr-local.zip",
    }


# Each asks, as api or as the other organization's client, about the job with the given id.
NOT_FOUND_REQUESTS: dict[str, Callable[[ApiClient, ApiClient, str], Any]] = {
    "another's job": lambda api, other, job_id: other.get(f"/api/v1/manage/jobs/{job_id}"),
    "another's job file": lambda api, other, job_id: other.get(f"/api/v1/manage/jobs/{job_id}/result"),
    "a job of another's app": lambda api, other, job_id: other.post(f"{APP}/jobs", {"kind": "qr_pdf"}),
    "another's app's jobs": lambda api, other, job_id: other.get(f"{APP}/jobs"),
    "an import to another's app": lambda api, other, job_id: post_csv(other, f"{APP}/endusers.csv"),
    "an unknown job": lambda api, other, job_id: api.get(f"/api/v1/manage/jobs/{uuid.uuid4()}"),
    "a job id that is no uuid": lambda api, other, job_id: api.get("/api/v1/manage/jobs/not-a-uuid"),
}


@pytest.mark.parametrize("request_name", NOT_FOUND_REQUESTS)
def test_another_organizations_jobs_and_apps_are_404(
    api: ApiClient, other_api: ApiClient, users: list[EndUser], request_name: str
) -> None:
    job = api.post(f"{APP}/jobs", {"kind": "qr_pdf"}).json()
    response = NOT_FOUND_REQUESTS[request_name](api, other_api, job["id"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_job_request_is_422_naming_the_field(api: ApiClient, app: App) -> None:
    response = api.post(f"{APP}/jobs", {"kind": "qr_gif", "extra": 1})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "kind": "Input should be 'qr_zip', 'qr_pdf' or 'email'",
        "extra": "This field is not known.",
    }
    assert Job.objects.count() == 0


def test_an_external_code_job_is_refused_for_an_app_without_external_provisioning(
    api: ApiClient, app: App
) -> None:
    response = api.post(f"{APP}/jobs", {"kind": "qr_zip", "format": "external"})
    assert response.json()["error"]["fields"] == {
        "format": "This App does not use external provisioning, so an external code would not work on a "
        "phone."
    }
    assert Job.objects.count() == 0


def test_a_queued_job_has_no_file_yet(api, users, monkeypatch):
    monkeypatch.setattr(jobs.huey, "immediate", False)
    job = api.post(f"{APP}/jobs", {"kind": "qr_zip"}).json()
    jobs.huey.flush()
    assert (job["status"], job["progress"], job["report"], job["result"]) == (
        "queued",
        {"done": 0, "total": 2},
        None,
        None,
    )
    response = api.get(f"/api/v1/manage/jobs/{job['id']}/result")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "result_unavailable",
        "message": "The job has not finished yet.",
    }


def test_an_import_job_has_no_file(api, app):
    job = post_csv(api, f"{APP}/endusers.csv").json()
    response = api.get(f"/api/v1/manage/jobs/{job['id']}/result")
    assert (response.status_code, response.json()["error"]["message"]) == (
        409,
        "This kind of job makes no file.",
    )


def test_files_expire_after_a_day(api, users):
    job = api.post(f"{APP}/jobs", {"kind": "qr_zip"}).json()
    Job.objects.update(created=timezone.now() - timedelta(hours=25))
    response = api.get(f"/api/v1/manage/jobs/{job['id']}/result")
    assert response.status_code == 410
    assert response.json()["error"] == {
        "code": "result_expired",
        "message": "Files are kept for 24 hours; start the job again.",
    }


def test_a_running_job_that_stopped_reporting_progress_shows_as_failed(api, app):
    job = Job.objects.create(
        organization=app.organization,
        app=app,
        kind="qr_zip",
        status=JobStatus.RUNNING,
        total=10,
        done=4,
        created_by="tests",
    )
    assert api.get(f"/api/v1/manage/jobs/{job.pk}").json()["status"] == "running"
    Job.objects.update(updated=timezone.now() - timedelta(minutes=11))
    polled = api.get(f"/api/v1/manage/jobs/{job.pk}").json()
    assert (polled["status"], polled["error"], polled["progress"]) == (
        "failed",
        "The job was interrupted (its worker stopped); start it again.",
        {"done": 4, "total": 10},
    )


def test_the_app_lists_its_recent_jobs_newest_first_without_per_user_lists(api, users):
    first = api.post(f"{APP}/jobs", {"kind": "qr_zip"}).json()
    second = post_csv(api, f"{APP}/endusers.csv").json()
    listed = api.get(f"{APP}/jobs").json()
    assert [job["id"] for job in listed] == [second["id"], first["id"]]
    assert listed[0]["report"] == {
        "dryRun": True,
        "rows": 2,
        "created": 0,
        "updated": 2,
        "unchanged": 0,
        "refused": 0,
    }
    assert listed[1]["report"] == {"format": "token", "requested": 2, "included": 2, "skipped": 0}


def test_old_files_and_jobs_are_purged(app, org):
    other = make_app(org, "OtherApp")
    recent = Job.objects.create(organization=org, app=app, kind="qr_zip", result=b"zip", created_by="tests")
    day_old = Job.objects.create(organization=org, app=app, kind="import", input=b"csv", created_by="tests")
    month_old = Job.objects.create(
        organization=org, app=other, kind="qr_zip", result=b"zip", created_by="tests"
    )
    Job.objects.filter(pk=day_old.pk).update(created=timezone.now() - timedelta(hours=25))
    Job.objects.filter(pk=month_old.pk).update(created=timezone.now() - timedelta(days=31))
    assert jobs.purge_old_jobs() == 1
    assert {job.pk: (job.input, job.result) for job in Job.objects.all()} == {
        recent.pk: (b"", b"zip"),
        day_old.pk: (b"", b""),
    }


def test_files_and_uploads_are_encrypted_in_the_database(app, org):
    from django.db import connection

    job = Job.objects.create(
        organization=org, app=app, kind="import", input=b"alice,secret-password", created_by="tests"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT input FROM onboarding_job WHERE id = %s",
            [job.pk.hex if connection.vendor == "sqlite" else job.pk],
        )
        stored = bytes(cursor.fetchone()[0])
    assert b"secret-password" not in stored
    assert Job.objects.get().input == b"alice,secret-password"


def test_every_bulk_endpoint_is_in_the_openapi_document(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert set(paths["/api/v1/manage/apps/{provider_id}/endusers.csv"]) == {"get", "post"}
    assert set(paths["/api/v1/manage/apps/{provider_id}/jobs"]) == {"get", "post"}
    assert set(paths["/api/v1/manage/jobs/{job_id}"]) == {"get"}
    assert set(paths["/api/v1/manage/jobs/{job_id}/result"]) == {"get"}
    assert set(paths["/api/v1/manage/apps/{provider_id}/email-settings"]) == {"get", "put"}
    assert set(paths["/api/v1/manage/apps/{provider_id}/email-settings/preview"]) == {"post"}


def test_an_organization_may_have_five_jobs_queued_at_once(api, users, monkeypatch):
    monkeypatch.setattr(jobs.huey, "immediate", False)
    for _ in range(jobs.MAX_ACTIVE_JOBS):
        assert api.post(f"{APP}/jobs", {"kind": "qr_zip"}).status_code == 202
    response = api.post(f"{APP}/jobs", {"kind": "qr_pdf"})
    jobs.huey.flush()
    assert (response.status_code, response["Retry-After"]) == (429, "30")
    assert response.json()["error"] == {
        "code": "too_many_jobs",
        "message": "Your organization has 5 jobs queued or running; start more once they finish.",
    }
    assert Job.objects.count() == 5


def test_reencrypt_moves_job_files_to_the_first_key(app, org, settings):
    from django.core.management import call_command

    from sessioncloud.lib.secretbox import generate_key

    job = Job.objects.create(
        organization=org, app=app, kind="qr_zip", result=b"PK-zip-bytes", created_by="tests"
    )
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = [generate_key(), *settings.SESSIONCLOUD_ENCRYPTION_KEYS]
    call_command("reencrypt", stdout=io.StringIO())
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = settings.SESSIONCLOUD_ENCRYPTION_KEYS[:1]
    assert Job.objects.get(pk=job.pk).result == b"PK-zip-bytes"


def test_a_job_that_hits_an_unexpected_error_is_reported_failed_not_left_running(api, users, monkeypatch):
    def explode(job, progress):
        raise RuntimeError("boom")

    monkeypatch.setitem(jobs.RUNNERS, "qr_zip", explode)
    job = api.post(f"{APP}/jobs", {"kind": "qr_zip"}).json()
    polled = api.get(f"/api/v1/manage/jobs/{job['id']}").json()
    assert (polled["status"], polled["error"], polled["result"]) == (
        "failed",
        "The job stopped on an unexpected error, which has been logged.",
        None,
    )
    assert api.get(f"/api/v1/manage/jobs/{job['id']}/result").json()["error"] == {
        "code": "result_unavailable",
        "message": "The job failed, so it has no file.",
    }
