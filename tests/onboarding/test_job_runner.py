"""The real job runner: `sessioncloud worker` against the real queue, and the worker `serve` starts.

These tests queue jobs in the real storage (SQLite in the data directory, or Redis when
REDIS_URL is set) and let separate processes run them, as in production.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from django.db import OperationalError
from django.utils import timezone

from sessioncloud.accounts.models import ApiKey
from sessioncloud.codes.formats import parse_code
from sessioncloud.codes.qr import decode_image
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import Job, JobStatus
from tests.factories import make_end_user
from tests.livesrv import free_port, server_env, wait_until_up

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("real_queue")]


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.1)


def job_finished(job_id: object) -> Callable[[], bool]:
    return lambda: Job.objects.get(pk=job_id).status in (JobStatus.DONE, JobStatus.FAILED)


@contextmanager
def process(*args: str, **env: str) -> Iterator[subprocess.Popen]:
    child = subprocess.Popen(
        [sys.executable, "-m", "sessioncloud.cli", *args],
        env=server_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def workers_of(parent: int) -> list[int]:
    """The `sessioncloud worker` processes `serve` started (they name their parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"worker" in command
            and b"--parent" in command
            and command[command.index(b"--parent") + 1] == str(parent).encode()
        ):
            found.append(int(entry.name))
    return found


def test_a_worker_process_runs_queued_qr_and_email_jobs(app, inbox, smtp_port):
    for name in ("alice", "bob"):
        make_end_user(app, name, email=f"{name}@acme.example")
    zip_job = jobs.start_job(app, "qr_zip", code_format="local", actor="tests")
    mail_job = jobs.start_job(app, "email", actor="tests")
    assert (zip_job.status, mail_job.status, jobs.huey.pending_count()) == (
        JobStatus.QUEUED,
        JobStatus.QUEUED,
        2,
    )
    with process("worker", "--threads", "2", EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}") as worker:
        wait_for(job_finished(zip_job.pk))
        wait_for(job_finished(mail_job.pk))
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    zip_job.refresh_from_db()
    mail_job.refresh_from_db()
    assert (zip_job.status, zip_job.done, zip_job.result_name) == (JobStatus.DONE, 2, "AcmeInc-qr-local.zip")
    with zipfile.ZipFile(io.BytesIO(zip_job.result)) as archive:
        assert parse_code(decode_image(archive.read("bob.png"))).sipaccounts[0].sipusername == "2001"
    assert (mail_job.status, mail_job.report["sent"]) == (JobStatus.DONE, 2)
    assert sorted(inbox.recipients) == ["alice@acme.example", "bob@acme.example"]


def test_serve_runs_jobs_itself_without_redis_and_stops_its_worker_with_it(org, app):
    make_end_user(app, "alice")
    _, key = ApiKey.issue(org, "runner")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process("serve", "--port", str(port), "--workers", "1", REDIS_URL="") as server:
        wait_until_up(base, server)
        request = Request(
            f"{base}/api/v1/manage/apps/AcmeInc/jobs",
            method="POST",
            data=json.dumps({"kind": "qr_pdf", "format": "local"}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urlopen(request, timeout=10) as response:
            assert response.status == 202
            job = json.load(response)
        wait_for(job_finished(job["id"]))
        assert Job.objects.get(pk=job["id"]).status == JobStatus.DONE
        with urlopen(
            Request(
                f"{base}/api/v1/manage/jobs/{job['id']}/result", headers={"Authorization": f"Bearer {key}"}
            ),
            timeout=10,
        ) as response:
            assert response.read(5) == b"%PDF-"
        assert len(workers_of(server.pid)) == 1
        server.terminate()
        server.wait(timeout=30)
    wait_for(lambda: not workers_of(server.pid), seconds=30)


def test_the_worker_serve_started_stops_by_itself_when_serve_dies_without_notice():
    # A stand-in for `serve` that starts the worker as serve does, then is killed.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time; subprocess.Popen([sys.executable, '-m', "
            "'sessioncloud.cli', 'worker', '--threads', '1', '--parent', str(os.getpid())]); time.sleep(60)",
        ],
        env=server_env(REDIS_URL=""),
    )
    try:
        wait_for(lambda: len(workers_of(parent.pid)) == 1, seconds=30)
        time.sleep(1)  # let it start watching
    finally:
        parent.kill()
        parent.wait()
    wait_for(lambda: not workers_of(parent.pid), seconds=30)


def spend_every_try(monkeypatch: pytest.MonkeyPatch, database_error: str) -> int:
    """Run the queue as a worker would, each try failing on the database; returns the tries made."""

    def unreachable(job_id: str) -> None:
        raise OperationalError(database_error)

    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)  # huey's naive UTC
    tries = 0
    with monkeypatch.context() as patched:
        patched.setattr(jobs, "run_job", unreachable)
        while tasks := [*filter(None, [jobs.huey.dequeue()]), *jobs.huey.read_schedule(later)]:
            for task in tasks:
                jobs.huey.execute(task, later)
                tries += 1
    return tries


def test_a_job_whose_tries_all_met_an_unreachable_database_runs_once_it_answers(app, monkeypatch):
    make_end_user(app, "alice")
    job = jobs.start_job(app, "qr_zip", code_format="local", actor="tests")
    # What PostgreSQL answers a worker's new connection when other programs hold every slot.
    tries = spend_every_try(monkeypatch, 'FATAL:  too many connections for role "sessioncloud"')
    assert (tries, jobs.huey.pending_count(), jobs.huey.scheduled_count()) == (4, 0, 0)
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    queued_minutes_ago(job)
    run_a_worker_until_finished(job)
    assert Job.objects.get(pk=job.pk).status == JobStatus.DONE


def test_a_worker_that_starts_runs_a_queued_job_whose_message_was_lost(app):
    make_end_user(app, "alice")
    job = jobs.start_job(app, "qr_zip", code_format="local", actor="tests")
    jobs.huey.flush()  # lost with the queue (a Redis restart, say)
    queued_minutes_ago(job)
    run_a_worker_until_finished(job)
    assert Job.objects.get(pk=job.pk).status == JobStatus.DONE


def queued_minutes_ago(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(updated=timezone.now() - timedelta(minutes=5))


def run_a_worker_until_finished(job: Job) -> None:
    with process("worker", "--threads", "1") as worker:
        wait_for(job_finished(job.pk), seconds=45)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
