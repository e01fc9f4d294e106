"""Scale-out: three app processes behind nginx (the repo's proxy settings), sharing PostgreSQL
and Redis, behave as one service."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from django.db import connection

from sessioncloud.accounts.models import ApiKey
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user
from tests.livesrv import free_port, running_server
from tests.providerstub import ProviderStub, silent, start_stub, stop_stub

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="app processes share state through Redis (REDIS_URL)"
    ),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="several app processes need PostgreSQL"),
]

PROXY_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "sessioncloud-proxy.conf"
SITE_CONF = PROXY_CONF.with_name("sessioncloud.conf")
METRICS_TOKEN = "scrape-token-for-the-private-network"


def private_locations() -> str:
    """The shipped site's `location = ...` blocks that keep paths away from the internet."""
    found = re.findall(r"^    location = [^{]+\{[^}]*\}", SITE_CONF.read_text(), re.MULTILINE)
    assert found, f"{SITE_CONF} keeps no path private"
    return "\n".join(found)


LOAD_BALANCER = """
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream sessioncloud {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        # Which process answered, so the test can see the requests were spread.
        add_header X-Upstream $upstream_addr always;
{private_locations}
        location / {{
            include {proxy_conf};
        }}
    }}
}}
"""
PROCESS_ENV = {
    "SESSIONCLOUD_TRUSTED_PROXY_COUNT": "1",
    "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
    "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
    "SESSIONCLOUD_RATE_LIMITS": "provision_user=3/m,provision_ip=1000/m,redeem_ip=1000/m",
    # Configs answered from each process's memory, under leases (lib/leases.py).
    "SESSIONCLOUD_CONFIG_LOCAL_TIER": "true",
    "SESSIONCLOUD_METRICS_TOKEN": METRICS_TOKEN,
}


@contextmanager
def nginx_in_front_of(backends: list[str]) -> Iterator[str]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.fail("nginx is not installed (scripts/services.sh installs it: apt-get install -y nginx)")
    prefix = Path(tempfile.mkdtemp(prefix="sessioncloud-lb-"))
    port = free_port()
    servers = "\n".join(f"        server {base.removeprefix('http://')};" for base in backends)
    conf = prefix / "nginx.conf"
    conf.write_text(
        LOAD_BALANCER.format(
            prefix=prefix,
            servers=servers,
            port=port,
            proxy_conf=PROXY_CONF,
            private_locations=private_locations(),
        )
    )
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    detail = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"nginx did not start: {detail}") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(prefix, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(django_db_setup: Any) -> Iterator[tuple[str, list[str]]]:
    """nginx's address and the three app processes' own addresses (shared by the module's tests:
    the processes keep nothing between requests, and each test starts with an empty database
    and an empty Redis)."""
    with ExitStack() as stack:
        processes = [stack.enter_context(running_server(**PROCESS_ENV)) for _ in range(3)]
        yield stack.enter_context(nginx_in_front_of(processes)), processes


@pytest.fixture
def provider() -> Iterator[ProviderStub]:
    stub = start_stub()
    yield stub
    stop_stub(stub)


def call(
    url: str,
    body: dict | None = None,
    *,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> tuple[int, dict, str]:
    """Status, JSON body and the X-Upstream header (which process nginx chose).

    `source` sends the request from another loopback address: another caller, as nginx sees it.
    """
    data = json.dumps(body).encode() if body is not None else None
    if source is not None:
        return call_from(source, url, data, method or ("POST" if data else "GET"), headers or {})
    request = Request(
        url,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urlopen(request, timeout=15) as response:
            return response.status, json.load(response), response.headers.get("X-Upstream", "")
    except HTTPError as error:
        return error.code, json.load(error), error.headers.get("X-Upstream", "")


def call_from(
    source: str, url: str, data: bytes | None, method: str, headers: dict[str, str]
) -> tuple[int, dict, str]:
    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=15, source_address=(source, 0))
    try:
        connection.request(
            method, parts.path, body=data, headers={"Content-Type": "application/json", **headers}
        )
        response = connection.getresponse()
        return response.status, json.load(response), response.headers.get("X-Upstream", "")
    finally:
        connection.close()


def provision(base: str, username: str, provider_id: str, source: str | None = None) -> tuple[int, dict, str]:
    return call(
        f"{base}/api/v1/provision",
        {"providerId": provider_id, "username": username, "password": "1234", "deviceId": f"dev-{username}"},
        source=source,
    )


def test_a_change_is_seen_through_every_process_at_once(org, cluster):
    balancer, processes = cluster
    make_app(org, "ScaleInc")
    _, key = ApiKey.issue(org, "scale")
    config = "/api/v1/providers/ScaleInc/config"
    # Every process has the old answer, through nginx and directly.
    seen = {call(balancer + config)[2] for _ in range(3)}
    assert {call(base + config)[1]["name"] for base in processes} == {"Acme Telecom"}
    status, _, _ = call(
        f"{balancer}/api/v1/manage/apps/ScaleInc",
        {"name": "Renamed Telecom"},
        method="PATCH",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert status == 200
    assert [call(base + config)[1]["name"] for base in processes] == ["Renamed Telecom"] * 3
    answers = [call(balancer + config) for _ in range(3)]
    assert [body["name"] for _, body, _ in answers] == ["Renamed Telecom"] * 3
    assert len(seen | {upstream for _, _, upstream in answers}) == 3  # nginx spread them over all three


def test_after_each_save_every_process_answers_the_new_config(org, cluster):
    # With the config in each process's memory: a save returns only once none can answer the old.
    balancer, processes = cluster
    make_app(org, "RepeatInc")
    _, key = ApiKey.issue(org, "repeat")
    config = "/api/v1/providers/RepeatInc/config"
    for round_ in range(20):
        before = [call(base + config)[1]["name"] for base in processes for _ in range(2)]
        assert set(before) == {f"Round {round_ - 1}" if round_ else "Acme Telecom"}
        status, _, _ = call(
            f"{balancer}/api/v1/manage/apps/RepeatInc",
            {"name": f"Round {round_}"},
            method="PATCH",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert status == 200
        order = processes if round_ % 2 else processes[::-1]
        assert [call(base + config)[1]["name"] for base in order] == [f"Round {round_}"] * 3, (
            f"round {round_}"
        )


def test_a_rate_limit_holds_across_processes(org, cluster, provider):
    balancer, _ = cluster
    make_app(org, "LimitInc", provisioning_mode="external", provisioning_url=provider.url())
    provider.answer_json(
        {"update": True, "errmsg": "", "sipaccounts": [{"sipusername": "100", "sippassword": "x"}]}
    )
    if time.time() % 60 > 55:  # the limit counts per minute: keep the five calls in one window
        time.sleep(60.5 - time.time() % 60)
    answers = [provision(balancer, "alice", "LimitInc") for _ in range(5)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429, 429]
    assert answers[3][1]["error"]["code"] == "rate_limited"
    assert len({upstream for _, _, upstream in answers}) == 3
    assert len(provider.requests) == 3


def test_a_circuit_breaker_opened_by_one_process_holds_in_every_process(org, cluster, provider):
    balancer, processes = cluster
    make_app(
        org, "DeadInc", provisioning_mode="external", provisioning_url=provider.url(), provisioning_timeout=1
    )
    provider.behaviour = silent
    with ThreadPoolExecutor(5) as pool:  # five callers' failures within the window open the breaker
        failures = list(
            pool.map(
                lambda n: provision(balancer, f"user{n}", "DeadInc", source=f"127.0.0.{n + 2}"), range(5)
            )
        )
    assert [status for status, _, _ in failures] == [504] * 5
    assert len({upstream for _, _, upstream in failures}) == 3
    short_circuited = [provision(base, f"later{n}", "DeadInc") for n, base in enumerate(processes)]
    assert [(status, body["error"]["code"]) for status, body, _ in short_circuited] == [
        (502, "provider_unreachable")
    ] * 3
    assert len(provider.requests) == 5  # no process called the dead service again


def test_a_single_use_token_is_redeemed_once_however_the_requests_are_spread(org, cluster):
    balancer, processes = cluster
    app = make_app(org, "TokenInc")
    issued = issue_token(make_end_user(app, "alice"))
    targets = [balancer] * 6 + processes * 2
    body = {"token": issued.plain, "deviceId": "phone-1"}
    with ThreadPoolExecutor(len(targets)) as pool:
        answers = list(pool.map(lambda base: call(f"{base}/api/v1/tokens/redeem", body), targets))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [404] * (len(targets) - 1)
    assert {body["error"]["code"] for status, body, _ in answers if status == 404} == {"token_invalid"}


def status_of(url: str, **headers: str) -> int:
    try:
        with urlopen(Request(url, headers=headers), timeout=10) as response:
            return response.status
    except HTTPError as error:
        return error.code


def test_the_metrics_stay_private_through_the_balancer_and_open_to_the_scraper_with_its_token(cluster):
    balancer, processes = cluster
    bearer = f"Bearer {METRICS_TOKEN}"
    assert status_of(f"{balancer}/metrics", Authorization=bearer) == 404
    assert [status_of(f"{process}/metrics") for process in processes] == [401] * 3
    assert [status_of(f"{process}/metrics", Authorization=bearer) for process in processes] == [200] * 3
