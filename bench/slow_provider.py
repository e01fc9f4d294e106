"""Slow provider: thousands of phones waiting at once on a provider's service that answers in 10 s.

    .venv/bin/python bench/slow_provider.py [--embedded] [--phones 2000] [--latency 10] [--seconds 20]

Each phone (a wrk connection) POSTs /api/v1/provision in a loop, each with its own user and
device, and the provider's service (bench/upstream_stub.py) answers every call after
`--latency` seconds. The phones' first calls are spread evenly over the first `--latency`
seconds, as phones arriving one after another, so from then on calls complete at a steady
phones / latency a second: the ideal (200 calls/s). wrk runs for latency + `--seconds`; the
calls completed are those of the last `--seconds` seconds, so calls/s = completed / `--seconds`.

Memory: the resident memory of the worker processes after a warm-up on a fast provider (idle),
and while the calls wait (sampled every second of the load: the sample with the most calls in
flight); the difference, per 1,000 calls in flight (goal: at most 50 MB). Calls in flight are
counted per worker from /proc (its TCP connections to the provider's service), and also shown,
in the same sample, as /metrics answers them on two connections
(`sessioncloud_upstream_calls_in_flight`, each answer one worker's figure) and as the service
counts them. The per-App bound on calls in flight is printed; unless
`--bound` sets one, it is at least the number of phones, so that it is not what limits the rate
(a call refused for it would show as `provider_busy` in the log column).
PostgreSQL + Redis with 2 workers by default; `--embedded`: SQLite and the in-process cache,
1 worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    RunningServer,
    ServerSpec,
    Stub,
    WrkRun,
    bench_deployment,
    connections_to,
    deployment_label,
    ensure_descriptors,
    header,
    make_app,
    make_org,
    metric_samples,
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

SLOW_ID, WARM_ID = "SlowInc", "WarmInc"
PROVISION_PATH = "/api/v1/provision"
IN_FLIGHT_METRIC = "sessioncloud_upstream_calls_in_flight"


@dataclass
class Sample:
    """The workers while calls wait: calls in flight per worker (from /proc, and as /metrics
    answers on two connections, each answered by one worker), their memory, the service's count."""

    in_flight: dict[int, int]
    metric: list[float]
    rss_mib: float
    stub_in_flight: int

    @property
    def total(self) -> int:
        return sum(self.in_flight.values())


def sample(server: RunningServer, stub: Stub, until: float) -> Sample:
    """What the workers hold now; /metrics answers that come after `until` (the load's end) are left out."""
    workers = server.worker_pids()
    in_flight, rss, stub_in_flight = (
        connections_to(workers, stub.port),
        total_rss_mib(workers),
        stub.stats()["in_flight"],
    )
    return Sample(in_flight, metric_samples(server.base, IN_FLIGHT_METRIC, 2, until), rss, stub_in_flight)


def warm_up(server: RunningServer, args: argparse.Namespace) -> None:
    """Every code path of a call, on a fast provider, so that what grows later is the waiting."""
    wrk(
        server.base + PROVISION_PATH,
        connections=min(args.phones, 200),
        seconds=args.warmup,
        lua=provision_lua(WARM_ID),
    )
    time.sleep(2)


def load(server: RunningServer, stub: Stub, args: argparse.Namespace) -> tuple[Load, Sample]:
    """The phones' load, sampled every second once every phone has sent its first call."""
    run = WrkRun(
        server.base + PROVISION_PATH,
        connections=args.phones,
        seconds=args.latency + args.seconds,
        lua=provision_lua(SLOW_ID, users=2 * args.phones, stagger=(args.phones, args.latency)),
        timeout_s=int(args.latency) + 20,
    )
    last = time.monotonic() + args.latency + args.seconds - 1  # while wrk surely still runs
    samples = []
    try:
        time.sleep(args.latency)
        samples.append(sample(server, stub, last))
        while time.monotonic() + 1 < last:
            time.sleep(1)
            samples.append(sample(server, stub, last))
    finally:
        result = run.finish()
    return result, max(samples, key=lambda s: (s.total, s.rss_mib))


def bound_text(bound: int | None) -> str:
    if bound:
        return f"{bound} per process (the App's max_calls_in_flight)"
    return f"{provider_calls_bound()} per process (SESSIONCLOUD_PROVIDER_CALLS_PER_APP)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phones", type=int, default=2000, help="concurrent phones (connections), even")
    parser.add_argument("--latency", type=float, default=10.0, help="the provider service's latency, seconds")
    parser.add_argument(
        "--seconds", type=float, default=20, help="the measured time, after the first latency"
    )
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument(
        "--bound",
        type=int,
        default=0,
        help="the App's max_calls_in_flight (default: the server's per-App bound, or the phones if more)",
    )
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one worker")
    args = parser.parse_args(argv)
    if args.phones % 2:
        parser.error("--phones must be even: wrk's two threads take half each")
    require("wrk")
    limit = ensure_descriptors(2 * args.phones + 1024)  # the server holds the phone's socket and its call's
    header(
        "Slow provider: phones waiting at once on a provider answering in seconds",
        "python bench/slow_provider.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    spec = ServerSpec(1 if args.embedded else 2)
    with (
        bench_deployment(args.embedded) as env,
        provider_stub(args.latency) as stub,
        provider_stub(0.05) as fast_stub,
    ):
        # Unless told, the bound lets every phone's call wait, even if they all land on one worker.
        bound = args.bound or (args.phones if args.phones > provider_calls_bound() else 0)
        org = make_org()
        make_app(
            org,
            SLOW_ID,
            provisioning_mode="external",
            provisioning_url=stub.url,
            provisioning_timeout=15,
            max_calls_in_flight=bound or None,
        )
        make_app(org, WARM_ID, provisioning_mode="external", provisioning_url=fast_stub.url)
        print(
            f"open files per process: {limit}; per-App bound on calls in flight: {bound_text(bound)}",
            flush=True,
        )
        with sessioncloud_serve(env, spec) as server:
            warm_up(server, args)
            idle_mib = total_rss_mib(server.worker_pids())
            since = log_position()
            result, busiest = load(server, stub, args)
            wait_for_log(since)
            failures = failures_since(since, SLOW_ID)
            peak = stub.stats()["peak_in_flight"]

    ideal = args.phones / args.latency
    rate = result.requests / args.seconds
    title = (
        f"POST /api/v1/provision, {deployment_label(args.embedded)}, SessionCloud {spec.label()}; "
        f"{args.phones} "
        f"phones, provider latency {args.latency:g} s, measured over {args.seconds:g} s after the first "
        f"latency; ideal {ideal:.0f} calls/s"
    )
    table(
        title,
        ["calls/s", "of ideal", "completed calls", "errors", "p50 ms", "p99 ms", "failed calls in the log"],
        [(rate, ratio(rate, ideal), result.requests, result.errors, result.p50_ms, result.p99_ms, failures)],
    )
    per_1000 = (busiest.rss_mib - idle_mib) * 1000 / max(1, busiest.total)
    table(
        f"Calls in flight and memory of the worker processes ({spec.label()})",
        [
            "in flight per worker (its connections to the provider)",
            "/metrics answers",
            "the provider's count",
            "provider's peak",
            "RSS idle MiB",
            "RSS with the calls waiting MiB",
            "MiB per 1,000 calls in flight",
        ],
        [
            (
                " + ".join(str(n) for n in busiest.in_flight.values()),
                ", ".join(f"{v:.0f}" for v in busiest.metric),
                busiest.stub_in_flight,
                peak,
                idle_mib,
                busiest.rss_mib,
                per_1000,
            )
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
