"""How long an App save takes with the in-process config tier off and on, idle and under load.

    .venv/bin/python bench/save_latency.py [--saves 40]

Two `sessioncloud serve` processes (2 workers each) serve the App's config; this process saves
the App with the ORM, as a portal request does minus HTTP: the save forgets the config at once
and again after commit, each time waiting, with the tier on, for every worker's acknowledgement.
Then the same while wrk loads one of the two servers with 64 connections.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ServerSpec,
    bench_database,
    header,
    make_app,
    make_org,
    sessioncloud_serve,
    table,
    wrk,
)

PATH = "/api/v1/providers/SaveInc/config"


def timed_saves(app: Any, count: int) -> list[float]:
    took = []
    for n in range(count):
        app.name = f"Save {n} {time.monotonic()}"
        started = time.perf_counter()
        app.save()
        took.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    return took


def summary(label: str, took: list[float]) -> tuple[object, ...]:
    ordered = sorted(took)
    return (label, len(ordered), statistics.median(ordered), ordered[int(len(ordered) * 0.9)], ordered[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saves", type=int, default=40)
    args = parser.parse_args(argv)
    header(
        "App saves with the in-process config tier",
        "python bench/save_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    rows = []
    with bench_database() as env:
        app = make_app(make_org(), "SaveInc")
        for tier in ("false", "true"):
            spec, name = ServerSpec(2), f"tier {'on' if tier == 'true' else 'off'}"
            tier_env = {**env, "SESSIONCLOUD_CONFIG_LOCAL_TIER": tier}
            with sessioncloud_serve(tier_env, spec) as first, sessioncloud_serve(tier_env, spec) as second:
                for base in (first.base, second.base):
                    wrk(base + PATH, connections=8, seconds=1)  # every worker has served (and keeps) it
                rows.append(summary(f"{name}, workers idle", timed_saves(app, args.saves)))
                load = threading.Thread(target=lambda: wrk(first.base + PATH, connections=64, seconds=12))
                load.start()
                time.sleep(1)
                rows.append(
                    summary(f"{name}, wrk with 64 connections on one server", timed_saves(app, args.saves))
                )
                load.join()
    table(
        "App saves (each invalidates twice: at once and after commit)",
        ["case", "saves", "median ms", "p90 ms", "max ms"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
