"""Hostile providers, end to end: a real `sessioncloud serve` process, the real phone API.

Every App points at one misbehaviour of the hostile service (tests/reliability/hostile.py).
Each provisioning call must end within the App's timeout with the right error code, the
connection to the hostile service must be closed by SessionCloud (no worker left waiting), and
afterwards the server must still answer, and the same slow calls again must add no thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sessioncloud.accounts.models import Organization
from sessioncloud.providers.models import ProvisioningLogEntry
from tests.factories import make_app
from tests.providerstub import ProviderStub, stop_stub
from tests.reliability import figures
from tests.reliability.hostile import (
    CASES,
    Connection,
    HostileService,
    self_signed_context,
    start_canary,
    start_hostile_service,
)
from tests.reliability.processes import ServerProcess, server_process, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 2  # seconds: the provisioning timeout of every hostile App
BOUND = TIMEOUT + 2.0  # generous: the answer must come within the timeout, plus start-up noise

TIMEOUT_504 = (504, "provider_timeout")
BAD_502 = (502, "provider_bad_response")
UNREACHABLE_502 = (502, "provider_unreachable")
EXPECTED: dict[str, tuple[int, str | None]] = {
    "good": (200, None),
    "silent": TIMEOUT_504,
    "slow-headers": TIMEOUT_504,
    "informational-then-nothing": TIMEOUT_504,
    "slow-body": TIMEOUT_504,
    "endless-body": BAD_502,
    "endless-body-declared": BAD_502,
    "gzip-bomb": BAD_502,
    "gzip-bomb-unlabelled": BAD_502,
    "html-error-page": BAD_502,
    # Providers' scripts often label JSON text/html; the body decides, as it always has.
    "json-labelled-as-html": (200, None),
    "invalid-utf8": BAD_502,
    "huge-number": BAD_502,
    "huge-exponent": BAD_502,
    "deep-nesting": BAD_502,
    "duplicate-keys": BAD_502,
    "too-many-accounts": BAD_502,
    "top-level-array": BAD_502,
    "empty-body": BAD_502,
    "redirect-to-loopback": BAD_502,
    "redirect-to-metadata": BAD_502,
    "redirect-to-https": BAD_502,
    "server-error": (502, "provider_error"),
    "reset-mid-answer": UNREACHABLE_502,
    "closed-mid-answer": BAD_502,
    "not-http": BAD_502,
    "huge-headers": BAD_502,
    "answer-without-length": (200, None),
    "tls-bad-certificate": UNREACHABLE_502,
}
SLOW_CASES = (
    "silent",
    "slow-headers",
    "informational-then-nothing",
    "slow-body",
    "endless-body",
    "endless-body-declared",
)


def provision(base: str, provider_id: str, device_id: str) -> tuple[int, dict[str, Any], float]:
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps(
        {"providerId": provider_id, "username": "1000", "password": "1234", "deviceId": device_id}
    )
    started = time.monotonic()
    try:
        connection.request(
            "POST", "/api/v1/provision", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = json.loads(response.read() or b"{}")
        return response.status, answer, time.monotonic() - started
    finally:
        connection.close()


def quick_get(base: str, path: str) -> tuple[int, float]:
    parts = urlsplit(base)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
    started = time.monotonic()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


def held_for(connection: Connection) -> float:
    """How long SessionCloud held a connection that it has hung up."""
    assert connection.closed_by_caller is not None
    return connection.closed_by_caller - connection.opened


def code_of(status: int, answer: dict[str, Any]) -> tuple[int, str | None]:
    return status, (answer.get("error") or {}).get("code")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[HostileService, HostileService, ProviderStub]]:
    plain = start_hostile_service()
    tls = start_hostile_service(self_signed_context(tmp_path))
    canary = start_canary()
    yield plain, tls, canary
    plain.close()
    tls.close()
    stop_stub(canary)


@pytest.fixture
def hostile_apps(services: tuple[HostileService, HostileService, ProviderStub]) -> dict[str, str]:
    """One App per case (so one case's failures never open another's circuit breaker)."""
    plain, tls, _ = services
    org = Organization.objects.create(slug="hostile", name="Hostile tests")
    apps = {}
    for number, case in enumerate(EXPECTED):
        url = tls.url("good") if case == "tls-bad-certificate" else plain.url(case)
        provider_id = f"Hostile{number}"
        make_app(
            org, provider_id, provisioning_mode="external", provisioning_url=url, provisioning_timeout=TIMEOUT
        )
        apps[case] = provider_id
    return apps


def run_cases(server: ServerProcess, apps: dict[str, str]) -> tuple[dict[str, Any], dict[str, float]]:
    answers, elapsed = {}, {}
    for case, provider_id in apps.items():
        status, answer, seconds = provision(server.base, provider_id, f"device-{case}")
        answers[case] = code_of(status, answer)
        elapsed[case] = seconds
    return answers, elapsed


def test_every_hostile_answer_ends_in_time_with_its_error_code_and_no_worker_stuck(services, hostile_apps):
    plain, tls, canary = services
    assert set(CASES) | {"tls-bad-certificate"} == set(EXPECTED)  # every misbehaviour has an expectation
    env = {
        "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
        "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
        "SESSIONCLOUD_RATE_LIMITS": "provision_user=off,provision_ip=off",
    }
    with server_process(threads=8, **env) as server:
        assert code_of(*provision(server.base, hostile_apps["good"], "warm-up")[:2]) == (200, None)

        answers, elapsed = run_cases(server, hostile_apps)

        for case in EXPECTED:
            figures.case("hostile providers", answers[case] == EXPECTED[case] and elapsed[case] < BOUND)
        assert answers == EXPECTED
        assert {case: round(s, 1) for case, s in elapsed.items() if s >= BOUND} == {}

        # SessionCloud hung up on every hostile connection, each within the App's timeout.
        def all_closed() -> bool:
            return all(c.closed_by_caller is not None for c in plain.connections)

        assert wait_for(all_closed, 5)
        held = {c.case: round(held_for(c), 1) for c in plain.connections if held_for(c) >= BOUND}
        assert held == {}
        assert sorted({c.case for c in plain.connections}) == sorted(set(EXPECTED) - {"tls-bad-certificate"})
        assert canary.requests == []  # no redirect was followed

        # Nothing is left waiting: the server still answers, with no extra threads.
        assert [quick_get(server.base, "/healthz")[0] for _ in range(3)] == [200, 200, 200]
        assert quick_get(server.base, f"/api/v1/providers/{hostile_apps['good']}/config")[0] == 200

        # The server's thread pool may grow once to cover a slow call; the same hostile calls
        # again must not grow it further (a thread stuck on each would).
        threads_after_first_round = server.threads_of_workers()
        again = {case: hostile_apps[case] for case in SLOW_CASES}
        assert run_cases(server, again)[0] == {case: EXPECTED[case] for case in SLOW_CASES}
        assert server.threads_of_workers() == threads_after_first_round

    failed = dict(
        ProvisioningLogEntry.objects.filter(outcome="failed").values_list("device_id", "error_code")
    )
    assert failed == {f"device-{case}": code for case, (status, code) in EXPECTED.items() if status != 200}


def test_the_provisioning_log_says_exactly_why_each_answer_was_refused(services, hostile_apps):
    plain, _, _ = services
    env = {"SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8", "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true"}
    cases = [
        "gzip-bomb",
        "endless-body",
        "endless-body-declared",
        "redirect-to-metadata",
        "duplicate-keys",
        "deep-nesting",
        "huge-number",
        "invalid-utf8",
        "top-level-array",
        "server-error",
        "silent",
        "not-http",
        "huge-headers",
        "closed-mid-answer",
        "reset-mid-answer",
    ]
    with server_process(threads=4, **env) as server:
        for case in cases:
            provision(server.base, hostile_apps[case], f"device-{case}")
    details = dict(ProvisioningLogEntry.objects.values_list("device_id", "detail"))
    where = f"127.0.0.1:{plain.port}"
    assert {case: details[f"device-{case}"] for case in cases} == {
        "gzip-bomb": "compressed answer refused (Content-Encoding: gzip)",
        "endless-body": "answer larger than 262144 bytes",
        "endless-body-declared": "answer larger than 262144 bytes",
        "redirect-to-metadata": "redirect to "
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/ "
        "not followed",
        "duplicate-keys": 'invalid answer: body: JSON has the key "sipaccounts" twice',
        "deep-nesting": "invalid answer: body: JSON nests deeper than 32 levels",
        "huge-number": "invalid answer: body: JSON holds a number longer than 32 characters",
        "invalid-utf8": "invalid answer: body: not valid UTF-8 (byte 0xe9 at position 31)",
        "top-level-array": "invalid answer: answer: expected a JSON object, got an array",
        "server-error": "the provider answered HTTP 500",
        "silent": f"no complete answer from {where} within 2 s",
        "not-http": f"invalid HTTP answer from {where}: Expected HTTP/, RTSP/ or ICE/",
        "huge-headers": f"invalid HTTP answer from {where}: status line and headers longer than 102400 bytes",
        "closed-mid-answer": f"invalid HTTP answer from {where}: "
        "the connection closed before the answer was complete",
        "reset-mid-answer": f"connection to {where} failed: [Errno 104] Connection reset by peer",
    }
