"""CSV import: the row-by-row dry-run report, the import itself, and importing again."""

from __future__ import annotations

import csv
import io

import pytest

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.csvfile import COLUMNS
from sessioncloud.onboarding.models import Job, JobStatus
from sessioncloud.providers.models import App, EndUser
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db

BAD_ID = "Use 1 to 100 letters, digits and . _ @ + - (starting with a letter or digit)."


def csv_bytes(rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def row(ext: str, **values: str) -> list[str]:
    external_id = ext
    cells = {
        "external_id": external_id,
        "display_name": f"User {external_id}",
        "email": f"{external_id}@acme.example",
        "sip_username": "2" + external_id[-3:],
        "sip_password": f"pw-{external_id}",
        "transport": "udp",
        "srtp": "enabled",
        **values,
    }
    return [cells.get(column, "") for column in COLUMNS]


def thousand_rows() -> tuple[list[list[str]], list[dict]]:
    """1,000 rows, half of them bad in ten ways, with the report line each must get."""
    rows, expected = [], []
    for index in range(1000):
        line, ext = index + 2, f"ext{index:04d}"
        kind = index % 20
        action, changes, errors = "refuse", [], {}
        if kind == 0:
            cells, errors = (
                row(ext, transport="SCTP"),
                {"transport": "Use UDP, TCP or TLS, or leave it empty."},
            )
        elif kind == 1:
            cells, errors = row(ext, srtp="maybe"), {"srtp": "Use Enabled or Disabled, or leave it empty."}
        elif kind == 2:
            cells, errors = row(ext, email="not-an-email"), {"email": "Enter a valid email address."}
        elif kind in (3, 4):
            ext = f"dup{index - kind + 3:04d}"
            cells = row(ext)
            errors = {
                "external_id": f"The same external id is also on line {line + 1 if kind == 3 else line - 1}; "
                "each end user may appear once."
            }
        elif kind == 5:
            cells = row(
                ext,
                sip_username="",
                sip_password="",
                transport="",
                srtp="",
                provisioning_username=ext,
                provisioning_password="",
            )
            errors = {"provisioning_password": "This field is required."}
        elif kind == 6:
            cells, errors = row(ext, sip_password=""), {"sip_password": "This field is required."}
        elif kind == 7:
            ext = f"-bad{index}"
            cells, errors = row(ext), {"external_id": BAD_ID}
        elif kind == 8:
            cells, errors = [ext, "Too", "few"], {"row": "This row has 3 cells; the header has 14."}
        elif kind == 9:
            cells = row(ext, sip_username="", sip_password="", transport="", srtp="")
            errors = {"sip_username": "Give SIP credentials, provisioning credentials, or both."}
        elif kind == 10:
            cells, action = row(ext), "unchanged"
        elif kind == 11:
            cells, action, changes = (
                row(ext, display_name="Renamed", transport="TLS"),
                "update",
                ["display_name", "transport"],
            )
        else:
            cells, action = row(ext), "create"
        rows.append(cells)
        expected.append(
            {"line": line, "externalId": ext, "action": action, "changes": changes, "errors": errors}
        )
    return rows, expected


def existing_users(app: App) -> None:
    for index in range(1000):
        if index % 20 in (10, 11):
            ext = f"ext{index:04d}"
            make_end_user(
                app,
                ext,
                display_name=f"User {ext}",
                email=f"{ext}@acme.example",
                sip_username="2" + ext[-3:],
                sip_password=f"pw-{ext}",
                transport="UDP",
                srtp="Enabled",
            )


def snapshot() -> list[tuple]:
    return sorted(
        (
            user.external_id,
            user.display_name,
            user.email,
            user.sip_username,
            user.sip_password,
            user.transport,
            user.srtp,
            user.provisioning_username,
            user.provisioning_password,
            user.updated,
        )
        for user in EndUser.objects.all()
    )


def test_a_dry_run_of_1000_mixed_rows_reports_every_row_exactly_and_writes_nothing(app):
    existing_users(app)
    rows, expected = thousand_rows()
    before, audits = snapshot(), AuditEntry.objects.count()
    job = jobs.start_import(app, csv_bytes(rows), dry_run=True, actor="tests")
    assert job.status == JobStatus.DONE
    assert (job.done, job.total) == (1000, 1000)
    assert job.report == {
        "dryRun": True,
        "rows": 1000,
        "created": 400,
        "updated": 50,
        "unchanged": 50,
        "refused": 500,
        "lines": expected,
    }
    assert job.report["lines"][3] == {
        "line": 5,
        "externalId": "dup0003",
        "action": "refuse",
        "changes": [],
        "errors": {"external_id": "The same external id is also on line 6; each end user may appear once."},
    }
    assert snapshot() == before
    assert AuditEntry.objects.count() == audits


def import_thousand_rows(app: App) -> Job:
    return jobs.start_import(app, csv_bytes(thousand_rows()[0]), dry_run=False, actor="tests")


def counts(job: Job) -> dict[str, int]:
    return {key: job.report[key] for key in ("created", "updated", "unchanged", "refused")}


@pytest.fixture
def first_import(app: App) -> Job:
    """The thousand mixed rows imported over the users some of them name."""
    existing_users(app)
    return import_thousand_rows(app)


def test_importing_creates_updates_and_refuses_the_rows_it_should(first_import: Job) -> None:
    assert counts(first_import) == {"created": 400, "updated": 50, "unchanged": 50, "refused": 500}


def test_importing_reports_every_line_as_the_dry_run_does(first_import: Job) -> None:
    assert first_import.report["lines"] == thousand_rows()[1]


def test_importing_stores_the_good_rows_as_typed(first_import: Job) -> None:
    assert EndUser.objects.count() == 500
    created = EndUser.objects.get(external_id="ext0012")
    assert (created.display_name, created.sip_password, created.transport, created.srtp) == (
        "User ext0012",
        "pw-ext0012",
        "UDP",
        "Enabled",
    )
    assert EndUser.objects.get(external_id="ext0011").display_name == "Renamed"


def test_importing_audits_each_created_and_replaced_user(first_import: Job) -> None:
    assert AuditEntry.objects.filter(action="enduser.create").count() == 400
    assert AuditEntry.objects.filter(action="enduser.replace").count() == 50


def test_importing_the_same_file_again_changes_nothing(app: App, first_import: Job) -> None:
    before, audits = snapshot(), AuditEntry.objects.count()
    second = import_thousand_rows(app)
    assert counts(second) == {"created": 0, "updated": 0, "unchanged": 500, "refused": 500}
    assert snapshot() == before
    assert AuditEntry.objects.count() == audits


def test_the_audit_log_never_holds_an_imported_password(app):
    jobs.start_import(app, csv_bytes([row("alice")]), dry_run=False, actor="tests")
    entry = AuditEntry.objects.get(action="enduser.create")
    assert entry.actor == "tests"
    assert entry.after["sip"]["sippasswordSet"] is True
    assert "pw-alice" not in str(entry.after)
    assert sorted(entry.after) == ["displayName", "email", "externalId", "provisioning", "sip"]


def test_columns_a_file_leaves_out_keep_their_values_and_empty_passwords_keep_the_stored_one(app):
    make_end_user(app, "alice", email="alice@acme.example", sip_password="old-secret", transport="TLS")
    data = csv_bytes([["alice", "Alice Smith", ""]], header=("external_id", "display_name", "sip_password"))
    job = jobs.start_import(app, data, dry_run=False, actor="tests")
    assert job.report["lines"] == [
        {"line": 2, "externalId": "alice", "action": "update", "changes": ["display_name"], "errors": {}}
    ]
    alice = EndUser.objects.get()
    assert (alice.display_name, alice.email, alice.sip_password, alice.transport) == (
        "Alice Smith",
        "alice@acme.example",
        "old-secret",
        "TLS",
    )


def test_an_empty_sip_username_removes_the_sip_credentials(app):
    make_end_user(app, "alice", provisioning_username="alice", provisioning_password="pin")
    data = csv_bytes([["alice", ""]], header=("external_id", "sip_username"))
    job = jobs.start_import(app, data, dry_run=False, actor="tests")
    assert job.report["lines"][0]["changes"] == ["sip_username", "sip_password"]
    alice = EndUser.objects.get()
    assert (alice.sip_username, alice.sip_password, alice.provisioning_username) == ("", "", "alice")


def test_settings_without_a_username_are_refused(app):
    data = csv_bytes(
        [["carol", "", "", "TLS", "", ""], ["dave", "", "", "", "", "pin"]],
        header=(
            "external_id",
            "sip_username",
            "sip_password",
            "transport",
            "provisioning_username",
            "provisioning_password",
        ),
    )
    job = jobs.start_import(app, data, dry_run=True, actor="tests")
    assert [line["errors"] for line in job.report["lines"]] == [
        {"sip_username": "Give a SIP username for the SIP settings in this row."},
        {"provisioning_username": "Give a provisioning username for the provisioning settings in this row."},
    ]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("display_name", "x" * 201, "Use at most 200 characters."),
        ("sip_username", "20\n01", "Must not contain line breaks or control characters."),
        ("provisioning_username", "al\x0bice", "Must not contain line breaks or control characters."),
        ("video", "on", "Use Enabled or Disabled, or leave it empty."),
        ("external_id", "", "This field is required."),
    ],
)
def test_it_names_the_column_and_the_reason_for_each_bad_value(app, column, value, message):
    values = {"provisioning_username": "alice", "provisioning_password": "pin", column: value}
    job = jobs.start_import(app, csv_bytes([row("alice", **values)]), dry_run=True, actor="tests")
    assert job.report["lines"][0]["errors"] == {column: message}


def test_flags_and_transports_are_read_in_any_case_and_stored_as_the_spec_spells_them(app):
    data = csv_bytes([row("alice", transport="tls", srtp="DISABLED", messaging="Enabled", video="enabled")])
    jobs.start_import(app, data, dry_run=False, actor="tests")
    alice = EndUser.objects.get()
    assert (alice.transport, alice.srtp, alice.messaging, alice.video, alice.callrecording) == (
        "TLS",
        "Disabled",
        "Enabled",
        "Enabled",
        "",
    )


def test_the_same_external_id_in_another_app_is_another_user(app, org):
    other = make_app(org, "OtherApp")
    make_end_user(other, "alice", display_name="Other Alice")
    job = jobs.start_import(app, csv_bytes([row("alice")]), dry_run=False, actor="tests")
    assert job.report["created"] == 1
    assert EndUser.objects.get(app=other).display_name == "Other Alice"


def test_a_dry_run_can_then_be_imported_without_uploading_the_file_again(app):
    dry = jobs.start_import(app, csv_bytes([row("alice"), row("bob")]), dry_run=True, actor="tests")
    assert EndUser.objects.count() == 0
    real = jobs.import_again(dry, actor="tests")
    assert (real.params, real.report["created"]) == ({"dryRun": False}, 2)
    assert EndUser.objects.count() == 2
    real.refresh_from_db()
    assert real.input == b""  # an imported file (with its passwords) is not kept
    with pytest.raises(jobs.JobRequestError, match="^Only a finished dry run can be imported.$"):
        jobs.import_again(real, actor="tests")


def test_a_large_file_runs_as_a_job_on_the_runner(app, monkeypatch):
    monkeypatch.setattr(jobs, "INLINE_IMPORT_ROWS", 2)
    monkeypatch.setattr(jobs.huey, "immediate", False)
    jobs.huey.flush()  # the queue is a file in the data directory: earlier runs may have left tasks in it
    job = jobs.start_import(
        app, csv_bytes([row("alice"), row("bob"), row("carol")]), dry_run=False, actor="tests"
    )
    assert (job.status, job.done, job.total) == (JobStatus.QUEUED, 0, 3)
    assert EndUser.objects.count() == 0
    assert jobs.huey.pending_count() == 1
    jobs.huey.flush()
    jobs.run_job(str(job.pk))  # what the consumer does with the queued task
    job.refresh_from_db()
    assert (job.status, job.done, job.report["created"]) == (JobStatus.DONE, 3, 3)


@pytest.mark.parametrize(("username", "password"), [("a:b", "12:34"), ("1000", " pin "), ("x:y:z", ":")])
def test_provisioning_credentials_may_hold_colons_and_a_password_spaces(app, username, password):
    data = csv_bytes(
        [
            row(
                "alice",
                sip_username="",
                sip_password="",
                transport="",
                srtp="",
                provisioning_username=username,
                provisioning_password=password,
            )
        ]
    )
    jobs.start_import(app, data, dry_run=False, actor="tests")
    alice = EndUser.objects.get()
    assert (alice.provisioning_username, alice.provisioning_password) == (username, password)
