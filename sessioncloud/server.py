"""`sessioncloud serve`: the production WSGI server (granian by default, or gunicorn gthread).

Both run the same WSGI application in several processes, each with a pool of threads. The
threads wait on providers' services (up to 15 s each), so there are many of them: a slow
upstream must not starve the config endpoint. docs/performance.md has the measurements behind
the defaults.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from sessioncloud.lib.publicurl import warn_on_port_mismatch

SERVERS = ("granian", "gunicorn")
WSGI_TARGET = "sessioncloud.wsgi:application"
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
    parser.add_argument("--server", choices=SERVERS, default=os.environ.get("SESSIONCLOUD_SERVER", "granian"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SESSIONCLOUD_WORKERS", "0")) or None)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SESSIONCLOUD_THREADS", "64")),
                        help="threads per worker process (each serves one request at a time)")
    return parser.parse_args(argv)


def serve(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    # Each process shares a few PostgreSQL connections among its threads.
    os.environ.setdefault("DATABASE_POOL_SIZE", "16")
    # With Redis, the workers answer phone configs from memory under a lease (providers/config.py);
    # set SESSIONCLOUD_CONFIG_LOCAL_TIER=false to answer every one from Redis.
    os.environ.setdefault("SESSIONCLOUD_CONFIG_LOCAL_TIER", "true" if LOCAL_TIER_BY_DEFAULT else "false")
    import django

    django.setup()  # fail fast on configuration errors, before forking workers
    warn_on_port_mismatch(django.conf.settings.PUBLIC_URL, args.host, args.port)
    from sessioncloud.onboarding.runner import start_embedded_worker

    start_embedded_worker()  # bulk jobs, embedded default only (no REDIS_URL): see that module
    workers = args.workers or default_workers()
    if args.server == "granian":
        run_granian(args.host, args.port, workers, args.threads)
    else:
        run_gunicorn(args.host, args.port, workers, args.threads)
    return 0


def run_granian(host: str, port: int, workers: int, threads: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        WSGI_TARGET,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        http=HTTPModes.http1,
        websockets=False,
        workers=workers,
        blocking_threads=threads,
        backlog=2048,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
    ).serve()


def run_gunicorn(host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from sessioncloud.wsgi import application

            return application

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "preload_app": False,
    }
    _Gunicorn().run()
