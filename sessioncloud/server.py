"""`sessioncloud serve`: granian serving serving/front.py (RSGI) on an event loop per worker.

Each worker process answers the phone API on its event loop and runs Django (portal,
management API, admin) on a small pool of threads. A wait on a provider's service holds no
thread, so the pools stay small: they only have to keep up with the CPU. docs/performance.md
has the measurements behind the defaults.
"""

from __future__ import annotations

import argparse
import os

from sessioncloud.lib.publicurl import warn_on_port_mismatch
from sessioncloud.serving.pools import (
    DEFAULT_PHONE_THREADS,
    LOCAL_POSTGRESQL_PHONE_THREADS,
    configured_phone_threads,
)

FRONT_TARGET = "sessioncloud.serving.front:application"
DEFAULT_DJANGO_THREADS = 16
# Longer than any provider call may take (15 s), so a worker told to stop finishes its calls.
SHUTDOWN_GRACE_SECONDS = 20
# About 40 MB per 1,000 requests waiting (docs/performance.md), and two file descriptors each.
MAX_REQUESTS_PER_WORKER = 8192
# docs/performance.md, "An in-process cache in front of Redis?": the measurements behind it.
LOCAL_TIER_BY_DEFAULT = True


def default_workers() -> int:
    # Without Redis the cache and rate limits live in-process, so one process must serve all.
    if not os.environ.get("REDIS_URL"):
        return 1
    return max(2, os.cpu_count() or 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sessioncloud serve", description="Serve the portal and API.")
    parser.add_argument("--host", default=os.environ.get("SESSIONCLOUD_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SESSIONCLOUD_PORT", "8000")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("SESSIONCLOUD_WORKERS", "0")) or None,
        help="worker processes (default: 1 without REDIS_URL, else one per core)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("SESSIONCLOUD_THREADS", str(DEFAULT_DJANGO_THREADS))),
        help="threads per worker for the portal, management API and admin",
    )
    parser.add_argument(
        "--phone-threads",
        type=int,
        default=configured_phone_threads(),
        help=(
            "threads per worker for the phone API's database and cache work (default: "
            f"{LOCAL_POSTGRESQL_PHONE_THREADS} with PostgreSQL on this machine, else {DEFAULT_PHONE_THREADS})"
        ),
    )
    return parser.parse_args(argv)


def serve(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    # With Redis, the workers answer phone configs from memory under a lease (providers/config.py);
    # set SESSIONCLOUD_CONFIG_LOCAL_TIER=false to answer every one from Redis.
    os.environ.setdefault("SESSIONCLOUD_CONFIG_LOCAL_TIER", "true" if LOCAL_TIER_BY_DEFAULT else "false")
    # Read by serving/front.py in each worker.
    os.environ["SESSIONCLOUD_DJANGO_THREADS"] = str(args.threads)
    os.environ["SESSIONCLOUD_PHONE_THREADS"] = str(args.phone_threads)
    import django

    django.setup()  # fail fast on configuration errors, before forking workers
    warn_on_port_mismatch(django.conf.settings.PUBLIC_URL, args.host, args.port)
    from sessioncloud.onboarding.runner import start_embedded_worker

    start_embedded_worker()  # bulk jobs, embedded default only (no REDIS_URL): see that module
    run_granian(args.host, args.port, args.workers or default_workers())
    return 0


def run_granian(host: str, port: int, workers: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        FRONT_TARGET,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        # uvloop: the same loop with less CPU per socket operation (docs/performance.md).
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        backlog=4096,
        # Requests each worker takes on at once. Granian's default (backlog ÷ workers) would hold
        # 2,000 phones waiting on a slow provider back in the kernel's queue; the bound that
        # matters is per App (SESSIONCLOUD_PROVIDER_CALLS_PER_APP), and this only caps memory.
        backpressure=MAX_REQUESTS_PER_WORKER,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
        workers_kill_timeout=SHUTDOWN_GRACE_SECONDS,
    ).serve()
