"""External provisioning: many phones at once against a provider service of fixed latency.

    .venv/bin/python bench/provisioning.py [--phones 200] [--latency 0.2] [--seconds 15] [--servers default:2]

Each phone POSTs /api/v1/provision (1,000 users and devices in turn) and SessionCloud calls the
provider's service (bench/upstream_stub.py), which answers after exactly `--latency` seconds.
The ideal throughput is phones / latency; the baseline measured in the same run is the stub
loaded directly at the same concurrency. Our added latency is our latency minus the
upstream's, at p50 and p99. PostgreSQL and Redis, as in production.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    ServerSpec,
    bench_database,
    cpu_seconds,
    exported_version,
    free_port,
    header,
    lua_post,
    make_app,
    make_org,
    python_process,
    require,
    sessioncloud_serve,
    table,
    wrk,
)
from bench.config_fetch import parse_specs  # noqa: E402

USERS = 1000


def phone_bodies(provider_id: str, users: int = USERS) -> str:
    return lua_post(f"""
bodies = {{}}
for i = 1, {users} do
  bodies[i] = string.format('{{"providerId":"{provider_id}","username":"u%d","password":"pw","deviceId":"bench-%06d","reprovision":true,"app":{{"platform":"ios","version":"6.0.0"}}}}', i, i)
end
""")


def upstream_lua(users: int = USERS) -> str:
    return f"""
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", string.format("/provisioning?username=u%d&password=pw&reprovision=true&deviceId=bench-%06d", counter % {users}, counter % {users}))
end
"""


def log_position() -> int:
    from sessioncloud.providers.models import ProvisioningLogEntry

    return ProvisioningLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def failures_since(position: int) -> str:
    """The provisioning log's failed calls by error code: what the errors column was."""
    from django.db.models import Count

    from sessioncloud.providers.models import ProvisioningLogEntry

    counts = (ProvisioningLogEntry.objects.filter(id__gt=position).exclude(outcome="ok")
              .values_list("error_code").annotate(n=Count("id")).order_by("-n"))
    return ", ".join(f"{code or 'rejected'} {n}" for code, n in counts) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", type=int, default=200, help="concurrent phones (connections)")
    parser.add_argument("--latency", type=float, default=0.2, help="the provider service's latency, seconds")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--servers", default="default:2", help="server:workers[:threads], comma-separated")
    parser.add_argument("--before", metavar="REVISION",
                        help="also load `sessioncloud serve` of this git revision (its own defaults, 2 workers)")
    args = parser.parse_args(argv)
    require("wrk")
    header("External provisioning against a fixed-latency provider service",
           "python bench/provisioning.py " + " ".join(argv if argv is not None else sys.argv[1:]))

    ideal = args.phones / args.latency
    rows: list[tuple[str, Load]] = []
    cpu_ms: dict[str, str] = {}
    failures: dict[str, str] = {}
    stub_port = free_port()
    with bench_database() as env, \
            python_process(["bench/upstream_stub.py", "--port", str(stub_port), "--latency", str(args.latency)],
                           stub_port):
        stub_url = f"http://127.0.0.1:{stub_port}/provisioning"
        make_app(make_org(), "ProvInc", provisioning_mode="external", provisioning_url=stub_url,
                 provisioning_timeout=8)
        rows.append(("provider service alone (baseline)",
                     wrk(f"http://127.0.0.1:{stub_port}/provisioning", connections=args.phones,
                         seconds=args.seconds, lua=upstream_lua())))
        runs = [(f"SessionCloud, {spec.label()}", spec, None) for spec in parse_specs(args.servers)]
        if args.before:
            runs.append((f"SessionCloud {args.before}, its defaults", ServerSpec("default", 2),
                         exported_version(args.before)))
        for name, spec, code in runs:
            with sessioncloud_serve(env, spec, code=code) as server:
                url = f"{server.base}/api/v1/provision"
                wrk(url, connections=args.phones, seconds=args.warmup, lua=phone_bodies("ProvInc"))
                pids = server.worker_pids()
                before, since = cpu_seconds(pids), log_position()
                load = wrk(url, connections=args.phones, seconds=args.seconds, lua=phone_bodies("ProvInc"))
                cpu_ms[name] = f"{(cpu_seconds(pids) - before) * 1000 / max(1, load.requests):.1f}"
                failures[name] = failures_since(since)
                rows.append((name, load))
            if code is not None:
                shutil.rmtree(code, ignore_errors=True)

    upstream_ms = args.latency * 1000
    baseline = rows[0][1]
    table(
        f"POST /api/v1/provision, {args.phones} phones, provider latency {upstream_ms:.0f} ms, "
        f"{args.seconds:g} s each; ideal {ideal:.0f} requests/s",
        ["target", "requests/s", "of ideal", "of baseline", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms",
         "errors", "failed calls in the log", "app CPU ms/request"],
        [(name, load.rps, f"{load.rps / ideal:.0%}", f"{load.rps / baseline.rps:.0%}", load.p50_ms, load.p99_ms,
          load.p50_ms - upstream_ms, load.p99_ms - upstream_ms, load.errors, failures.get(name, "-"),
          cpu_ms.get(name, "-"))
         for name, load in rows],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
