"""Real `sessioncloud serve` processes that a test can inspect and kill -9.

Like tests/livesrv.running_server, but the process leads its own process group (so the
master and its worker can be killed together, as a crash would) and exposes its pids.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.livesrv import free_port, server_env, wait_until_up


class ServerProcess:
    def __init__(self, threads: int = 8, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe would
        # block its writes.
        self.log = tempfile.NamedTemporaryFile(prefix="sessioncloud-serve-", suffix=".log")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sessioncloud.cli",
                "serve",
                "--port",
                str(self.port),
                "--threads",
                str(threads),
                "--workers",
                str(workers),
            ],
            env=server_env(**env),
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            start_new_session=True,
        )
        try:
            wait_until_up(self.base, self.process)
        except BaseException:
            self.kill()
            raise

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def threads_of_workers(self) -> int:
        """How many threads the worker processes run right now."""
        total = 0
        for pid in self.worker_pids():
            try:
                total += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
        return total

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: what a crash or an OOM kill does."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def log_text(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


@contextmanager
def server_process(threads: int = 8, workers: int = 1, **env: str) -> Iterator[ServerProcess]:
    server = ServerProcess(threads=threads, workers=workers, **env)
    try:
        yield server
    finally:
        server.stop()
        server.log.close()


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False
