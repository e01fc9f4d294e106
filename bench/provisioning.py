"""External provisioning: many phones at once against a provider service of fixed latency.

    .venv/bin/python bench/provisioning.py [--embedded] [--phones 200] [--latency 0.2] [--seconds 15]
        [--servers 2] [--before REV] [--rounds 1]

Each phone POSTs /api/v1/provision (1,000 users and devices in turn) and SessionCloud calls the
provider's service (bench/upstream_stub.py), which answers after exactly `--latency` seconds.
The ideal throughput is phones / latency; the baseline measured in the same run is the stub
loaded directly at the same concurrency. Our added latency is our latency minus the
upstream's, at p50 and p99; the CPU per call is the server processes' (from /proc) over the
load, and apart from it the database's (PostgreSQL's and Redis's processes, which share the
machine's two cores with ours). PostgreSQL + Redis with 2 workers by default; `--embedded`:
SQLite and the in-process cache, 1 worker. `--servers workers[:threads[:phone_threads]]`,
comma-separated; `--before REV` also loads `sessioncloud serve` of an earlier revision with its
own defaults. The server loaded first does a little worse than the same code loaded after it (on
PostgreSQL + Redis, 0.75 against 0.77 of ideal in one run): with `--rounds N` every server is
started and loaded N times, in the opposite order every other round, and its rounds added up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    ServerSpec,
    bench_deployment,
    cpu_seconds,
    database_pids,
    deployment_label,
    exported_version,
    header,
    make_app,
    make_org,
    merged,
    parse_specs,
    provider_calls_bound,
    provider_stub,
    provision_lua,
    ratio,
    require,
    sessioncloud_serve,
    table,
    wrk,
)

USERS = 1000


def upstream_lua(users: int = USERS) -> str:
    return f"""
local counter = 0
request = function()
  counter = counter + 1
  local query = "/provisioning?username=u%d&password=pw&reprovision=true&deviceId=bench-%06d"
  return wrk.format("GET", string.format(query, counter % {users}, counter % {users}))
end
"""


def log_position() -> int:
    from sessioncloud.providers.models import ProvisioningLogEntry

    return ProvisioningLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def wait_for_log(position: int, quiet: float = 1.0, seconds: float = 20) -> None:
    """Until the provisioning log has stopped growing for `quiet` seconds (at most `seconds`):
    the calls cancelled when a load ended are logged a moment after it."""
    from sessioncloud.providers.models import ProvisioningLogEntry

    deadline = time.monotonic() + seconds
    count, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = ProvisioningLogEntry.objects.filter(id__gt=position).count()
        if now != count:
            count, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            return
        time.sleep(0.2)


def failures_since(position: int, provider_id: str | None = None) -> str:
    """The provisioning log's failed calls by error code: what the errors column was.

    Calls the phone gave up on are counted apart: wrk closes its connections when its time is
    up, and the calls still waiting then are cancelled (and logged) as their phones went away.
    """
    from django.db.models import Count

    from sessioncloud.providers.models import ProvisioningLogEntry

    entries = ProvisioningLogEntry.objects.filter(id__gt=position).exclude(outcome="ok")
    if provider_id:
        entries = entries.filter(app__provider_id=provider_id)
    counts = dict(entries.values_list("error_code").annotate(n=Count("id")).order_by("-n"))
    cancelled = counts.pop("client_disconnected", 0)
    text = ", ".join(f"{code or 'rejected'} {n}" for code, n in counts.items()) or "none"
    return f"{text} ({cancelled} cancelled at the end)" if cancelled else text


def server_runs(args: argparse.Namespace) -> list[tuple[str, ServerSpec, Path | None]]:
    workers = 1 if args.embedded else 2
    runs: list[tuple[str, ServerSpec, Path | None]] = [
        (f"SessionCloud, {spec.label()}", spec, None)
        for spec in parse_specs(args.servers or str(workers), workers)
    ]
    if args.before:
        runs.append(
            (
                f"SessionCloud {args.before}, its defaults, {ServerSpec(workers).label()}",
                ServerSpec(workers),
                exported_version(args.before),
            )
        )
    return runs


def load_server(
    env: dict[str, str], spec: ServerSpec, code: Path | None, args: argparse.Namespace
) -> tuple[Load, float, float, str]:
    """One server under the phones' load: the load, its CPU ms per call and the database's, the
    log's failed calls."""
    lua = provision_lua("ProvInc", users=USERS)
    with sessioncloud_serve(env, spec, code=code) as server:
        url = f"{server.base}/api/v1/provision"
        wrk(url, connections=args.phones, seconds=args.warmup, lua=lua)
        pids, database = server.worker_pids(), database_pids()
        before, database_before, since = cpu_seconds(pids), cpu_seconds(database), log_position()
        load = wrk(url, connections=args.phones, seconds=args.seconds, lua=lua)
        cpu_ms = (cpu_seconds(pids) - before) * 1000 / max(1, load.requests)
        database_ms = (cpu_seconds(database) - database_before) * 1000 / max(1, load.requests)
        wait_for_log(since)
        return load, cpu_ms, database_ms, failures_since(since)


def server_row(
    name: str, rounds: list[tuple[Load, float, float, str]], embedded: bool
) -> tuple[str, Load, str, str, str]:
    """A server's rounds together: all its calls over all its time, CPU per call over all calls."""
    loads = [load for load, _, _, _ in rounds]
    calls = max(1, sum(load.requests for load in loads))
    cpu_ms = sum(cpu * load.requests for load, cpu, _, _ in rounds) / calls
    database_ms = sum(database * load.requests for load, _, database, _ in rounds) / calls
    failures = " / ".join(failed for _, _, _, failed in rounds)
    return name, merged(loads), failures, f"{cpu_ms:.2f}", "-" if embedded else f"{database_ms:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phones", type=int, default=200, help="concurrent phones (connections)")
    parser.add_argument("--latency", type=float, default=0.2, help="the provider service's latency, seconds")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument(
        "--rounds", type=int, default=1, help="loads of every server, in the opposite order every other round"
    )
    parser.add_argument(
        "--servers",
        default="",
        help="workers[:threads[:phone_threads]], comma-separated (default: 2, or 1 embedded)",
    )
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one worker")
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="also load `sessioncloud serve` of this git revision (its own defaults)",
    )
    args = parser.parse_args(argv)
    require("wrk")
    header(
        "External provisioning against a fixed-latency provider service",
        "python bench/provisioning.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )

    rows: list[tuple[str, Load, str, str, str]] = []
    with bench_deployment(args.embedded) as env, provider_stub(args.latency) as stub:
        make_app(
            make_org(),
            "ProvInc",
            provisioning_mode="external",
            provisioning_url=stub.url,
            provisioning_timeout=8,
        )
        print(f"per-App bound on calls in flight: {provider_calls_bound()} per process")
        baseline = wrk(stub.url, connections=args.phones, seconds=args.seconds, lua=upstream_lua())
        rows.append(("provider service alone (baseline)", baseline, "-", "-", "-"))
        runs = server_runs(args)
        # By position: `--servers 2,2` loads two servers of the same name.
        measured: list[list[tuple[Load, float, float, str]]] = [[] for _ in runs]
        for round_number in range(args.rounds):
            order = list(enumerate(runs))
            for index, (_, spec, code) in order if round_number % 2 == 0 else reversed(order):
                measured[index].append(load_server(env, spec, code, args))
        for (name, _, code), rounds in zip(runs, measured, strict=True):
            rows.append(server_row(name, rounds, args.embedded))
            if code is not None:
                shutil.rmtree(code, ignore_errors=True)

    ideal, upstream_ms = args.phones / args.latency, args.latency * 1000
    table(
        f"POST /api/v1/provision, {deployment_label(args.embedded)}, {args.phones} phones, provider latency "
        f"{upstream_ms:.0f} ms, {args.seconds:g} s each; ideal {ideal:.0f} requests/s",
        [
            "target",
            "requests/s",
            "of ideal",
            "of baseline",
            "p50 ms",
            "p99 ms",
            "added p50 ms",
            "added p99 ms",
            "errors",
            "failed calls in the log",
            "server CPU ms per call",
            "database CPU ms per call",
        ],
        [
            (
                name,
                load.rps,
                ratio(load.rps, ideal),
                ratio(load.rps, baseline.rps),
                load.p50_ms,
                load.p99_ms,
                load.p50_ms - upstream_ms,
                load.p99_ms - upstream_ms,
                load.errors,
                failures,
                cpu,
                database_cpu,
            )
            for name, load, failures, cpu, database_cpu in rows
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
