"""examples/provider_service.py, called by SessionCloud's real upstream client."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.provisioning.answer import ProviderAnswer
from sessioncloud.provisioning.upstream import (
    UpstreamRequest,
    UpstreamResult,
    call_provider_blocking,
)
from tests.providerstub import LOOPBACK_POLICY

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "provider_service.py"
SECRET = "example-signing-secret"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provider_service", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def start_service(example: ModuleType) -> Iterator[Callable[[str | None], str]]:
    servers = []

    def start(secret: str | None) -> str:
        server = example.make_server("127.0.0.1", 0, secret)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/provisioning"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def login(url: str, username: str, password: str, secrets: tuple[str, ...] = (SECRET,)) -> UpstreamResult:
    request = UpstreamRequest(
        url=url,
        username=username,
        password=password,
        device_id="dev-1",
        signing_secrets=secrets,
        timeout_seconds=2,
    )
    return call_provider_blocking(request, LOOPBACK_POLICY)


@pytest.mark.parametrize("username", ["1000", "1001"])
def test_it_provisions_a_known_user(start_service: Callable[[str | None], str], username: str) -> None:
    result = login(start_service(SECRET), username, "1234")

    assert result.error_code is None
    assert result.answer == ProviderAnswer(
        update=True,
        errmsg="",
        sipaccounts=[
            SipAccount(
                sipusername=username,
                sippassword=f"demo-sip-secret-{username}",
                displayname=f"Demo {username}",
            )
        ],
        xmppaccounts=[],
    )


@pytest.mark.parametrize(("username", "password"), [("1000", "wrong"), ("1002", "1234"), ("", "")])
def test_it_rejects_other_credentials_with_an_errmsg(
    start_service: Callable[[str | None], str], username: str, password: str
) -> None:
    result = login(start_service(SECRET), username, password)

    assert result.error_code is None
    assert result.answer == ProviderAnswer(
        update=True, errmsg="Wrong username or password.", sipaccounts=[], xmppaccounts=[]
    )


def test_it_rejects_a_call_signed_with_another_secret(start_service: Callable[[str | None], str]) -> None:
    result = login(start_service(SECRET), "1000", "1234", secrets=("not-the-secret",))

    assert (result.error_code, result.status, result.detail) == (
        "provider_error",
        401,
        "the provider answered HTTP 401",
    )
    assert result.body_text == '{"error": "bad or missing X-SessionCloud-Signature"}'


def test_it_rejects_an_unsigned_call(start_service: Callable[[str | None], str]) -> None:
    result = login(start_service(SECRET), "1000", "1234", secrets=())

    assert (result.error_code, result.status) == ("provider_error", 401)


def test_it_accepts_a_call_signed_during_rotation(start_service: Callable[[str | None], str]) -> None:
    result = login(start_service(SECRET), "1000", "1234", secrets=("previous-secret", SECRET))

    assert result.error_code is None


def test_it_rejects_a_replayed_old_signature(start_service: Callable[[str | None], str]) -> None:
    request = UpstreamRequest(
        url=start_service(SECRET), username="1000", password="1234", signing_secrets=(SECRET,)
    )

    result = call_provider_blocking(request, LOOPBACK_POLICY, clock=lambda: time.time() - 301)

    assert (result.error_code, result.status) == ("provider_error", 401)


def test_without_a_secret_it_does_not_check_signatures(start_service: Callable[[str | None], str]) -> None:
    result = login(start_service(None), "1001", "1234", secrets=())

    assert result.error_code is None
    assert result.answer is not None and result.answer.sipaccounts[0].sipusername == "1001"


def test_it_runs_as_a_program_and_keeps_passwords_out_of_its_log() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PROVIDER_SIGNING_SECRET": SECRET}
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().strip()
        result = login(f"http://127.0.0.1:{port}/provisioning", "1000", "wrong-pw-xyz")
    finally:
        process.terminate()
        _, log = process.communicate(timeout=5)

    assert banner == f"Example provider service on http://127.0.0.1:{port}/provisioning, verifying signatures"
    assert result.answer is not None and result.answer.errmsg == "Wrong username or password."
    assert "GET /provisioning 200" in log
    assert "wrong-pw-xyz" not in log
