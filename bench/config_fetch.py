"""Config fetch (GET /api/v1/providers/{id}/config, 200 and 304) against nginx serving the same bytes.

    .venv/bin/python bench/config_fetch.py [--rounds 2] [--seconds 5] [--servers granian:2:8,gunicorn:2:64] [--before REV]

nginx (the Debian package) serves the exact body our API answers as a static file, with an ETag
and `Cache-Control: no-cache`, on the same machine in the same run: that is the baseline, the
physical limit of an HTTP answer here. Each server is then loaded the same way, on
PostgreSQL + Redis (`--embedded`: SQLite and the in-process cache, one process).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    REDIS_URL,
    Load,
    ServerSpec,
    bench_database,
    children,
    cpu_seconds,
    exported_version,
    free_port,
    header,
    make_app,
    make_org,
    merged,
    nginx,
    require,
    sessioncloud_serve,
    table,
    wrk,
)

PROVIDER_ID = "BenchInc"
PATH = f"/api/v1/providers/{PROVIDER_ID}/config"

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


def parse_specs(text: str) -> list[ServerSpec]:
    specs = []
    for item in filter(None, text.split(",")):
        server, _, rest = item.partition(":")
        workers, _, threads = rest.partition(":")
        specs.append(ServerSpec(server or "default", int(workers or 2), int(threads or 0)))
    return specs


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
                (redis_cpu_seconds(self.redis_url) - cache_cpu) * 1e6 / requests)

    def cost(self, answer: str) -> str:
        app = statistics.median(self.cpu_us[answer])
        if not self.redis_url:
            return f"{app:.0f}"
        return f"{app:.0f} + {statistics.median(self.cpu_us[answer + 'redis']):.0f}"


def compare(nginx_target: Target, ours: Target, args: argparse.Namespace) -> list[tuple[object, ...]]:
    """nginx and one server in turn, round after round, so both share whatever else runs."""
    for target in (nginx_target, ours):
        wrk(target.url, connections=args.connections, seconds=args.warmup)
    baseline = Target(nginx_target.name, nginx_target.url, nginx_target.etag, nginx_target.pids)
    for _ in range(args.rounds):
        for answer in ("200", "304"):
            baseline.load(answer, args)
            ours.load(answer, args)
    rows: list[tuple[object, ...]] = []
    for answer in ("200", "304"):
        theirs, mine = merged(baseline.loads[answer]), merged(ours.loads[answer])
        rows.append((ours.name, answer, mine.rps, theirs.rps, f"{mine.rps / theirs.rps:.2f}", mine.p50_ms,
                     mine.p99_ms, theirs.p99_ms, mine.errors, ours.cost(answer), baseline.cost(answer)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="length of each load")
    parser.add_argument("--rounds", type=int, default=2, help="nginx / SessionCloud rounds, taken in turn")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--servers", default="default:2", help="server:workers[:threads], comma-separated")
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one process")
    parser.add_argument("--before", metavar="REVISION",
                        help="also load `sessioncloud serve` of this git revision (its own defaults, 2 workers)")
    args = parser.parse_args(argv)
    require("nginx", "wrk")
    header("Config fetch: SessionCloud against nginx static",
           "python bench/config_fetch.py " + " ".join(argv if argv is not None else sys.argv[1:]))

    rows: list[tuple[object, ...]] = []
    redis_url = None if args.embedded else REDIS_URL
    runs = [(f"SessionCloud, {spec.label()}", ServerSpec(spec.server, 1, spec.threads) if args.embedded else spec,
             None) for spec in parse_specs(args.servers)]
    if args.before:
        runs.append((f"SessionCloud {args.before}, its defaults", ServerSpec("default", 1 if args.embedded else 2),
                     exported_version(args.before)))
    with bench_database(redis_url=redis_url) as env:
        if args.embedded:
            env.pop("DATABASE_URL")  # the servers use SQLite in the data directory
            _seed_sqlite(env)
        else:
            make_app(make_org(), PROVIDER_ID)
        body = b""
        port = free_port()
        with nginx(STATIC_SITE.format(port=port)) as prefix:
            static_url = f"http://127.0.0.1:{port}{PATH}"
            for name, spec, code in runs:
                with sessioncloud_serve(env, spec, code=code) as server:
                    status, answer_body, headers = fetch(server.base + PATH)
                    assert status == 200, status
                    etag = headers["ETag"]
                    assert fetch(server.base + PATH, etag)[0] == 304
                    if not body:  # nginx serves exactly these bytes
                        body = answer_body
                        publish(prefix, body)
                    assert answer_body == body
                    _, _, static_headers = fetch(static_url)
                    static = Target("nginx static file", static_url, static_headers["ETag"],
                                    children(int((prefix / "nginx.pid").read_text())))
                    rows += compare(static, Target(name, server.base + PATH, etag, server.worker_pids(), redis_url),
                                    args)
                if code is not None:
                    shutil.rmtree(code, ignore_errors=True)

    table(
        f"GET {PATH} ({len(body)} bytes), {args.connections} connections, wrk -t2; each server and nginx in "
        f"turn, {args.rounds} rounds of {args.seconds:g} s per answer",
        ["server", "answer", "requests/s", "nginx requests/s", "ours/nginx", "p50 ms", "p99 ms", "nginx p99 ms",
         "errors", "CPU µs/request (+ Redis)", "nginx CPU µs/request"],
        rows,
    )
    return 0


def publish(prefix: Path, body: bytes) -> None:
    target = prefix / "www" / PATH.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_bytes(body)
    for directory in [prefix / "www", *target.parents]:
        if str(directory).startswith(str(prefix)):
            directory.chmod(0o755)


def _seed_sqlite(env: dict[str, str]) -> None:
    import subprocess

    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from bench.common import make_app, make_org;"
        f"make_app(make_org(), {PROVIDER_ID!r})"
    )
    subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "sessioncloud.settings"},
                   cwd=Path(__file__).resolve().parent.parent, check=True)


if __name__ == "__main__":
    sys.exit(main())
