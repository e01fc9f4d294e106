"""Isolation: one App's provider service is dead (accepts, never answers), another's is healthy.

    .venv/bin/python bench/isolation.py [--phones 20] [--dead-phones 100] [--latency 0.2] [--rounds 3]

The healthy App's phones are loaded alone (the baseline, same run) and while the dead App's
phones try too, in turn, for a few rounds. A dead service costs each call its full timeout
(`--dead-timeout`, 3 s) until the circuit breaker opens; then calls fail at once, and one trial
call in every open period checks whether the service is back. The timeout is shorter than a
load: a phone that hangs up cancels its call, and a cancelled call tells the breaker nothing,
so with a timeout as long as the load no call of the dead App would ever end within it.
Dead-App phones wait `--retry` seconds between tries, as a phone showing an error does; the
healthy App's phones do not wait. By default the healthy load is below what the processes' CPU
can serve, so that what is measured is whether the dead service ties up workers, threads or
connections; `--phones 100` saturates the CPU, and then every request of the dead App's phones
takes its share of it.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    bench_database,
    header,
    make_app,
    make_org,
    merged,
    parse_specs,
    provider_stub,
    provision_lua,
    require,
    sessioncloud_serve,
    table,
    wrk,
)


def with_retry_delay(lua: str, seconds: float) -> str:
    return lua + f"\ndelay = function() return {int(seconds * 1000)} end\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phones", type=int, default=20, help="concurrent phones of the healthy App")
    parser.add_argument("--dead-phones", type=int, default=100, help="concurrent phones of the dead App")
    parser.add_argument("--latency", type=float, default=0.2, help="the healthy service's latency, seconds")
    parser.add_argument("--seconds", type=float, default=8, help="length of each load, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="alone / beside rounds, taken in turn")
    parser.add_argument(
        "--retry", type=float, default=1.0, help="dead-App phones' pause between tries, seconds"
    )
    parser.add_argument("--servers", default="2", help="workers[:threads[:phone_threads]]")
    parser.add_argument("--dead-timeout", type=int, default=3, help="the dead App's timeout, seconds")
    args = parser.parse_args(argv)
    require("wrk")
    header(
        "Isolation: a dead provider service beside a healthy one",
        "python bench/isolation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )

    rows: list[tuple[str, str, Load]] = []
    with (
        bench_database() as env,
        provider_stub(args.latency) as healthy,
        provider_stub(dead=True) as dead_stub,
    ):
        org = make_org()
        make_app(org, "HealthyInc", provisioning_mode="external", provisioning_url=healthy.url)
        make_app(
            org,
            "DeadInc",
            provisioning_mode="external",
            provisioning_url=dead_stub.url,
            provisioning_timeout=args.dead_timeout,
        )
        spec = parse_specs(args.servers)[0]
        with sessioncloud_serve(env, spec) as server:
            url = f"{server.base}/api/v1/provision"
            healthy_lua = provision_lua("HealthyInc")
            dead_lua = with_retry_delay(provision_lua("DeadInc"), args.retry)
            wrk(url, connections=args.phones, seconds=3, lua=healthy_lua)
            # Alone and beside the dead App in turn, so both see the same background on the machine.
            alone, beside, dead = [], [], []
            for _ in range(args.rounds):
                alone.append(wrk(url, connections=args.phones, seconds=args.seconds, lua=healthy_lua))
                results: dict[str, Load] = {}

                def load_dead(results: dict[str, Load] = results) -> None:
                    results["dead"] = wrk(
                        url, connections=args.dead_phones, seconds=args.seconds, lua=dead_lua, timeout_s=30
                    )

                dead_thread = threading.Thread(target=load_dead)
                dead_thread.start()
                beside.append(wrk(url, connections=args.phones, seconds=args.seconds, lua=healthy_lua))
                dead_thread.join()
                dead.append(results["dead"])
            rows.append(("healthy App alone (baseline)", "HealthyInc", merged(alone)))
            rows.append(("healthy App, beside the dead one", "HealthyInc", merged(beside)))
            rows.append(("dead App (answers 502/504)", "DeadInc", merged(dead)))

    alone = rows[0][2].rps
    table(
        f"POST /api/v1/provision, {args.phones} healthy-App and {args.dead_phones} dead-App phones, "
        f"{spec.label()}, "
        f"{args.rounds} rounds of {args.seconds:g} s each way; "
        f"healthy service {args.latency * 1000:.0f} ms, dead service never answers "
        f"(timeout {args.dead_timeout} s)",
        ["load", "App", "requests/s", "vs alone", "p50 ms", "p99 ms", "max ms", "non-2xx or errors"],
        [
            (
                name,
                app,
                load.rps,
                f"{load.rps / alone:.0%}" if app == "HealthyInc" else "-",
                load.p50_ms,
                load.p99_ms,
                load.max_ms,
                load.errors,
            )
            for name, app, load in rows
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
