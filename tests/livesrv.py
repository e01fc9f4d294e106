"""Real `sessioncloud serve` processes on loopback, sharing the test database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.request import urlopen

from django.conf import settings
from django.db import connection


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database this test run uses (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "SESSIONCLOUD_ENCRYPTION_KEYS": ",".join(settings.SESSIONCLOUD_ENCRYPTION_KEYS),
            "SESSIONCLOUD_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def wait_until_up(base: str, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urlopen(f"{base}/healthz", timeout=1):  # loopback
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not come up")


@contextmanager
def running_server_process(threads: int = 8, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """A `sessioncloud serve` on a free loopback port: its base URL and the process itself."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sessioncloud.cli",
            "serve",
            "--port",
            str(port),
            "--threads",
            str(threads),
            "--workers",
            "1",
        ],
        env=server_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_up(base, process)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_server(threads: int = 8, **env: str) -> Iterator[str]:
    with running_server_process(threads, **env) as (base, _process):
        yield base
