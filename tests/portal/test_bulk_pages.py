"""Bulk onboarding in the portal: CSV import with a dry run, export, QR-code jobs, the setup e-mail."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.onboarding import jobs, mailing
from sessioncloud.onboarding.models import EmailSettings, Job, JobStatus
from sessioncloud.onboarding.queue import huey
from sessioncloud.providers.models import App, EndUser
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db

BULK = "/portal/apps/AcmeInc/bulk/"
GOOD_AND_BAD = (
    b"external_id,display_name,sip_username,sip_password,transport\r\n"
    b"cust-1,Ann Smith,1001,ann-s3cret,TCP\r\n"
    b"cust-2,Bob Jones,1002,bob-s3cret,PIGEON\r\n"
)


@pytest.fixture(autouse=True)
def jobs_run_at_once() -> Iterator[None]:
    """Queued jobs run inside the request that queues them, as in the onboarding tests."""
    huey.immediate = True
    yield
    huey.immediate = False


def job_url(job: Job, action: str = "") -> str:
    return f"{BULK}jobs/{job.pk}/{action + '/' if action else ''}"


def upload(client: Client, data: bytes = GOOD_AND_BAD) -> Any:
    return client.post(f"{BULK}import/", {"file": SimpleUploadedFile("users.csv", data, "text/csv")})


@pytest.fixture
def dry_run(owner_client: Client, app: App) -> Job:
    """The dry run of an uploaded file with a good row and a bad one."""
    upload(owner_client)
    return Job.objects.get()


def import_dry_run(client: Client, dry_run: Job) -> tuple[Any, Job]:
    """Import the rows of a dry run: the answer, and the import job it started."""
    response = client.post(job_url(dry_run, "import"))
    return response, Job.objects.exclude(pk=dry_run.pk).get()


def test_uploading_a_file_shows_its_dry_run(owner_client: Client, app: App) -> None:
    response = upload(owner_client)
    assert (response.status_code, response["Location"]) == (302, job_url(Job.objects.get()))


def test_a_dry_run_is_an_import_job_done_at_once_by_the_uploader(dry_run: Job) -> None:
    assert {
        "kind": dry_run.kind,
        "params": dry_run.params,
        "status": dry_run.status,
        "created_by": dry_run.created_by,
    } == {
        "kind": "import",
        "params": {"dryRun": True},
        "status": JobStatus.DONE,
        "created_by": "owner@acme.example",
    }


def test_a_dry_run_changes_nothing(dry_run: Job) -> None:
    assert EndUser.objects.count() == 0


def test_the_dry_run_page_reports_every_row_with_its_errors(owner_client: Client, dry_run: Job) -> None:
    page = owner_client.get(job_url(dry_run))
    assert page.status_code == 200
    assert [
        (line["line"], line["externalId"], line["action"], line["errors"]) for line in page.context["rows"]
    ] == [
        (2, "cust-1", "create", []),
        (3, "cust-2", "refuse", [("transport", "Use UDP, TCP or TLS, or leave it empty.")]),
    ]


def test_the_dry_run_page_gives_the_reason_of_a_refusal(owner_client: Client, dry_run: Job) -> None:
    content = owner_client.get(job_url(dry_run)).content.decode()
    assert "<code>transport</code>: Use UDP, TCP or TLS, or leave it empty." in content


def test_the_dry_run_page_offers_to_import_the_rows(owner_client: Client, dry_run: Job) -> None:
    assert "Import these rows</button>" in owner_client.get(job_url(dry_run)).content.decode()


def test_the_page_of_a_finished_job_does_not_refresh(owner_client: Client, dry_run: Job) -> None:
    assert 'http-equiv="refresh"' not in owner_client.get(job_url(dry_run)).content.decode()


def test_importing_a_dry_run_shows_the_import_job(owner_client: Client, dry_run: Job) -> None:
    response, imported = import_dry_run(owner_client, dry_run)
    assert (response.status_code, response["Location"]) == (302, job_url(imported))


def test_importing_a_dry_run_imports_for_real_and_refuses_the_bad_row(
    owner_client: Client, dry_run: Job
) -> None:
    imported = import_dry_run(owner_client, dry_run)[1]
    assert (imported.params, imported.report["created"], imported.report["refused"]) == (
        {"dryRun": False},
        1,
        1,
    )


def test_importing_a_dry_run_creates_the_good_row_only(owner_client: Client, app: App, dry_run: Job) -> None:
    import_dry_run(owner_client, dry_run)
    user = EndUser.objects.get()
    assert {
        "app": user.app,
        "external_id": user.external_id,
        "display_name": user.display_name,
        "sip_username": user.sip_username,
        "sip_password": user.sip_password,
        "transport": user.transport,
    } == {
        "app": app,
        "external_id": "cust-1",
        "display_name": "Ann Smith",
        "sip_username": "1001",
        "sip_password": "ann-s3cret",
        "transport": "TCP",
    }


def test_an_import_offers_no_second_import(owner_client: Client, dry_run: Job) -> None:
    imported = import_dry_run(owner_client, dry_run)[1]
    assert "Import these rows</button>" not in owner_client.get(job_url(imported)).content.decode()


def test_an_unreadable_file_is_refused_with_its_reason(owner_client, app):
    response = upload(owner_client, "external_id;sip_username\r\ncust-1;1001\r\n".encode("utf-16"))
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["file"]
    assert Job.objects.count() == 0


def test_an_export_without_passwords_leaves_the_password_cells_empty_and_is_not_audited(owner_client, app):
    make_end_user(app, "cust-1", sip_password="ann-s3cret")
    response = owner_client.post(f"{BULK}export/", {})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="AcmeInc-endusers-')
    text = b"".join(response.streaming_content).decode()
    assert "ann-s3cret" not in text
    assert text.splitlines()[1] == "cust-1,Cust-1,,2001,,,,,,,,,,"
    assert AuditEntry.objects.filter(action="enduser.export").count() == 0


def test_an_export_with_passwords_contains_them_and_writes_an_audit_entry(owner_client, app):
    make_end_user(app, "cust-1", sip_password="ann-s3cret")
    response = owner_client.post(f"{BULK}export/", {"passwords": "on"})
    text = b"".join(response.streaming_content).decode()
    assert text.splitlines()[1] == "cust-1,Cust-1,,2001,ann-s3cret,,,,,,,,,"
    entry = AuditEntry.objects.get(action="enduser.export")
    assert (entry.actor, entry.after) == ("owner@acme.example", {"passwords": True, "endUsers": 1})


def finished_qr_job(app: App, started_by: str = "admin@acme.example") -> Job:
    make_end_user(app, "cust-1")
    return jobs.start_job(app, "qr_zip", code_format="local", external_ids=None, paper="A4", actor=started_by)


def test_each_download_of_a_jobs_file_is_an_audited_action(owner_client, admin_user, app):
    job = finished_qr_job(app)
    assert owner_client.get(job_url(job, "download")).status_code == 405  # no link a scanner could follow
    assert owner_client.post(job_url(job, "download")).status_code == 200
    entry = AuditEntry.objects.get(action="job.download")
    assert (entry.actor, entry.object_repr, entry.after) == (
        "owner@acme.example",
        str(job),
        {
            "kind": "qr_zip",
            "format": "local",
            "startedBy": "admin@acme.example",
            "file": "AcmeInc-qr-local.zip",
        },
    )


def test_a_viewer_gets_no_download_of_another_members_job(viewer_client, admin_user, app):
    job = finished_qr_job(app)
    page = viewer_client.get(job_url(job)).content.decode()
    assert "Download AcmeInc-qr-local.zip" not in page
    assert "only owners and admins can download it" in page
    response = viewer_client.post(job_url(job, "download"))
    assert (response.status_code, response["Content-Type"]) == (403, "text/html; charset=utf-8")
    assert not AuditEntry.objects.filter(action="job.download").exists()


def test_a_qr_zip_job_runs_to_100_percent_and_its_download_is_a_zip(owner_client, app):
    make_end_user(app, "cust-1")
    make_end_user(app, "cust-2")
    response = owner_client.post(
        f"{BULK}codes/", {"kind": "qr_zip", "format": "token", "paper": "A4", "selection": "all"}
    )
    job = Job.objects.get()
    assert (response.status_code, response["Location"]) == (302, job_url(job))
    page = owner_client.get(job_url(job))
    content = page.content.decode()
    assert '<progress max="100" value="100"' in content
    assert "100% · 2 of 2" in content
    download = owner_client.post(job_url(job, "download"))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"] == 'attachment; filename="AcmeInc-qr-token.zip"'
    assert sorted(zipfile.ZipFile(io.BytesIO(download.content)).namelist()) == ["cust-1.png", "cust-2.png"]


def test_a_job_for_listed_external_ids_reports_the_unknown_ones_as_skipped(owner_client, app):
    make_end_user(app, "cust-1")
    owner_client.post(
        f"{BULK}codes/",
        {
            "kind": "qr_zip",
            "format": "token",
            "paper": "A4",
            "selection": "listed",
            "external_ids": "cust-1\r\nnobody",
        },
    )
    job = Job.objects.get()
    assert job.params["externalIds"] == ["cust-1", "nobody"]
    assert [(item["externalId"], item["status"]) for item in job.report["items"]] == [
        ("cust-1", "included"),
        ("nobody", "skipped"),
    ]


def test_a_running_job_page_refreshes_itself_and_shows_its_progress(owner_client, app):
    job = Job.objects.create(
        organization=app.organization,
        app=app,
        kind="qr_pdf",
        status=JobStatus.RUNNING,
        done=3,
        total=12,
        created_by="owner@acme.example",
    )
    content = owner_client.get(job_url(job)).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in content
    assert '<progress max="100" value="25"' in content
    assert "25% · 3 of 12" in content
    assert owner_client.post(job_url(job, "download"))["Location"] == job_url(job)


def test_the_jobs_list_shows_the_apps_jobs_with_their_status(owner_client, app):
    upload(owner_client)
    content = owner_client.get(BULK).content.decode()
    assert "CSV import (dry run)" in content
    assert '<span class="badge ok">Done</span>' in content


@pytest.fixture
def owners_dry_run(app: App) -> Job:
    """An end user, and the owner's dry run of a file that would add another."""
    make_end_user(app, "cust-1", sip_password="ann-s3cret")
    return jobs.start_import(app, GOOD_AND_BAD, dry_run=True, actor="owner@acme.example")


def test_a_viewer_can_read_a_dry_run_but_is_not_offered_to_import_it(
    viewer_client: Client, owners_dry_run: Job
) -> None:
    assert viewer_client.get(job_url(owners_dry_run)).status_code == 200
    assert "Import these rows</button>" not in viewer_client.get(job_url(owners_dry_run)).content.decode()


# Each bulk POST a viewer might send: the address (given a dry run) and the form.
VIEWER_POSTS: dict[str, tuple[Callable[[Job], str], Callable[[], dict[str, Any]]]] = {
    "upload": (
        lambda job: f"{BULK}import/",
        lambda: {"file": SimpleUploadedFile("users.csv", GOOD_AND_BAD, "text/csv")},
    ),
    "import": (lambda job: job_url(job, "import"), lambda: {}),
    "export": (lambda job: f"{BULK}export/", lambda: {"passwords": "on"}),
    "codes": (
        lambda job: f"{BULK}codes/",
        lambda: {"kind": "qr_zip", "format": "token", "paper": "A4", "selection": "all"},
    ),
    "save e-mail": (
        lambda job: f"{BULK}email-settings/",
        lambda: {"sender_name": "x", "subject": "s", "body": "b", "save": "1"},
    ),
    "preview e-mail": (
        lambda job: f"{BULK}email-settings/",
        lambda: {"sender_name": "x", "subject": "s", "body": "b", "preview": "1"},
    ),
}


@pytest.mark.parametrize("post", VIEWER_POSTS)
def test_every_bulk_post_of_a_viewer_is_refused_and_changes_nothing(
    viewer_client: Client, owners_dry_run: Job, post: str
) -> None:
    url, data = VIEWER_POSTS[post]
    assert viewer_client.post(url(owners_dry_run), data()).status_code == 403
    assert list(Job.objects.values_list("pk", flat=True)) == [owners_dry_run.pk]
    assert EndUser.objects.count() == 1
    assert AuditEntry.objects.count() == 0
    assert EmailSettings.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", lambda job: job_url(job)),
        ("get", lambda job: f"/portal/apps/RivalCo/bulk/jobs/{job.pk}/"),
        ("post", lambda job: job_url(job, "download")),
        ("post", lambda job: f"/portal/apps/RivalCo/bulk/jobs/{job.pk}/download/"),
        ("post", lambda job: job_url(job, "import")),
    ],
)
def test_another_organizations_job_is_404_even_under_ones_own_app(
    owner_client: Client, app: App, rival_app: App, method: str, url: Callable[[Job], str]
) -> None:
    rival_job = jobs.start_import(rival_app, GOOD_AND_BAD, dry_run=True, actor="owner@rival.example")
    assert getattr(owner_client, method)(url(rival_job)).status_code == 404
    assert Job.objects.count() == 1
    assert EndUser.objects.count() == 0


def test_a_job_of_another_app_of_the_same_organization_is_404(owner_client, app, org):
    other = make_app(org, "AcmeTwo", name="Acme Two")
    job = jobs.start_import(other, GOOD_AND_BAD, dry_run=True, actor="owner@acme.example")
    assert owner_client.get(job_url(job)).status_code == 404
    assert owner_client.get(f"/portal/apps/AcmeTwo/bulk/jobs/{job.pk}/").status_code == 200
    assert owner_client.post(job_url(job, "import")).status_code == 404


def test_a_job_id_that_is_no_uuid_is_404(owner_client, app):
    assert owner_client.get(f"{BULK}jobs/not-a-job/").status_code == 404


def test_saving_the_setup_email_stores_it_and_audits_it(owner_client, app):
    response = owner_client.post(
        f"{BULK}email-settings/",
        {
            "sender_name": "Acme Support",
            "subject": "Your phone, {{ name }}",
            "body": "Open {{ link }}\n",
            "save": "1",
        },
    )
    assert (response.status_code, response["Location"]) == (302, f"{BULK}email-settings/")
    saved = mailing.email_settings_for(app)
    assert (saved.sender_name, saved.subject, saved.body) == (
        "Acme Support",
        "Your phone, {{ name }}",
        "Open {{ link }}\n",
    )
    assert AuditEntry.objects.get().action == "email.settings"


def test_a_preview_renders_a_draft_escaped_and_saves_nothing(owner_client, app):
    response = owner_client.post(
        f"{BULK}email-settings/",
        {
            "sender_name": "",
            "subject": "<script>alert(1)</script> for {{ name }}",
            "body": "Hi {{ name }}",
            "preview": "1",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt; for Alex Example" in content
    assert response.context["preview"].subject == "<script>alert(1)</script> for Alex Example"
    assert EmailSettings.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_a_saved_script_subject_is_shown_escaped(owner_client, app):
    owner_client.post(
        f"{BULK}email-settings/",
        {"sender_name": "", "subject": "<script>alert(1)</script>", "body": "Hi {{ name }}", "save": "1"},
    )
    content = owner_client.get(f"{BULK}email-settings/").content.decode()
    assert "<script>alert(1)</script>" not in content
    assert '<dd class="preview-subject">&lt;script&gt;alert(1)&lt;/script&gt;</dd>' in content


def test_an_unknown_placeholder_is_refused_with_its_reason(owner_client, app):
    response = owner_client.post(
        f"{BULK}email-settings/",
        {"sender_name": "", "subject": "Hi {{ password }}", "body": "Hi", "save": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "subject": [
            "Unknown placeholder {{ password }}; use {{ name }}, {{ link }}, {{ provider }}, {{ expires }}, "
            "{{ app }}."
        ]
    }
    assert EmailSettings.objects.count() == 0


def test_a_long_import_report_lists_every_row_page_by_page(owner_client, app):
    lines = [
        {"line": n + 2, "externalId": f"cust-{n}", "action": "create", "changes": [], "errors": {}}
        for n in range(2501)
    ]
    job = Job.objects.create(
        organization=app.organization,
        app=app,
        kind="import",
        status="done",
        params={"dryRun": True},
        total=2501,
        done=2501,
        report={
            "dryRun": True,
            "rows": 2501,
            "created": 2501,
            "updated": 0,
            "unchanged": 0,
            "refused": 0,
            "lines": lines,
        },
    )
    fifth = owner_client.get(job_url(job), {"page": 5})
    assert [line["externalId"] for line in fifth.context["rows"]][::499] == ["cust-2000", "cust-2499"]
    content = fifth.content.decode()
    assert '<p class="muted" id="rows-shown">Rows 2,001 to 2,500 of 2,501.</p>' in content
    assert 'href="?page=6"' in content
    last = owner_client.get(job_url(job), {"page": 6})
    assert [line["externalId"] for line in last.context["rows"]] == ["cust-2500"]


def test_a_long_qr_job_report_lists_every_user_page_by_page(owner_client, app):
    items = [{"externalId": f"cust-{n}", "status": "included", "message": ""} for n in range(1001)]
    job = Job.objects.create(
        organization=app.organization,
        app=app,
        kind="qr_zip",
        status="done",
        total=1001,
        done=1001,
        report={"requested": 1001, "included": 1001, "skipped": 0, "items": items},
    )
    last = owner_client.get(job_url(job), {"page": 3})
    assert [item["externalId"] for item in last.context["rows"]] == ["cust-1000"]
    assert "<tr><td><code>cust-1000</code></td><td>included</td><td></td></tr>" in last.content.decode()
