"""Config fetch (GET /api/v1/providers/{id}/config, 200 and 304): SessionCloud, nginx, the Python ceiling.

    .venv/bin/python bench/config_fetch.py [--embedded] [--rounds 2] [--seconds 5] [--servers 2] \
        [--before REV]

Loaded in one run, one after another, round after round, so each ratio compares loads taken
seconds apart under the same background:
- nginx (the Debian package, 2 workers, access_log off) serving the exact body our API answers
  as a static file with an ETag and `Cache-Control: no-cache`: the limit of an HTTP answer here;
- the ceiling for Python here: bench/minimal_apps.py answering the same bytes and headers from
  a dict under granian, with as many workers as (the first) SessionCloud, as WSGI, ASGI and RSGI;
- `sessioncloud serve` of this tree (`--servers workers[:threads[:phone_threads]]`, comma-
  separated) and, with `--before REV`, of an earlier revision (`git archive`) with its own
  defaults but the same number of workers;
- with `--rust-tasks`, the minimal RSGI app once more under granian's experimental Rust task
  implementation (`--task-impl rust`), and with `--rsgi-loops rloop,asyncio` under each event
  loop named (installed by hand: rloop is no dependency of ours), shown beside the others but
  not counted as a ceiling: `serve` uses neither (docs/performance.md says why). The ceilings
  run on uvloop, as `serve` does, whatever else is installed (granian would pick rloop first).
PostgreSQL + Redis with 2 workers by default; `--embedded`: SQLite and the in-process cache,
1 worker, against 1-worker ceilings. The order of the servers is reversed every other round, so
none always follows the same neighbour.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    REDIS_URL,
    Load,
    RunningServer,
    ServerSpec,
    bench_deployment,
    children,
    cpu_seconds,
    deployment_label,
    exported_version,
    free_port,
    granian_app,
    header,
    make_app,
    make_org,
    merged,
    nginx,
    parse_specs,
    ratio,
    require,
    sessioncloud_serve,
    table,
    wrk,
)
from bench.minimal_apps import write_answer  # noqa: E402

PROVIDER_ID = "BenchInc"
PATH = f"/api/v1/providers/{PROVIDER_ID}/config"
INTERFACES = ("wsgi", "asgi", "rsgi")
SERVE_LOOP = ("--loop", "uvloop")  # as `sessioncloud serve` runs

STATIC_SITE = """
    server {{
        listen 127.0.0.1:{port};
        location /api/v1/providers/ {{
            root {{prefix}}/www;
            default_type application/json;
            add_header Cache-Control no-cache;
        }}
    }}
"""


def fetch(url: str, etag: str | None = None) -> tuple[int, bytes, Any]:
    request = Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers  # names ignore case
    except OSError as error:  # urllib raises for 304
        code = getattr(error, "code", 0)
        return code, b"", getattr(error, "headers", None)


def redis_cpu_seconds(url: str | None) -> float:
    if not url:
        return 0.0
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_sys"] + info["used_cpu_user"])


@dataclass
class Target:
    """One server under load: its URL, its processes, and what each answer measured."""

    name: str
    kind: str  # nginx, ceiling (the minimal apps), other (a minimal app not counted) or ours
    url: str
    etag: str
    pids: list[int]
    redis_url: str | None = None
    loads: dict[str, list[Load]] = field(default_factory=lambda: {"200": [], "304": []})
    cpu_us: dict[str, list[float]] = field(default_factory=lambda: {"200": [], "304": []})

    def load(self, answer: str, args: argparse.Namespace) -> None:
        headers = {"If-None-Match": self.etag} if answer == "304" else {}
        cpu, cache_cpu = cpu_seconds(self.pids), redis_cpu_seconds(self.redis_url)
        load = wrk(self.url, connections=args.connections, seconds=args.seconds, headers=headers)
        requests = max(1, load.requests)
        self.loads[answer].append(load)
        self.cpu_us[answer].append((cpu_seconds(self.pids) - cpu) * 1e6 / requests)
        if self.redis_url:
            self.cpu_us.setdefault(answer + "redis", []).append(
                (redis_cpu_seconds(self.redis_url) - cache_cpu) * 1e6 / requests
            )

    def cost(self, answer: str) -> str:
        app = statistics.median(self.cpu_us[answer])
        if not self.redis_url:
            return f"{app:.0f}"
        return f"{app:.0f} + {statistics.median(self.cpu_us[answer + 'redis']):.0f}"


def served_target(name: str, server: RunningServer, redis_url: str | None) -> Target:
    """A SessionCloud server, checked to answer the config and its 304."""
    status, _, headers = fetch(server.base + PATH)
    if status != 200:
        raise RuntimeError(f"{name} answered {status} for {PATH}")
    etag = headers["ETag"]
    if fetch(server.base + PATH, etag)[0] != 304:
        raise RuntimeError(f"{name} did not answer 304 for its own ETag")
    return Target(name, "ours", server.base + PATH, etag, server.worker_pids(), redis_url)


def ceiling_target(interface: str, server: RunningServer, body: bytes, etag: str, note: str = "") -> Target:
    status, answer, _ = fetch(server.base + PATH)
    if status != 200 or answer != body or fetch(server.base + PATH, etag)[0] != 304:
        raise RuntimeError(f"the minimal {interface} app does not answer as SessionCloud does")
    name = f"minimal {interface.upper()} app, granian{note}"
    return Target(name, "other" if note else "ceiling", server.base + PATH, etag, server.worker_pids())


def publish(prefix: Path, body: bytes) -> None:
    target = prefix / "www" / PATH.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_bytes(body)
    for directory in [prefix / "www", *target.parents]:
        if str(directory).startswith(str(prefix)):
            directory.chmod(0o755)


def start_targets(
    stack: ExitStack,
    env: dict[str, str],
    args: argparse.Namespace,
    variants: list[tuple[str, tuple[str, ...]]],
) -> tuple[list[Target], bytes]:
    """Every server of the run, started and checked; SessionCloud's own answer defines the rest."""
    specs = parse_specs(args.servers or "", 1 if args.embedded else 2) or [
        ServerSpec(1 if args.embedded else 2)
    ]
    workers = specs[0].workers  # of the earlier revision and of the ceilings too
    redis_url = None if args.embedded else REDIS_URL
    ours = []
    for spec in specs:
        server = stack.enter_context(sessioncloud_serve(env, spec))
        ours.append(served_target(f"SessionCloud, {spec.label()}", server, redis_url))
    if args.before:
        code = exported_version(args.before)
        stack.callback(shutil.rmtree, code, ignore_errors=True)
        server = stack.enter_context(sessioncloud_serve(env, ServerSpec(workers), code=code))
        ours.append(
            served_target(
                f"SessionCloud {args.before}, its defaults, {ServerSpec(workers).label()}", server, redis_url
            )
        )

    _, body, headers = fetch(ours[0].url)
    _, _, not_modified = fetch(ours[0].url, ours[0].etag)
    for other in ours[1:]:
        if fetch(other.url)[1] != body:
            print(f"note: {other.name} answers other bytes than {ours[0].name}")
    answer_file = Path(tempfile.mkdtemp(prefix="sessioncloud-minimal-")) / "answer.json"
    stack.callback(shutil.rmtree, answer_file.parent, ignore_errors=True)
    write_answer(answer_file, PATH, body, list(headers.items()), list(not_modified.items()))

    port = free_port()
    prefix = stack.enter_context(nginx(STATIC_SITE.format(port=port), workers=args.nginx_workers))
    publish(prefix, body)
    static_url = f"http://127.0.0.1:{port}{PATH}"
    targets = [
        Target(
            f"nginx static file, {args.nginx_workers} workers",
            "nginx",
            static_url,
            fetch(static_url)[2]["ETag"],
            children(int((prefix / "nginx.pid").read_text())),
        )
    ]
    minimal_env = {**env, "BENCH_MINIMAL_ANSWER": str(answer_file)}
    for interface in INTERFACES:
        server = stack.enter_context(
            granian_app(
                f"bench.minimal_apps:{interface}_app",
                interface,
                workers,
                minimal_env,
                check_path=PATH,
                options=SERVE_LOOP,
            )
        )
        targets.append(ceiling_target(interface, server, body, ours[0].etag))
    for note, options in variants:
        server = stack.enter_context(
            granian_app(
                "bench.minimal_apps:rsgi_app", "rsgi", workers, minimal_env, check_path=PATH, options=options
            )
        )
        targets.append(ceiling_target("rsgi", server, body, ours[0].etag, f", {note} (not a ceiling)"))
    return targets + ours, body


def rsgi_variants(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...]]]:
    """The minimal RSGI app under the options `serve` does not use, each a row of its own."""
    variants = [("Rust tasks", (*SERVE_LOOP, "--task-impl", "rust"))] if args.rust_tasks else []
    for loop in filter(None, args.rsgi_loops.split(",")):
        if loop != "asyncio" and importlib.util.find_spec(loop) is None:
            raise SystemExit(f"--rsgi-loops: {loop} is not installed here")
        variants.append((f"on {loop}", ("--loop", loop)))
    return variants


def measure(targets: list[Target], args: argparse.Namespace) -> None:
    """Every target in turn, round after round, so all share whatever else the machine runs."""
    for target in targets:
        wrk(target.url, connections=args.connections, seconds=args.warmup)
    for round_number in range(args.rounds):
        for answer in ("200", "304"):
            for target in targets if round_number % 2 == 0 else reversed(targets):
                target.load(answer, args)


def rows(targets: list[Target]) -> list[tuple[object, ...]]:
    result: list[tuple[object, ...]] = []
    for answer in ("200", "304"):
        loads = {target.name: merged(target.loads[answer]) for target in targets}
        nginx_rps = next(loads[t.name].rps for t in targets if t.kind == "nginx")
        best = max(loads[t.name].rps for t in targets if t.kind == "ceiling")
        rsgi = next(loads[t.name].rps for t in targets if t.kind == "ceiling" and "RSGI" in t.name)
        for target in targets:
            load = loads[target.name]
            result.append(
                (
                    target.name,
                    answer,
                    load.rps,
                    ratio(load.rps, nginx_rps),
                    ratio(load.rps, best),
                    ratio(load.rps, rsgi),
                    load.p50_ms,
                    load.p99_ms,
                    load.errors,
                    target.cost(answer),
                )
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5, help="length of each load")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every target in turn")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--servers",
        default="",
        help="workers[:threads[:phone_threads]], comma-separated (default: 2, or 1 embedded)",
    )
    parser.add_argument("--nginx-workers", type=int, default=2)
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one worker")
    parser.add_argument(
        "--rust-tasks",
        action="store_true",
        help="also the minimal RSGI app under granian's Rust tasks (not counted as a ceiling)",
    )
    parser.add_argument(
        "--rsgi-loops",
        default="",
        metavar="LOOPS",
        help="also the minimal RSGI app on each of these event loops, comma-separated (not ceilings)",
    )
    parser.add_argument(
        "--before",
        metavar="REVISION",
        help="also load `sessioncloud serve` of this git revision (its own defaults)",
    )
    args = parser.parse_args(argv)
    require("nginx", "wrk")
    variants = rsgi_variants(args)  # a loop that is not installed stops the run before anything starts
    header(
        "Config fetch: SessionCloud, nginx and the ceiling for Python",
        "python bench/config_fetch.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )

    with bench_deployment(args.embedded) as env, ExitStack() as stack:
        make_app(make_org(), PROVIDER_ID)
        targets, body = start_targets(stack, env, args, variants)
        measure(targets, args)
    table(
        f"GET {PATH} ({len(body)} bytes), {deployment_label(args.embedded)}, {args.connections} connections, "
        f"wrk -t2; every server in turn (reversed every other round), {args.rounds} round(s) of "
        f"{args.seconds:g} s per answer; the ceiling: the best of the minimal apps",
        [
            "server",
            "answer",
            "requests/s",
            "of nginx",
            "of the ceiling",
            "of the RSGI app",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU µs/request (+ Redis)",
        ],
        rows(targets),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
