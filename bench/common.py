"""What every benchmark shares: its own database, real server processes, nginx, wrk, tables.

Everything runs on loopback and stops by itself: each load has a fixed duration, each process
started here is stopped on the way out (even on Ctrl-C), and the benchmark database is dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
BENCH_DB = os.environ.get("BENCH_DB", "sessioncloud_bench")


# --- Machine, tools ------------------------------------------------------------------------


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = f"{os.cpu_count()} cores ({model or platform.machine()})"
    return f"{cores}, {memory:.0f} GB, Python {platform.python_version()}"


def require(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        sys.exit(f"Missing: {', '.join(missing)}. Install with: apt-get install -y {' '.join(missing)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def wait_until_up(base: str, process: subprocess.Popen, seconds: float = 60, path: str = "/healthz") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urlopen(f"{base}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not come up")


def stop(process: subprocess.Popen, seconds: float = 15) -> None:
    """Stop a process started as the leader of its own process group, with every child it forked."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=seconds)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def rss_mib(pid: int) -> float:
    """Resident memory of one process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def database_pids() -> list[int]:
    """The PostgreSQL and Redis server processes on this machine (PostgreSQL has one per connection)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and cmdline(int(entry.name)).startswith((b"postgres", b"redis-server")):
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def total_rss_mib(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += rss_mib(pid)
        except OSError:  # gone meanwhile
            continue
    return total


def connections_to(pids: Sequence[int], port: int) -> dict[int, int]:
    """Established TCP connections each process holds to a local `port`: its calls in flight there.

    Read from /proc: the sockets connected to that port (/proc/net/tcp, tcp6) matched with the
    file descriptors of each process.
    """
    remote_port = f":{port:04X}"
    inodes: set[str] = set()
    for listing in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(listing).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[2].endswith(remote_port):  # 01: ESTABLISHED
                inodes.add(fields[9])
    return {
        pid: sum(1 for link in fd_links(pid) if link.startswith("socket:[") and link[8:-1] in inodes)
        for pid in pids
    }


def fd_links(pid: int) -> list[str]:
    """What each open file descriptor of a process points to (those closed meanwhile left out)."""
    links = []
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return []
    for descriptor in descriptors:
        try:
            links.append(os.readlink(descriptor))
        except OSError:
            continue
    return links


def metric_samples(base: str, name: str, samples: int = 8, until: float | None = None) -> list[float]:
    """A metric's value as /metrics answers it, asked on `samples` new connections.

    Each worker process keeps its own figures, and which one answers is the kernel's choice, so
    several samples show the values of several workers (without saying which). Under load an
    answer can take seconds: one that comes after `until` (time.monotonic()) is left out.
    """
    values = []
    for _ in range(samples):
        with urlopen(f"{base}/metrics", timeout=10) as response:
            text = response.read().decode()
        if until is not None and time.monotonic() > until:
            break
        values += [float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values


def ensure_descriptors(needed: int) -> int:
    """Raise the open-files limit (every process started here inherits it) to `needed`; the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and (hard == resource.RLIM_INFINITY or hard >= needed):
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        soft = needed
    if soft < needed:
        sys.exit(f"{needed} open files needed per process and the limit is {soft}: raise `ulimit -n`")
    return soft


# --- The database and Django in this process ---------------------------------------------


def bench_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of the benchmark's servers (and of Django in this process)."""
    # The database and Redis are the benchmark's own, never the caller's.
    inherited = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env = {k: v for k, v in inherited.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "SESSIONCLOUD_DATA_DIR": str(data_dir),
            "SESSIONCLOUD_LOG_LEVEL": "ERROR",
            # The benchmark's callers all come from 127.0.0.1; the limits stay on (their cost is
            # part of the path) but high enough never to answer 429.
            "SESSIONCLOUD_RATE_LIMITS": ",".join(
                ("provision_user=1000000/m", "provision_ip=100000000/m", "redeem_ip=100000000/m")
            ),
            "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
            "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
        }
    )
    env.update(extra)
    return env


def admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"{PG_SERVER_URL}/postgres", autocommit=True)


def create_database(name: str = BENCH_DB) -> str:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_SERVER_URL}/{name}"


def drop_database(name: str = BENCH_DB) -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flush_redis(url: str = REDIS_URL) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def setup_django(env: dict[str, str]) -> None:
    """Configure Django in this process exactly as the servers are configured, and migrate."""
    for name in (
        "DATABASE_URL",
        "SESSIONCLOUD_DATA_DIR",
        "REDIS_URL",
        "SESSIONCLOUD_RATE_LIMITS",
        "SESSIONCLOUD_OUTBOUND_ALLOW_NETS",
        "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP",
        "SESSIONCLOUD_LOG_LEVEL",
    ):
        if name in env:
            os.environ[name] = env[name]
        else:
            os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "sessioncloud.settings"
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def bench_database(redis_url: str | None = REDIS_URL, **extra: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database (and Redis db) for one benchmark run; dropped afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="sessioncloud-bench-"))
    url = create_database()
    if redis_url:
        flush_redis(redis_url)
        extra = {"REDIS_URL": redis_url, **extra}
    env = bench_env(url, data_dir, **extra)
    try:
        setup_django(env)
        yield env
    finally:
        from django.db import connections

        connections.close_all()
        drop_database()
        if redis_url:
            flush_redis(redis_url)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def embedded_database(**extra: str) -> Iterator[dict[str, str]]:
    """The embedded default: SQLite in a fresh data directory, each process with its own cache."""
    data_dir = Path(tempfile.mkdtemp(prefix="sessioncloud-bench-"))
    env = bench_env("", data_dir, **extra)
    env.pop("DATABASE_URL")  # the servers use the SQLite file in the data directory
    try:
        setup_django(env)
        yield env
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_deployment(embedded: bool, **extra: str):  # type: ignore[no-untyped-def]
    """`embedded_database` or `bench_database`: Django in this process set up like the servers."""
    return embedded_database(**extra) if embedded else bench_database(**extra)


def deployment_label(embedded: bool) -> str:
    return "embedded (SQLite, in-process cache)" if embedded else "PostgreSQL + Redis"


def make_org(slug: str = "bench", name: str = "Bench Telecom"):  # type: ignore[no-untyped-def]
    from sessioncloud.accounts.models import Organization

    return Organization.objects.get_or_create(slug=slug, defaults={"name": name})[0]


def make_app(org, provider_id: str, **values: object):  # type: ignore[no-untyped-def]
    """An App shaped like a real provider's: branding, help links, a SIP profile."""
    from sessioncloud.providers.models import App

    fields: dict[str, object] = {
        "name": "Bench Telecom",
        "kind": "generic",
        "theme_color": "#0A7CFF",
        "contact_email": "support@bench.example",
        "help_menu_title": "Help",
        "help_links": [
            {"title": "Billing", "url": "https://bench.example/billing?u=%user%&p=%pwd%"},
            {"title": "Status", "url": "https://status.bench.example/"},
        ],
        "sip_domain": "sip.bench.example:5060",
        "sip_transport": "TLS",
        "srtp": "Enabled",
        "voicemail_number": "*97",
        "username_placeholder": "Account No",
        "password_placeholder": "PIN",
    }
    fields.update(values)
    app = App(organization=org, provider_id=provider_id, **fields)
    app.full_clean()
    app.save()
    return app


def provider_calls_bound() -> int:
    """The servers' per-App bound on calls in flight, per process, for an App that sets none
    (SESSIONCLOUD_PROVIDER_CALLS_PER_APP: the servers run with this process's environment)."""
    from django.conf import settings

    return int(settings.PROVIDER_CALLS_PER_APP)


# --- Servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """The flags of one `sessioncloud serve`. Only the flags set are passed, so an older revision,
    whose `serve` had other flags, runs with its own defaults unless told otherwise."""

    workers: int = 2
    threads: int = 0  # Django threads per worker (`--threads`); 0: the server's default
    phone_threads: int = 0  # `--phone-threads`; 0: the server's default
    extra: tuple[str, ...] = ()  # any other flags, e.g. ("--server", "gunicorn") for an older revision

    def label(self) -> str:
        parts = [f"{self.workers} worker{'s' if self.workers > 1 else ''}"]
        if self.threads:
            parts.append(f"{self.threads} Django threads")
        if self.phone_threads:
            parts.append(f"{self.phone_threads} phone threads")
        return " × ".join(parts) + "".join(f" {flag}" for flag in self.extra)

    def args(self) -> list[str]:
        args = ["--workers", str(self.workers)]
        if self.threads:
            args += ["--threads", str(self.threads)]
        if self.phone_threads:
            args += ["--phone-threads", str(self.phone_threads)]
        return [*args, *self.extra]


def parse_specs(text: str, workers: int = 2) -> list[ServerSpec]:
    """`workers[:threads[:phone_threads]]`, comma-separated; an empty field keeps the default."""
    specs = []
    for item in filter(None, text.split(",")):
        fields = [int(part) if part else 0 for part in item.split(":")] + [0, 0]
        specs.append(ServerSpec(fields[0] or workers, fields[1], fields[2]))
    return specs


@dataclass
class RunningServer:
    base: str
    port: int
    process: subprocess.Popen

    def worker_pids(self) -> list[int]:
        """The server's workers: the children forked from it (not, say, the embedded job runner)."""
        forked = [pid for pid in children(self.process.pid) if cmdline(pid) == cmdline(self.process.pid)]
        return forked or [self.process.pid]


@contextmanager
def sessioncloud_serve(
    env: dict[str, str], spec: ServerSpec = ServerSpec(), port: int | None = None, code: Path | None = None
) -> Iterator[RunningServer]:
    """`sessioncloud serve`, from this tree or from `code` (another version, to compare with)."""
    port = port or free_port()
    root = code or ROOT
    process = subprocess.Popen(
        [sys.executable, "-m", "sessioncloud.cli", "serve", "--port", str(port), *spec.args()],
        env={**env, "PYTHONPATH": str(root)},
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        server = RunningServer(f"http://127.0.0.1:{port}", port, process)
        wait_until_up(server.base, process)
        yield server
    finally:
        stop(process)


@contextmanager
def granian_app(
    target: str,
    interface: str,
    workers: int,
    env: dict[str, str],
    *,
    factory: bool = False,
    check_path: str = "/",
    options: Sequence[str] = (),
) -> Iterator[RunningServer]:
    """Any application under granian (`interface`: wsgi, asgi, asginl or rsgi), with the HTTP
    settings `sessioncloud serve` uses: HTTP/1, no websockets, a backlog of 2048; `options`
    are more of granian's, to measure what they change."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        interface,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--http",
        "1",
        "--no-ws",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        [*command, *(["--factory"] if factory else []), *options, target],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        server = RunningServer(f"http://127.0.0.1:{port}", port, process)
        wait_until_up(server.base, process, path=check_path)
        yield server
    finally:
        stop(process)


@contextmanager
def python_process(
    args: Sequence[str], port: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield process
    finally:
        stop(process)


@dataclass(frozen=True)
class Stub:
    """A running bench/upstream_stub.py."""

    port: int
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/provisioning"

    def stats(self) -> dict[str, int]:
        with urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as response:
            return dict(json.loads(response.read()))


@contextmanager
def provider_stub(
    latency: float = 0.2, *, dead: bool = False, close: bool = False, tls: tuple[Path, Path] | None = None
) -> Iterator[Stub]:
    """A provider's service answering every call after `latency` seconds (or never, when dead).

    It keeps connections open between calls and says so, as nginx does, unless `close`; with
    `tls` (a certificate and its key) it serves https.
    """
    port = free_port()
    options = ["--dead"] if dead else ["--latency", str(latency)]
    options += ["--close"] if close else []
    options += ["--tls", str(tls[0]), str(tls[1])] if tls else []
    with python_process(["bench/upstream_stub.py", "--port", str(port), *options], port):
        yield Stub(port, "https" if tls else "http")


# --- nginx -----------------------------------------------------------------------------------


NGINX_MAIN = """
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 1000000;
{body}
}}
"""


@contextmanager
def nginx(http_body: str, workers: int | str = "auto") -> Iterator[Path]:
    """nginx (the Debian package) with `http_body` inside its http block; yields its prefix."""
    require("nginx")
    prefix = Path(tempfile.mkdtemp(prefix="sessioncloud-nginx-"))
    prefix.chmod(0o755)  # nginx workers run as an unprivileged user and must read the files
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_MAIN.format(workers=workers, prefix=prefix, body=http_body.replace("{prefix}", str(prefix)))
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        for port in re.findall(r"listen\s+127\.0\.0\.1:(\d+)", http_body):
            wait_for_port(int(port))
        yield prefix
    finally:
        stop(process)
        shutil.rmtree(prefix, ignore_errors=True)


# --- wrk ---------------------------------------------------------------------------------


WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
    .. '"p50":%d,"p90":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int  # connection errors, timeouts and HTTP statuses >= 400
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def merged(loads: list[Load]) -> Load:
    """Rounds together: all requests over all the time; the middle p50, the worst p99."""
    p50s = sorted(load.p50_ms for load in loads)
    return Load(
        sum(load.requests for load in loads),
        sum(load.seconds for load in loads),
        sum(load.errors for load in loads),
        p50s[len(p50s) // 2],
        max(load.p90_ms for load in loads),
        max(load.p99_ms for load in loads),
        max(load.max_ms for load in loads),
    )


class WrkRun:
    """One bounded wrk run against a loopback URL, started at once; `finish()` waits for its end
    and `stop()` ends it early (wrk then reports what it did until then)."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        seconds: float,
        threads: int = 2,
        headers: dict[str, str] | None = None,
        lua: str = "",
        timeout_s: int = 30,
    ) -> None:
        require("wrk")
        if not url.startswith("http://127.0.0.1:"):
            raise ValueError("benchmarks load loopback only")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(lua + WRK_REPORT)
        self.script = script.name
        self.limit = seconds + timeout_s + 30
        command = [
            "wrk",
            "-t",
            str(min(threads, connections)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            f"{timeout_s}s",
            "-s",
            script.name,
        ]
        for name, value in (headers or {}).items():
            command += ["-H", f"{name}: {value}"]
        self.process = subprocess.Popen(
            [*command, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> Load:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> Load:
        try:
            out, err = self.process.communicate(timeout=self.limit)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        finally:
            os.unlink(self.script)
        if "WRKJSON " not in out:
            raise RuntimeError(f"wrk failed ({self.process.returncode}): {err.strip() or out.strip()}")
        data = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
        errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
        return Load(
            data["requests"],
            data["duration_us"] / 1e6,
            errors,
            data["p50"] / 1000,
            data["p90"] / 1000,
            data["p99"] / 1000,
            data["max"] / 1000,
        )


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    lua: str = "",
    timeout_s: int = 30,
) -> Load:
    """One bounded wrk run against a loopback URL."""
    return WrkRun(
        url,
        connections=connections,
        seconds=seconds,
        threads=threads,
        headers=headers,
        lua=lua,
        timeout_s=timeout_s,
    ).finish()


def provision_lua(
    provider_id: str, *, users: int = 1000, threads: int = 2, stagger: tuple[int, float] | None = None
) -> str:
    """A wrk script of phones POSTing /api/v1/provision for `users` users and devices in turn.

    Each wrk thread takes its own users (thread n: n, n + threads, ...), so no two connections
    ask for the same device at once while users > connections. `stagger` = (connections, seconds)
    spreads the connections' first requests evenly over that many seconds, as phones arriving
    one after another rather than all in the same millisecond.
    """
    body = (
        f'{{"providerId":"{provider_id}","username":"u%d","password":"pw","deviceId":"bench-%06d",'
        f'"reprovision":true,"app":{{"platform":"ios","version":"6.0.0"}}}}'
    )
    script = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local created = 0
function setup(thread)
  thread:set("id", created)
  created = created + 1
end
local counter = 0
request = function()
  local n = (counter * {threads} + id) % {users} + 1
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('{body}', n, n))
end
"""
    if stagger:
        connections, seconds = stagger
        script += f"""
local first = 0
delay = function()
  if first < {connections // threads} then
    first = first + 1
    return math.floor(((first - 1) * {threads} + id) * {seconds * 1000 / connections})
  end
  return 0
end
"""
    return script


# --- Reporting ---------------------------------------------------------------------------


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [f"\n{title}\n"]
    for index, row in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(row)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}" if whole else "-"


def fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def exported_version(revision: str) -> Path:
    """The tree of a git revision, exported to a temporary directory (the work tree is untouched)."""
    target = Path(tempfile.mkdtemp(prefix="sessioncloud-rev-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def calls_and_rounds(description: str, title: str, script: str, argv: list[str] | None) -> argparse.Namespace:
    """The options of an in-process CPU benchmark (`--calls` per round, `--rounds`), and its header."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    header(title, f"python bench/{script} " + " ".join(argv if argv is not None else sys.argv[1:]))
    return args


def header(title: str, command: str) -> None:
    print(
        f"# {title}\n\ncommand: {command}\nmachine: {machine()}\nload avg before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
