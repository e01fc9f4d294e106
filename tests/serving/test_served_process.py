"""A real `sessioncloud serve`: one tenant's slow provider does not stall another tenant,
calls past an App's bound are refused at once, and a stopping server finishes its calls."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from sessioncloud.providers.models import ProvisioningLogEntry
from tests.factories import make_app
from tests.livesrv import free_port
from tests.reliability.processes import ServerProcess, server_process

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent.parent
LOOPBACK = {
    "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
    "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
    "SESSIONCLOUD_RATE_LIMITS": "provision_user=1000/m,provision_ip=100000/m",
}


@contextmanager
def provider_service(latency: float) -> Iterator[str]:
    """The asyncio provider stub of the benchmarks: every answer after exactly `latency` seconds."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "upstream_stub.py"),
            "--port",
            str(port),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/provisioning"
    finally:
        process.terminate()
        process.wait(timeout=10)


def external(org: Any, provider_id: str, url: str, **values: Any) -> Any:
    return make_app(org, provider_id, provisioning_mode="external", provisioning_url=url, **values)


def post_provision(
    base: str, provider_id: str, username: str, timeout: float = 30
) -> tuple[int, dict, float]:
    payload = json.dumps(
        {
            "providerId": provider_id,
            "username": username,
            "password": "1234",
            "deviceId": f"dev-{provider_id}-{username}",
        }
    ).encode()
    request = Request(f"{base}/api/v1/provision", data=payload, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urlopen(request, timeout=timeout) as response:  # loopback
            return response.status, json.loads(response.read()), time.monotonic() - started
    except HTTPError as error:
        return error.code, json.loads(error.read()), time.monotonic() - started


def get_config(base: str, provider_id: str) -> tuple[int, float]:
    started = time.monotonic()
    with urlopen(f"{base}/api/v1/providers/{provider_id}/config", timeout=30) as response:
        response.read()
        return response.status, time.monotonic() - started


def in_threads(count: int, call: Any) -> tuple[list[Any], list[threading.Thread]]:
    results: list[Any] = []
    threads = [threading.Thread(target=lambda n=n: results.append(call(n))) for n in range(count)]
    for thread in threads:
        thread.start()
    return results, threads


def test_a_slow_providers_calls_leave_another_tenant_answered_promptly(org, other_org):
    with provider_service(2.0) as slow_url, provider_service(0.0) as quick_url:
        external(org, "SlowInc", slow_url)
        external(other_org, "QuickInc", quick_url)
        with server_process(**LOOPBACK) as server:
            get_config(server.base, "QuickInc")  # rendered once, as in steady state
            slow, threads = in_threads(100, lambda n: post_provision(server.base, "SlowInc", f"u{n}"))
            time.sleep(0.5)  # the slow tenant's 100 calls are all waiting now
            configs = [get_config(server.base, "QuickInc") for _ in range(20)]
            provisions = [post_provision(server.base, "QuickInc", f"q{n}") for n in range(5)]
            still_waiting = sum(thread.is_alive() for thread in threads)
            for thread in threads:
                thread.join(timeout=30)

    assert still_waiting >= 90  # the neighbour's answers came while its phones were still waiting
    assert [status for status, _ in configs] == [200] * 20
    assert max(seconds for _, seconds in configs) < 1.0
    assert [status for status, _, _ in provisions] == [200] * 5
    assert max(seconds for _, _, seconds in provisions) < 1.0
    assert sorted(status for status, _, _ in slow) == [200] * 100
    assert min(seconds for _, _, seconds in slow) >= 1.9


def test_a_workers_calls_to_a_provider_share_its_connection(org):
    with provider_service(0.0) as url:
        external(org, "KeptInc", url)
        with server_process(**LOOPBACK) as server:
            answers = [post_provision(server.base, "KeptInc", f"u{n}") for n in range(10)]
            with urlopen(f"{server.base}/metrics", timeout=10) as response:  # loopback
                metrics = response.read().decode()
        with urlopen(url.replace("/provisioning", "/stats"), timeout=10) as response:  # loopback
            stats = json.loads(response.read())

    assert [status for status, _, _ in answers] == [200] * 10
    # One worker, one call at a time: one connection for all ten, besides the readiness check's
    # and the one asking for these figures (twelve if each call opened its own).
    assert (stats["answered"], stats["connections"]) == (10, 3)
    assert 'sessioncloud_provider_connections_total{connection="new"} 1.0' in metrics
    assert 'sessioncloud_provider_connections_total{connection="kept"} 9.0' in metrics


def test_calls_past_the_apps_bound_are_refused_at_once(org):
    with provider_service(1.5) as url:
        external(org, "BoundInc", url, max_calls_in_flight=2)
        with server_process(**LOOPBACK) as server:
            results, threads = in_threads(5, lambda n: post_provision(server.base, "BoundInc", f"u{n}"))
            for thread in threads:
                thread.join(timeout=30)

    refused = [(status, body, seconds) for status, body, seconds in results if status == 503]
    assert sorted(status for status, _, _ in results) == [200, 200, 503, 503, 503]
    assert {body["error"]["code"] for _, body, _ in refused} == {"provider_busy"}
    assert max(seconds for _, _, seconds in refused) < 1.0
    assert ProvisioningLogEntry.objects.filter(error_code="provider_busy").count() == 3


def test_a_stopping_server_lets_its_calls_in_flight_finish(org):
    with provider_service(2.0) as url:
        external(org, "SlowInc", url)
        server = ServerProcess(**LOOPBACK)
        try:
            results, threads = in_threads(3, lambda n: post_provision(server.base, "SlowInc", f"u{n}"))
            time.sleep(0.5)
            server.process.terminate()  # what a deployment does to stop it
            for thread in threads:
                thread.join(timeout=30)
            server.process.wait(timeout=25)
        finally:
            server.stop()

    assert [status for status, _, _ in results] == [200] * 3
    assert [len(body["sipaccounts"]) for _, body, _ in results] == [1] * 3


def test_a_phone_that_hangs_up_cancels_its_call_and_the_log_says_so(org):
    with provider_service(3.0) as url:
        external(org, "SlowInc", url)
        with server_process(**LOOPBACK) as server:
            payload = json.dumps(
                {"providerId": "SlowInc", "username": "1000", "password": "1234", "deviceId": "hangs-up"}
            ).encode()
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(
                    b"POST /api/v1/provision HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    b"application/json\r\n" + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
                )
                time.sleep(0.5)
            hung_up = time.monotonic()
            while (
                time.monotonic() < hung_up + 10
                and not ProvisioningLogEntry.objects.filter(device_id="hangs-up").exists()
            ):
                time.sleep(0.05)
            logged_after = time.monotonic() - hung_up

    logged = ProvisioningLogEntry.objects.get(device_id="hangs-up")
    assert (logged.outcome, logged.error_code) == ("cancelled", "client_disconnected")
    assert logged_after < 2.0  # as soon as the phone was gone, not when the provider answered (3 s)


def test_a_streamed_answer_arrives_whole(org):
    # Static files are streamed by Django in blocks of a few KiB: every block must reach the client.
    stylesheet = ROOT / "sessioncloud" / "portal" / "static" / "portal" / "portal.css"
    with (
        server_process() as server,
        urlopen(f"{server.base}/static/portal/portal.css", timeout=30) as response,
    ):  # noqa: S310
        received, length = response.read(), response.headers["Content-Length"]

    assert stylesheet.stat().st_size > 3 * 4096
    assert (len(received), int(length)) == (stylesheet.stat().st_size, stylesheet.stat().st_size)
    assert received == stylesheet.read_bytes()
