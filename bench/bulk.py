"""Bulk onboarding of 1,000 end users: CSV import and export, QR codes as ZIP and PDF, e-mails.

    .venv/bin/python bench/bulk.py [--users 1000] [--embedded]

The QR-code and e-mail jobs run on a real `sessioncloud worker` process (the job runner), and
each is timed from the moment it is queued until the worker has marked it done. E-mails go to
an SMTP server on loopback (aiosmtpd) that accepts them all; the benchmark checks that every
one arrived. Default: PostgreSQL and Redis, as in scale-out; `--embedded`: SQLite and the
SQLite queue in the data directory, as `sessioncloud serve` runs with no configuration.
Imports and exports run in this process, as a web request would run them.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    PG_SERVER_URL,
    ROOT,
    bench_env,
    create_database,
    drop_database,
    flush_redis,
    free_port,
    header,
    make_app,
    make_org,
    setup_django,
    stop,
    table,
)

# Their own database and Redis db unless told (BENCH_DB, BENCH_REDIS_URL), so that a bulk run never
# shares its job queue with another benchmark running at the same time.
DATABASE = os.environ.get("BENCH_DB", "sessioncloud_bench_bulk")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
JOB_TIMEOUT = 300  # seconds: every wait is bounded


class Inbox:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        self.bytes += len(envelope.content)
        return "250 Message accepted"


@contextmanager
def configured(embedded: bool, smtp_port: int) -> Iterator[dict[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="sessioncloud-bench-bulk-"))
    mail = {
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SESSIONCLOUD_FROM_EMAIL": "Bench <noreply@bench.example>",
    }
    if embedded:
        env = bench_env(f"sqlite:///{data_dir}/bench.sqlite3", data_dir, **mail)
    else:
        flush_redis(REDIS_URL)
        env = bench_env(create_database(DATABASE), data_dir, REDIS_URL=REDIS_URL, **mail)
    try:
        os.environ.update(mail)  # setup_django copies the database settings only
        setup_django(env)
        yield env
    finally:
        from django.db import connections

        connections.close_all()
        if not embedded:
            drop_database(DATABASE)
            flush_redis(REDIS_URL)
        shutil.rmtree(data_dir, ignore_errors=True)


def users_csv(count: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["external_id", "display_name", "email", "sip_username", "sip_password", "transport"])
    for index in range(count):
        writer.writerow(
            [
                f"ext{index:05d}",
                f"User {index}",
                f"user{index}@bench.example",
                f"{10000 + index}",
                f"pw-{index:05d}-x7Q",
                "TLS",
            ]
        )
    return buffer.getvalue().encode()


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def queue_state() -> str:
    """What the queue holds: a job left queued with no message at all was lost, not slow."""
    from sessioncloud.onboarding import jobs

    try:
        return f"queue: {jobs.huey.pending_count()} waiting, {jobs.huey.scheduled_count()} to retry"
    except Exception as error:  # noqa: BLE001 - a report, whatever the queue says
        return f"queue unreadable: {error}"


def run_on_worker(app: Any, kind: str, users: int) -> tuple[Any, float]:
    from sessioncloud.onboarding import jobs
    from sessioncloud.onboarding.models import Job

    start = time.perf_counter()
    job = jobs.start_job(app, kind, code_format="token", actor="bench")
    while job.status not in ("done", "failed"):
        if time.perf_counter() - start > JOB_TIMEOUT:
            raise RuntimeError(
                f"{kind} did not finish within {JOB_TIMEOUT} s: {job.status}, {job.done}/{job.total}, "
                f"{queue_state()}"
            )
        time.sleep(0.05)
        job = Job.objects.get(pk=job.pk)
    elapsed = time.perf_counter() - start
    if job.status != "done" or job.done != users:
        raise RuntimeError(f"{kind} ended {job.status}: {job.error}")
    return job, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite and the SQLite queue (no PostgreSQL/Redis)"
    )
    args = parser.parse_args(argv)
    from aiosmtpd.controller import Controller

    setup = (
        "SQLite, SQLite queue (embedded default)" if args.embedded else f"PostgreSQL ({PG_SERVER_URL}), Redis"
    )
    header(
        f"Bulk onboarding of {args.users} end users: {setup}",
        "python bench/bulk.py"
        + (f" --users {args.users}" if args.users != 1000 else "")
        + (" --embedded" if args.embedded else ""),
    )
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    rows: list[list[object]] = []
    try:
        with configured(args.embedded, smtp.port) as env:
            rows = measure(args.users, env, inbox)
    finally:
        smtp.stop()
    table(
        f"{args.users} end users, one worker process (1 thread)",
        ["step", "where", "seconds", "ms per user", "output"],
        rows,
    )
    return 0


def measure(count: int, env: dict[str, str], inbox: Inbox) -> list[list[object]]:
    from sessioncloud.onboarding import jobs
    from sessioncloud.onboarding.exports import export_csv

    app = make_app(make_org(), "BenchBulk")
    data = users_csv(count)
    rows: list[list[object]] = []

    def row(step: str, where: str, seconds: float, output: str) -> None:
        rows.append([step, where, seconds, seconds * 1000 / count, output])
        print(f"  {step}: {seconds:.2f} s", flush=True)

    dry, seconds = timed(jobs.start_import, app, data, dry_run=True, actor="bench")
    row("CSV import, dry run", "request", seconds, f"{dry.report['created']} to create")
    real, seconds = timed(jobs.start_import, app, data, dry_run=False, actor="bench")
    row("CSV import", "request", seconds, f"{real.report['created']} created")
    again, seconds = timed(jobs.start_import, app, data, dry_run=False, actor="bench")
    row("CSV import again", "request", seconds, f"{again.report['unchanged']} unchanged")
    text, seconds = timed(lambda: "".join(export_csv(app, passwords=True, actor="bench")))
    row("CSV export with passwords", "request", seconds, f"{len(text.encode()) / 1024:.0f} KiB")

    log = tempfile.TemporaryFile()
    worker = subprocess.Popen(
        [sys.executable, "-m", "sessioncloud.cli", "worker", "--threads", "1"],
        env={**env, "SESSIONCLOUD_LOG_LEVEL": "INFO"},
        cwd=ROOT,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        for kind, label in (
            ("qr_zip", "QR codes, ZIP of PNGs (setup tokens)"),
            ("qr_pdf", "QR codes, PDF sheet (setup tokens)"),
            ("email", "Setup e-mails (token, QR, link)"),
        ):
            job, seconds = run_on_worker(app, kind, count)
            if kind == "email":
                if (job.report["sent"], inbox.messages) != (count, count):
                    raise RuntimeError(f"sent {job.report['sent']}, received {inbox.messages}")
                output = f"{inbox.messages} received, {inbox.bytes / 2**20:.1f} MiB"
            else:
                output = f"{job.result_size / 2**20:.1f} MiB"
            row(label, "worker", seconds, output)
    except Exception:
        log.seek(0)
        print("worker log:\n" + log.read().decode(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        stop(worker)
        log.close()
    return rows


if __name__ == "__main__":
    sys.exit(main())
