"""`sessioncloud serve`: the production WSGI server (gunicorn, gthread workers)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from sessioncloud.wsgi import application

        return application


def default_workers() -> int:
    # Without Redis the cache and rate limits live in-process, so one process must serve all.
    if not os.environ.get("REDIS_URL"):
        return 1
    return max(2, os.cpu_count() or 1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sessioncloud serve", description="Serve the portal and API.")
    parser.add_argument("--host", default=os.environ.get("SESSIONCLOUD_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SESSIONCLOUD_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SESSIONCLOUD_WORKERS", "0")) or None)
    # Threads wait on providers' services (up to 15 s each): many threads keep slow upstreams
    # from starving the config endpoint.
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SESSIONCLOUD_THREADS", "64")))
    return parser.parse_args(argv)


def serve(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    import django

    django.setup()  # fail fast on configuration errors, before forking workers
    options = {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers or default_workers(),
        "worker_class": "gthread",
        "threads": args.threads,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "preload_app": False,
    }
    _Server(options).run()
    return 0
