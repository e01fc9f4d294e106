"""Shared pieces of the reference phone's tests: one live server, the example provider service,
and a way to run `sessioncloud phone` in-process against them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sessioncloud.accounts.models import Organization
from sessioncloud.phone.cli import main
from sessioncloud.providers.models import App
from tests.factories import make_app
from tests.livesrv import running_server

PROVIDER_SERVICE = Path(__file__).resolve().parents[2] / "examples" / "provider_service.py"
PhoneRunner = Callable[..., int]


@pytest.fixture(autouse=True)
def no_phone_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own phone settings must not leak into the tests.
    monkeypatch.delenv("SESSIONCLOUD_PHONE_SERVER", raising=False)
    monkeypatch.delenv("SESSIONCLOUD_PHONE_STATE", raising=False)


@pytest.fixture(scope="session")
def sessioncloud_server(django_db_setup: Any) -> Iterator[str]:
    """One real `sessioncloud serve` for every end-to-end test, allowed to call loopback.

    It caches each config in its own memory, where the test process cannot clear it, so
    every test uses ProviderIds of its own.
    """
    with running_server(
        SESSIONCLOUD_OUTBOUND_ALLOW_NETS="127.0.0.0/8", SESSIONCLOUD_OUTBOUND_ALLOW_HTTP="true"
    ) as base:
        yield base


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "phone.json"


@pytest.fixture
def phone(sessioncloud_server: str, state_file: Path) -> PhoneRunner:
    """Run `sessioncloud phone --server <live> --state <tmp> ARGS...`; returns the status."""

    def run(*args: str) -> int:
        return main(["--server", sessioncloud_server, "--state", str(state_file), *args])

    return run


def read_state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def start_provider_service() -> Iterator[Callable[[str], str]]:
    """Start examples/provider_service.py on a free loopback port; returns its URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(secret: str) -> str:
        process = subprocess.Popen(
            [sys.executable, str(PROVIDER_SERVICE), "--host", "127.0.0.1", "--port", "0"],
            env={"PROVIDER_SIGNING_SECRET": secret, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        # "Example provider service on http://127.0.0.1:<port>/provisioning, verifying ..."
        banner = process.stdout.readline()
        assert "verifying signatures" in banner, banner
        return banner.split(" on ", 1)[1].split(",", 1)[0]

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def external_app(org: Organization, start_provider_service: Callable[[str], str]) -> Callable[..., App]:
    """An App in external mode, pointed at a running example provider service."""

    def make(provider_id: str, **values: Any) -> App:
        app = make_app(
            org,
            provider_id,
            provisioning_mode="external",
            provisioning_url="http://127.0.0.1:9/provisioning",
            **values,
        )
        # The service checks signatures with the secret the App generated when it was saved.
        url = start_provider_service(app.signing_secret_list()[0])
        App.objects.filter(pk=app.pk).update(provisioning_url=url)
        app.refresh_from_db()
        return app

    return make
