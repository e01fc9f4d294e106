"""Where the CPU of one provisioning call goes: the whole request and each of its parts.

    .venv/bin/python bench/provision_cpu.py [--calls 300] [--rounds 5]

Runs in one process, one thread, against a provider stub on loopback that answers at once, so
what is measured is our own work: `time.process_time` over `--calls` calls, the best of
`--rounds` rounds (the least disturbed by whatever else the machine runs). The whole request
goes through the WSGI application exactly as a server hands it over; the parts are called on
their own with the same App, device and answer. PostgreSQL and Redis, as in production.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_database,
    free_port,
    header,
    make_app,
    make_org,
    python_process,
    table,
)

PROVIDER_ID = "ProvInc"


def best_cpu_us(call: Callable[[int], Any], calls: int, rounds: int) -> float:
    """Microseconds of CPU per call, the best round of `rounds`."""
    call(0)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for i in range(calls):
            call(i)
        best = min(best, (time.process_time() - started) * 1e6 / calls)
    return best


def wsgi_post(application: Any, path: str, body: dict[str, Any]) -> tuple[str, bytes]:
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    status: list[str] = []
    answer = b"".join(application(environ, lambda s, headers, exc_info=None: status.append(s)))
    return status[0], answer


def phone_body(i: int, provider_id: str = PROVIDER_ID) -> dict[str, Any]:
    return {"providerId": provider_id, "username": f"u{i % 1000}", "password": "pw",
            "deviceId": f"bench-{i % 1000:06d}", "reprovision": True, "app": {"platform": "ios", "version": "6.0.0"}}


def request_rows(calls: int, rounds: int) -> list[tuple[str, float]]:
    from sessioncloud.wsgi import application

    def through(wsgi_app: Any, provider_id: str = PROVIDER_ID) -> Callable[[int], Any]:
        def call(i: int) -> None:
            status, answer = wsgi_post(wsgi_app, "/api/v1/provision", phone_body(i, provider_id))
            assert status[:3] in ("200", "404"), (status, answer[:200])
        return call

    rows = [("whole request (the WSGI application `serve` runs)", best_cpu_us(through(application), calls, rounds))]
    rows.append(("  an unknown ProviderId (404), for comparison",
                 best_cpu_us(through(application, "NoSuchInc"), calls, rounds)))
    return rows


def part_rows(calls: int, rounds: int) -> list[tuple[str, float]]:
    from django.test import RequestFactory

    from sessioncloud.api.phone import provision as provision_view
    from sessioncloud.api.schemas import ProvisionIn
    from sessioncloud.providers import lookup, ratelimit
    from sessioncloud.providers import provision as flow
    from sessioncloud.providers.outbound import breaker_for, outbound_policy
    from sessioncloud.provisioning.upstream import call_provider

    app, state = lookup.enabled_app_and_device(PROVIDER_ID, "bench-000001")  # type: ignore[misc]
    client = flow.Client(device_id="bench-000001", platform="ios", version="6.0.0")
    request = flow.upstream_request(app, "u1", "pw", client.device_id, True)
    answer = call_provider(request, outbound_policy())
    payload = ProvisionIn(**phone_body(1))
    http_request = RequestFactory().post("/api/v1/provision", data=b"{}", content_type="application/json")
    parts: list[tuple[str, Callable[[int], Any]]] = [
        ("the view (ninja's parsing and Django's request excluded)", lambda i: provision_view(http_request, payload)),
        ("  rate limit, one check (two per call)", lambda i: ratelimit.hit("provision_ip", "127.0.0.1")),
        ("  App and device state, one query", lambda i: lookup.enabled_app_and_device(PROVIDER_ID, client.device_id)),
        ("  provision_external (provider call, merge, ledger and log)",
         lambda i: flow.provision_external(app, "u1", "pw", client, reprovision=True, state=state)),
        ("    circuit breaker check", lambda i: breaker_for(app.pk).allow()),
        ("    the provider call (guard, sign, HTTP, validate)", lambda i: call_provider(request, outbound_policy())),
        ("    merge with the App's SIP profile", lambda i: flow.merged_answer(app, answer)),
        ("    ledger row and log row, one statement",
         lambda i: flow.settle(app, client, "u1", "provision", "ok", accounts_hash="0" * 64, upstream=answer,
                               accounts=1)),
    ]
    return [(name, best_cpu_us(call, calls, rounds)) for name, call in parts]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    header("CPU of one provisioning call, in process", "python bench/provision_cpu.py " +
           " ".join(argv if argv is not None else sys.argv[1:]))
    stub_port = free_port()
    with bench_database() as _env, \
            python_process(["bench/upstream_stub.py", "--port", str(stub_port), "--latency", "0"], stub_port):
        make_app(make_org(), PROVIDER_ID, provisioning_mode="external",
                 provisioning_url=f"http://127.0.0.1:{stub_port}/provisioning", provisioning_timeout=8)
        rows = request_rows(args.calls, args.rounds) + part_rows(args.calls, args.rounds)
    whole = rows[0][1]
    table(f"CPU per call, best of {args.rounds} rounds of {args.calls} calls (one thread, instant provider)",
          ["what", "CPU µs", "of the whole request"],
          [(name, f"{cpu:.0f}", f"{cpu / whole:.0%}") for name, cpu in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
