"""Slow neighbour: one tenant's config fetch and provisioning, alone and beside a tenant with a slow provider.

    .venv/bin/python bench/slow_neighbour.py [--embedded] [--b-phones 150,1000] [--rounds 2] [--seconds 5]

Two organizations, each with an App in external mode. Tenant A's provider answers in
`--a-latency` (100 ms). Tenant B's answers every call after `--b-latency` (6 s), inside B's 8 s
timeout, so B's circuit breaker never opens. Each round loads A alone, then beside B:

- A alone: A's config fetch (wrk, 64 connections: as fast as the machine answers), then A's
  provisioning (`--a-phones` phones, 20 by default: 200 calls a second with a 100 ms provider,
  which this machine serves alone without running out of CPU; a load that already takes every
  core alone can only share them with B's calls, whatever the design);
- A beside B: `--b-phones` of B's phones (wrk connections, each its own user and device, all at
  once) start first; once their calls wait on B's provider, A's two loads run exactly as alone;
  B's phones stop when A's loads are done.

Alone and beside alternate, so both see the same machine. Reported: A's rates beside / alone
(goal: at least 0.9), A's and B's errors, B's completed calls and their latency (about 6 s
each), and the resident memory of the server processes. Each `--b-phones` value (comma-
separated) is measured in turn in the same run. PostgreSQL + Redis with 2 workers by default;
`--embedded`: SQLite and the in-process cache, 1 worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    RunningServer,
    ServerSpec,
    Stub,
    WrkRun,
    bench_deployment,
    deployment_label,
    ensure_descriptors,
    header,
    make_app,
    make_org,
    merged,
    provider_calls_bound,
    provider_stub,
    provision_lua,
    ratio,
    require,
    sessioncloud_serve,
    table,
    total_rss_mib,
    wrk,
)
from bench.provisioning import failures_since, log_position, wait_for_log  # noqa: E402

A_ID, B_ID = "AlphaInc", "BravoInc"
CONFIG_PATH = f"/api/v1/providers/{A_ID}/config"
PROVISION_PATH = "/api/v1/provision"
CONFIG_CONNECTIONS = 64


@dataclass
class Measured:
    """Everything measured for one number of B's phones, over all rounds."""

    b_phones: int
    config: dict[str, list[Load]] = field(default_factory=lambda: {"alone": [], "beside": []})
    provision: dict[str, list[Load]] = field(default_factory=lambda: {"alone": [], "beside": []})
    b_loads: list[Load] = field(default_factory=list)
    b_waiting: list[int] = field(default_factory=list)  # B's calls waiting on its provider during A's loads
    rss_mib: dict[str, float] = field(default_factory=lambda: {"alone": 0.0, "beside": 0.0})
    a_failures: str = ""
    b_failures: str = ""


def a_loads(
    server: RunningServer, args: argparse.Namespace, seconds: float | None = None
) -> tuple[Load, Load]:
    seconds = seconds or args.seconds
    config = wrk(server.base + CONFIG_PATH, connections=CONFIG_CONNECTIONS, seconds=seconds)
    provision = wrk(
        server.base + PROVISION_PATH, connections=args.a_phones, seconds=seconds, lua=provision_lua(A_ID)
    )
    return config, provision


def wait_until_waiting(stub: Stub, calls: int, seconds: float) -> int:
    """Until `calls` calls wait on the stub (or `seconds` pass): how many wait."""
    deadline = time.monotonic() + seconds
    waiting = stub.stats()["in_flight"]
    while waiting < calls and time.monotonic() < deadline:
        time.sleep(0.1)
        waiting = stub.stats()["in_flight"]
    return waiting


def alone_round(server: RunningServer, measured: Measured, args: argparse.Namespace) -> None:
    config, provision = a_loads(server, args)
    measured.config["alone"].append(config)
    measured.provision["alone"].append(provision)
    rss = total_rss_mib([server.process.pid, *server.worker_pids()])
    measured.rss_mib["alone"] = max(measured.rss_mib["alone"], rss)


def beside_round(server: RunningServer, b_stub: Stub, measured: Measured, args: argparse.Namespace) -> None:
    b_phones = measured.b_phones
    b_load = WrkRun(
        server.base + PROVISION_PATH,
        connections=b_phones,
        seconds=2 * args.seconds + 60,
        lua=provision_lua(B_ID, users=max(1000, 2 * b_phones)),
        timeout_s=30,
    )
    try:
        waiting = wait_until_waiting(b_stub, b_phones, min(5.0, args.b_latency - 0.5))
        config, provision = a_loads(server, args)
        rss = total_rss_mib([server.process.pid, *server.worker_pids()])
        waiting = min(waiting, b_stub.stats()["in_flight"])
    finally:
        measured.b_loads.append(b_load.stop())
        wait_for_log(log_position())  # B's calls cancelled as its phones went away, logged before A goes on
    measured.config["beside"].append(config)
    measured.provision["beside"].append(provision)
    measured.b_waiting.append(waiting)
    measured.rss_mib["beside"] = max(measured.rss_mib["beside"], rss)


def measure(server: RunningServer, b_stub: Stub, b_phones: int, args: argparse.Namespace) -> Measured:
    measured = Measured(b_phones)
    since = log_position()
    for _ in range(args.rounds):
        alone_round(server, measured, args)
        beside_round(server, b_stub, measured, args)
    measured.a_failures, measured.b_failures = failures_since(since, A_ID), failures_since(since, B_ID)
    return measured


def a_rows(results: list[Measured]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for measured in results:
        for name, loads in (("config fetch", measured.config), ("provisioning", measured.provision)):
            alone, beside = merged(loads["alone"]), merged(loads["beside"])
            rows.append(
                (
                    f"A's {name}",
                    measured.b_phones,
                    alone.rps,
                    beside.rps,
                    ratio(beside.rps, alone.rps),
                    alone.p99_ms,
                    beside.p99_ms,
                    f"{alone.errors} / {beside.errors}",
                )
            )
        rows.append(
            ("A's failed calls in the log", measured.b_phones, "", "", "", "", "", measured.a_failures)
        )
    return rows


def b_rows(results: list[Measured]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for measured in results:
        b = merged(measured.b_loads)
        rows.append(
            (
                measured.b_phones,
                min(measured.b_waiting),
                b.requests,
                b.errors,
                b.p50_ms,
                b.p99_ms,
                measured.b_failures,
                f"{measured.rss_mib['alone']:.0f} / {measured.rss_mib['beside']:.0f}",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--b-phones", default="150", help="B's phones at once, comma-separated to measure several"
    )
    parser.add_argument("--a-phones", type=int, default=20, help="A's phones provisioning at once")
    parser.add_argument("--a-latency", type=float, default=0.1, help="A's provider latency, seconds")
    parser.add_argument(
        "--b-latency", type=float, default=6.0, help="B's provider latency, seconds (timeout 8 s)"
    )
    parser.add_argument("--seconds", type=float, default=5, help="length of each of A's loads")
    parser.add_argument("--rounds", type=int, default=2, help="alone / beside rounds, in turn")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one worker")
    args = parser.parse_args(argv)
    require("wrk")
    b_counts = [int(n) for n in args.b_phones.split(",")]
    # Each of wrk, the server and B's stub holds a descriptor per phone (the server two: the
    # phone's connection and its call to B's provider).
    limit = ensure_descriptors(2 * max(b_counts) + CONFIG_CONNECTIONS + 2 * args.a_phones + 1024)
    header(
        "Slow neighbour: tenant A alone and beside tenant B's slow provider",
        "python bench/slow_neighbour.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    spec = ServerSpec(1 if args.embedded else 2)
    with (
        bench_deployment(args.embedded) as env,
        provider_stub(args.a_latency) as a_stub,
        provider_stub(args.b_latency) as b_stub,
    ):
        make_app(
            make_org("alpha", "Alpha Telecom"),
            A_ID,
            provisioning_mode="external",
            provisioning_url=a_stub.url,
        )
        make_app(
            make_org("bravo", "Bravo Telecom"),
            B_ID,
            provisioning_mode="external",
            provisioning_url=b_stub.url,
            provisioning_timeout=8,
        )
        print(
            f"open files per process: {limit}; per-App bound on calls in flight: {provider_calls_bound()} "
            f"per process",
            flush=True,
        )
        with sessioncloud_serve(env, spec) as server:
            a_loads(server, args, seconds=1)  # warm-up
            results = [measure(server, b_stub, b_phones, args) for b_phones in b_counts]

    title = (
        f"{deployment_label(args.embedded)}, SessionCloud {spec.label()}; A's provider "
        f"{args.a_latency * 1000:.0f} ms, "
        f"B's {args.b_latency:g} s (timeout 8 s); {args.rounds} round(s) of {args.seconds:g} s per load"
    )
    table(
        f"Tenant A alone and beside B: {title}; config fetch with {CONFIG_CONNECTIONS} connections, "
        f"provisioning with {args.a_phones} phones",
        [
            "A's load",
            "B's phones",
            "alone req/s",
            "beside req/s",
            "beside / alone",
            "alone p99 ms",
            "beside p99 ms",
            "errors alone / beside",
        ],
        a_rows(results),
    )
    table(
        f"Tenant B meanwhile: {title}",
        [
            "B's phones",
            "B's calls waiting (least seen)",
            "B's completed calls",
            "B's errors",
            "B's p50 ms",
            "B's p99 ms",
            "B's failed calls in the log",
            "server RSS MiB alone / beside",
        ],
        b_rows(results),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
