"""The job runner (huey): its queue, `sessioncloud worker`, and the worker `serve` starts itself.

Embedded default: the queue is a SQLite file in the data directory and `sessioncloud serve`
starts a worker process beside itself, so nothing else has to be started. Scale-out (REDIS_URL
set): the queue lives in Redis and `sessioncloud worker` processes, on any machine, run the jobs.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from django.conf import settings
from huey.consumer import Consumer

from sessioncloud.onboarding.queue import huey

# Without Redis the consumer polls SQLite: one cheap query a second at most keeps the wait
# before a job starts short (Redis pushes new jobs at once).
POLL_MAX_DELAY = 1.0
SHUTDOWN_SECONDS = 15


def make_consumer(threads: int, **options: Any) -> Consumer:
    from sessioncloud.onboarding import jobs  # noqa: F401  (registers the tasks)

    return Consumer(
        huey,
        workers=threads,
        worker_type="thread",
        periodic=True,
        max_delay=POLL_MAX_DELAY,
        check_worker_health=True,
        shutdown_timeout=SHUTDOWN_SECONDS,
        **options,
    )


def start_embedded_worker() -> subprocess.Popen | None:
    """Embedded default (no REDIS_URL): `serve` starts one `sessioncloud worker` beside itself.

    A process of its own keeps long jobs off the web server's threads; it stops when `serve`
    exits, and by itself should `serve` die without saying so.
    """
    if settings.REDIS_URL:
        return None  # scale-out: run `sessioncloud worker` processes
    worker = subprocess.Popen(  # noqa: S603 - this very program
        [sys.executable, "-m", "sessioncloud.cli", "worker", "--threads", "1", "--parent", str(os.getpid())]
    )
    atexit.register(_stop, worker)
    return worker


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()  # graceful: the running job may finish within SHUTDOWN_SECONDS
        try:
            worker.wait(timeout=SHUTDOWN_SECONDS + 5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _stop_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_worker(argv: list[str]) -> int:
    """`sessioncloud worker`: run bulk jobs from the shared queue (scale-out mode)."""
    parser = argparse.ArgumentParser(
        prog="sessioncloud worker", description="Run bulk jobs (imports, QR codes, e-mails) from the queue."
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("SESSIONCLOUD_WORKER_THREADS", "2")),
        help="jobs run at the same time in this process (default 2)",
    )
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # set by `serve`
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    import django

    django.setup()
    if args.parent:
        _stop_with_parent(args.parent)
    elif not settings.REDIS_URL:
        print(
            "sessioncloud worker: REDIS_URL is not set, so jobs queue in the data directory and "
            "`sessioncloud serve` runs them itself; this worker shares that queue.",
            flush=True,
        )
    # SIGTERM (what service managers send) lets running jobs finish; SIGINT stops at once.
    make_consumer(max(1, args.threads), graceful_signal="TERM").run()
    return 0
