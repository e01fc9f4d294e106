"""Where the CPU of one provisioning call goes: the whole request and each of its parts.

    .venv/bin/python bench/provision_cpu.py [--calls 300] [--rounds 5]

Runs in one process against a provider stub on loopback that answers at once, so what is
measured is our own work: `time.process_time` (every thread of the process) over `--calls`
calls, the best of `--rounds` rounds (the least disturbed by whatever else the machine runs).
The whole request goes through the front `sessioncloud serve` runs (serving/front.py), handed
over as granian hands it, on an event loop, with its blocking work in the phone pool; the parts
are called on their own with the same App, device and answer, the asynchronous ones each run to
completion on the same loop (what that costs alone is the first row after the whole request).
PostgreSQL and Redis, as in production.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    bench_database,
    calls_and_rounds,
    make_app,
    make_org,
    provider_stub,
    table,
)

PROVIDER_ID = "ProvInc"
LOOP = asyncio.new_event_loop()


@dataclass
class Scope:
    """What the front reads of granian's request scope."""

    method: str
    path: str
    headers: dict[str, str]
    query_string: str = ""
    proto: str = "http"
    scheme: str = "http"
    http_version: str = "1.1"
    server: str = "127.0.0.1:8000"
    client: str = "127.0.0.1:50000"


@dataclass
class Proto:
    """What the front uses of granian's connection: the body, the answer, a client that stays."""

    body: bytes
    answer: list[Any] = field(default_factory=list)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body

    async def client_disconnect(self) -> None:
        await asyncio.Event().wait()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer[:] = [status, body]


def on_loop(coroutine: Callable[[], Coroutine[Any, Any, Any]]) -> Callable[[int], Any]:
    return lambda i: LOOP.run_until_complete(coroutine())


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


def phone_body(i: int, provider_id: str = PROVIDER_ID) -> dict[str, Any]:
    return {
        "providerId": provider_id,
        "username": f"u{i % 1000}",
        "password": "pw",
        "deviceId": f"bench-{i % 1000:06d}",
        "reprovision": True,
        "app": {"platform": "ios", "version": "6.0.0"},
    }


def request_rows(calls: int, rounds: int) -> list[tuple[str, float]]:
    from sessioncloud.serving.front import application

    front = application()
    front.__rsgi_init__(LOOP)

    def through_front(provider_id: str = PROVIDER_ID) -> Callable[[int], Any]:
        def call(i: int) -> None:
            body = json.dumps(phone_body(i, provider_id)).encode()
            scope = Scope(
                "POST", "/api/v1/provision", {"host": "127.0.0.1:8000", "content-type": "application/json"}
            )
            proto = Proto(body)
            LOOP.run_until_complete(front.__rsgi__(scope, proto))
            assert proto.answer and proto.answer[0] in (200, 404), proto.answer

        return call

    async def nothing() -> None:
        return None

    return [
        ("whole request (the front `serve` runs)", best_cpu_us(through_front(), calls, rounds)),
        (
            "  an unknown ProviderId (404), for comparison",
            best_cpu_us(through_front("NoSuchInc"), calls, rounds),
        ),
        (
            "  running a coroutine to completion on the loop (this measurement's own cost)",
            best_cpu_us(on_loop(nothing), calls, rounds),
        ),
    ]


def part_rows(calls: int, rounds: int) -> list[tuple[str, float]]:
    from sessioncloud.api import phone
    from sessioncloud.api.schemas import ProvisionIn
    from sessioncloud.providers import lookup, ratelimit
    from sessioncloud.providers import provision as flow
    from sessioncloud.providers.outbound import breaker_for, outbound_policy
    from sessioncloud.provisioning.upstream import call_provider

    app, state = lookup.enabled_app_and_device(PROVIDER_ID, "bench-000001")  # type: ignore[misc]
    client = flow.Client(device_id="bench-000001", platform="ios", version="6.0.0")
    request = flow.upstream_request(app, "u1", "pw", client.device_id, True)
    answer = LOOP.run_until_complete(call_provider(request, outbound_policy()))
    payload = ProvisionIn(**phone_body(1))
    parts: list[tuple[str, Callable[[int], Any]]] = [
        (
            "the endpoint (provision_answer: no HTTP, no front)",
            on_loop(lambda: phone.provision_answer(payload, client)),
        ),
        ("  rate limit, one check (two per call)", lambda i: ratelimit.hit("provision_ip", "127.0.0.1")),
        (
            "  App and device state, one query",
            lambda i: lookup.enabled_app_and_device(PROVIDER_ID, client.device_id),
        ),
        (
            "  provision_external (provider call, merge, ledger and log)",
            on_loop(lambda: flow.provision_external(app, "u1", "pw", client, reprovision=True, state=state)),
        ),
        ("    circuit breaker check", lambda i: breaker_for(app.pk).allow()),
        (
            "    the provider call (guard, sign, HTTP, validate)",
            on_loop(lambda: call_provider(request, outbound_policy())),
        ),
        ("    merge with the App's SIP profile", lambda i: flow.merged_answer(app, answer)),
        (
            "    ledger row and log row, one statement",
            lambda i: flow.settle(
                app, client, "u1", "provision", "ok", accounts_hash="0" * 64, upstream=answer, accounts=1
            ),
        ),
    ]
    return [(name, best_cpu_us(call, calls, rounds)) for name, call in parts]


def main(argv: list[str] | None = None) -> int:
    args = calls_and_rounds(__doc__, "CPU of one provisioning call, in process", "provision_cpu.py", argv)
    with bench_database() as _env, provider_stub(0) as stub:
        make_app(
            make_org(),
            PROVIDER_ID,
            provisioning_mode="external",
            provisioning_url=stub.url,
            provisioning_timeout=8,
        )
        rows = request_rows(args.calls, args.rounds) + part_rows(args.calls, args.rounds)
    whole = rows[0][1]
    table(
        f"CPU per call, best of {args.rounds} rounds of {args.calls} calls (an instant provider)",
        ["what", "CPU µs", "of the whole request"],
        [(name, f"{cpu:.0f}", f"{cpu / whole:.0%}") for name, cpu in rows],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
