#!/usr/bin/env python3
"""Soak: mixed phone and portal traffic against a real `sessioncloud serve`, for a fixed time.

    .venv/bin/python scripts/soak.py                  # 10 minutes, SQLite (the embedded default)
    .venv/bin/python scripts/soak.py --postgres       # PostgreSQL + Redis on this machine
    .venv/bin/python scripts/soak.py --minutes 1      # a short run

Everything stays on loopback and stops by itself: the server, the example provider service and
every client stop at the end of the run (or on Ctrl-C), and a scratch database is used and
removed. The run passes when no answer was an error and the server's memory stayed flat; the
figures (requests, errors, latencies, memory over time) are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "soak-portal-password-42"  # noqa: S105 - a throwaway user in a scratch database
MAX_MINUTES = 60
REQUEST_TIMEOUT = 15.0
SAMPLE_EVERY = 5.0  # seconds between memory samples
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432"
PG_DATABASE = "sessioncloud_soak"
REDIS_URL = "redis://127.0.0.1:6379/11"


# --- set-up ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, postgres: bool) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SESSIONCLOUD_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "SESSIONCLOUD_DATA_DIR": str(data_dir),
            "SESSIONCLOUD_LOG_LEVEL": "WARNING",
            "SESSIONCLOUD_RATE_LIMITS": ",".join(
                f"{limit}=off"
                for limit in ("provision_user", "provision_ip", "redeem_ip", "login_ip", "parse_ip")
            ),
            "SESSIONCLOUD_OUTBOUND_ALLOW_NETS": "127.0.0.0/8",
            "SESSIONCLOUD_OUTBOUND_ALLOW_HTTP": "true",
            "DJANGO_SETTINGS_MODULE": "sessioncloud.settings",
        }
    )
    if postgres:
        env["DATABASE_URL"] = f"{PG_ADMIN_URL}/{PG_DATABASE}"
        env["REDIS_URL"] = REDIS_URL
    return env


def recreate_postgres_database(drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{PG_ADMIN_URL}/postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        if not drop_only:
            connection.execute(f"CREATE DATABASE {PG_DATABASE}")


def seed(env: dict[str, str], provider_url: str, clients: int) -> dict[str, Any]:
    """Migrate and create the soak tenant, in this process (the server runs in another)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from allauth.account.models import EmailAddress
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from sessioncloud.accounts.models import ApiKey, Membership, Organization, Role
    from sessioncloud.providers.models import App, EndUser

    call_command("migrate", verbosity=0)
    org = Organization.objects.create(slug="soak", name="Soak Telecom")
    # One portal user per client: allauth counts a login in progress against its account's
    # budget of attempts, so many simultaneous logins to one account would be throttled.
    for number in range(clients):
        user = User.objects.create_user(
            username=f"soak{number}", email=f"soak{number}@example.com", password=PASSWORD
        )
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    _, key = ApiKey.issue(org, "soak")
    generic = App(
        organization=org, provider_id="SoakGeneric", name="Soak Generic", sip_domain="sip.soak.example"
    )
    generic.full_clean()
    generic.save()
    external = App(
        organization=org,
        provider_id="SoakExternal",
        name="Soak External",
        sip_domain="sip.soak.example",
        provisioning_mode="external",
        provisioning_url=provider_url,
        provisioning_timeout=5,
    )
    external.save()
    for n in range(200):
        EndUser.objects.create(
            app=generic,
            external_id=f"user{n}",
            display_name=f"User {n}",
            sip_username=str(2000 + n),
            sip_password=f"secret-{n}",
        )
    return {"key": key, "signing_secret": external.signing_secret_list()[0]}


def start_provider(secret: str) -> Any:
    """The example provider service (examples/provider_service.py), in a thread of this process."""
    spec = importlib.util.spec_from_file_location(
        "provider_service", ROOT / "examples" / "provider_service.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.ProvisioningHandler.log_request = lambda *args, **kwargs: None
    server = module.make_server("127.0.0.1", 0, secret)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


def start_server(env: dict[str, str], port: int, threads: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "sessioncloud.cli", "serve", "--port", str(port), "--threads", str(threads)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )


def wait_until_up(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if http("GET", port, "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not come up")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def server_pids(master: int) -> list[int]:
    pids, queue = [master], [master]
    while queue:
        pid = queue.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids += [int(c) for c in children]
        queue += [int(c) for c in children]
    return pids


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


# --- traffic ----------------------------------------------------------------------------------


def http(
    method: str, port: int, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, Any]:
    connection = HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), response.headers
    finally:
        connection.close()


def json_call(
    method: str, port: int, path: str, body: dict | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    status, data, _ = http(
        method,
        port,
        path,
        json.dumps(body).encode() if body is not None else None,
        {"Content-Type": "application/json", **(headers or {})},
    )
    return status, json.loads(data) if data else None


class Client:
    """One simulated user: a phone most of the time, a provider's admin in the portal otherwise."""

    def __init__(self, number: int, port: int, key: str, stats: Stats) -> None:
        self.number, self.port, self.key, self.stats = number, port, key, stats
        self.rng = random.Random(number)  # noqa: S311 - traffic mix, not security
        self.cookies: dict[str, str] = {}
        self.etag = ""
        self.actions: list[tuple[float, Callable[[], bool]]] = [
            (40, self.config),
            (10, self.config_not_modified),
            (15, self.provision),
            (5, self.provision_rejected),
            (5, self.token),
            (5, self.parse),
            (8, self.manage),
            (12, self.portal),
        ]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def config(self) -> bool:
        status, data, headers = http("GET", self.port, "/api/v1/providers/SoakGeneric/config")
        self.etag = headers.get("ETag", "")
        return status == 200 and json.loads(data)["providerId"] == "SoakGeneric"

    def config_not_modified(self) -> bool:
        if not self.etag:
            return self.config()
        status, _, _ = http(
            "GET", self.port, "/api/v1/providers/soakgeneric/config", headers={"If-None-Match": self.etag}
        )
        return status == 304

    def provision(self) -> bool:
        status, body = json_call(
            "POST",
            self.port,
            "/api/v1/provision",
            {
                "providerId": "SoakExternal",
                "username": self.rng.choice(["1000", "1001"]),
                "password": "1234",
                "deviceId": f"soak-{self.number}-{self.rng.randrange(50)}",
                "reprovision": self.rng.random() < 0.5,
            },
        )
        return status == 200 and (not body["update"] or len(body["sipaccounts"]) == 1)

    def provision_rejected(self) -> bool:
        status, body = json_call(
            "POST",
            self.port,
            "/api/v1/provision",
            {
                "username": f"9{self.rng.randrange(1000)}:SoakExternal",
                "password": "nope",
                "deviceId": f"soak-{self.number}",
            },
        )
        return status == 200 and body["sipaccounts"] == [] and body["errmsg"] == "Wrong username or password."

    def token(self) -> bool:
        user = f"user{self.rng.randrange(200)}"
        status, created = json_call(
            "POST", self.port, f"/api/v1/manage/apps/SoakGeneric/endusers/{user}/tokens", {}, self.auth()
        )
        if status != 201:
            return False
        status, body = json_call(
            "POST",
            self.port,
            "/api/v1/tokens/redeem",
            {"token": created["token"], "deviceId": f"soak-token-{self.number}"},
        )
        return status == 200 and body["providerId"] == "SoakGeneric" and len(body["sipaccounts"]) == 1

    def parse(self) -> bool:
        status, body = json_call(
            "POST", self.port, "/api/v1/codes/parse", {"code": "scsc:1000:1234:SoakExternal"}
        )
        return status == 200 and body["username"] == "1000"

    def manage(self) -> bool:
        path = self.rng.choice(
            [
                "/api/v1/manage/apps",
                "/api/v1/manage/apps/SoakGeneric/endusers?limit=50",
                "/api/v1/manage/apps/SoakExternal/provisioning-log?limit=20",
            ]
        )
        status, _ = json_call("GET", self.port, path, None, self.auth())
        return status == 200

    def portal(self) -> bool:
        if not self.cookies:
            self.log_in()
        path = self.rng.choice(
            [
                "/portal/",
                "/portal/apps/SoakGeneric/branding/",
                "/portal/apps/SoakExternal/provisioning/",
                "/portal/team/",
                "/portal/audit/",
            ]
        )
        status, data, _ = http("GET", self.port, path, headers={"Cookie": self.cookie_header()})
        return status == 200 and b"Soak" in data

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def remember(self, headers: Any) -> None:
        for value in headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value

    def log_in(self) -> None:
        status, page, headers = http("GET", self.port, "/accounts/login/")
        self.remember(headers)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        form = urlencode(
            {
                "csrfmiddlewaretoken": token.group(1).decode() if token else "",
                "login": f"soak{self.number}@example.com",
                "password": PASSWORD,
            }
        ).encode()
        status, page, headers = http(
            "POST",
            self.port,
            "/accounts/login/",
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": self.cookie_header(),
                "Referer": f"http://127.0.0.1:{self.port}/accounts/login/",
            },
        )
        self.remember(headers)
        if status != 302:
            self.cookies.clear()  # log in again next time
            errors = re.findall(rb'class="[^"]*error[^"]*"[^>]*>\s*(?:<li>)?([^<]{1,200})', page)
            raise RuntimeError(
                f"portal login answered {status}: {b' '.join(errors).decode(errors='replace')}"
            )

    def step(self) -> None:
        weights = [weight for weight, _ in self.actions]
        action = self.rng.choices([a for _, a in self.actions], weights)[0]
        started = time.monotonic()
        try:
            ok = action()
            detail = "unexpected answer"
        except Exception as error:  # noqa: BLE001 - every failure is a figure, not a crash
            ok, detail = False, f"{type(error).__name__}: {error}"
        self.stats.record(action.__name__, time.monotonic() - started, ok, detail)


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []

    def record(self, action: str, seconds: float, ok: bool, detail: str) -> None:
        with self.lock:
            self.latencies[action].append(seconds)
            if not ok:
                self.errors[action] += 1
                if len(self.samples) < 20:
                    self.samples.append(f"{action}: {detail}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


# --- the run --------------------------------------------------------------------------------------


def soak(minutes: float, clients: int, threads: int, postgres: bool, output: Path) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="sessioncloud-soak-"))
    env = environment(data_dir, postgres)
    if postgres:
        recreate_postgres_database()
    provider = None
    server = None
    try:
        provider_port = free_port()  # reserved for the provider URL; the service takes its own port below
        seeded = seed(env, f"http://127.0.0.1:{provider_port}/provisioning", clients)
        provider = start_provider(seeded["signing_secret"])
        from sessioncloud.providers.models import App

        App.objects.filter(provider_id="SoakExternal").update(
            provisioning_url=f"http://127.0.0.1:{provider.server_port}/provisioning"
        )
        port = free_port()
        server = start_server(env, port, threads, data_dir / "server.log")
        wait_until_up(port, server)
        print(
            f"soak: {minutes:g} min, {clients} clients, {'PostgreSQL + Redis' if postgres else 'SQLite'}, "
            f"server on 127.0.0.1:{port}",
            flush=True,
        )

        stats, stop_event = Stats(), threading.Event()
        deadline = time.monotonic() + minutes * 60

        def run_client(number: int) -> None:
            client = Client(number, port, seeded["key"], stats)
            while not stop_event.is_set() and time.monotonic() < deadline:
                client.step()

        workers = [threading.Thread(target=run_client, args=(n,), daemon=True) for n in range(clients)]
        for worker in workers:
            worker.start()
        memory: list[tuple[float, float]] = []
        started = time.monotonic()
        while time.monotonic() < deadline:
            memory.append((round(time.monotonic() - started, 1), round(rss_mib(server_pids(server.pid)), 1)))
            time.sleep(min(SAMPLE_EVERY, max(0.0, deadline - time.monotonic())))
        stop_event.set()
        for worker in workers:
            worker.join(REQUEST_TIMEOUT + 5)
        memory.append((round(time.monotonic() - started, 1), round(rss_mib(server_pids(server.pid)), 1)))
        elapsed = time.monotonic() - started
    finally:
        if server is not None:
            stop(server)
        if provider is not None:
            provider.shutdown()
        if postgres:
            from django.db import connections

            connections.close_all()
            recreate_postgres_database(drop_only=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return report(minutes, clients, postgres, stats, memory, elapsed, output)


def report(
    minutes: float,
    clients: int,
    postgres: bool,
    stats: Stats,
    memory: list[tuple[float, float]],
    elapsed: float,
    output: Path,
) -> dict[str, Any]:
    total = sum(len(v) for v in stats.latencies.values())
    errors = sum(stats.errors.values())
    # Memory is flat when the last quarter of the run holds no more than the second quarter
    # (after the warm-up that fills caches and thread pools), give or take 10 % and 8 MiB.
    quarter = max(1, len(memory) // 4)
    settled = (
        statistics.median(m for _, m in memory[quarter : 2 * quarter]) if len(memory) >= 4 else memory[0][1]
    )
    final = statistics.median(m for _, m in memory[-quarter:])
    flat = final <= settled * 1.10 + 8
    result = {
        "command": f"scripts/soak.py --minutes {minutes:g} --clients {clients}"
        + (" --postgres" if postgres else ""),
        "database": "postgresql+redis" if postgres else "sqlite",
        "seconds": round(elapsed, 1),
        "requests": total,
        "errors": errors,
        "requests_per_second": round(total / elapsed, 1) if elapsed else 0,
        "actions": {
            name: {
                "count": len(v),
                "errors": stats.errors[name],
                "p50_ms": round(percentile(v, 0.5) * 1000, 1),
                "p95_ms": round(percentile(v, 0.95) * 1000, 1),
                "p99_ms": round(percentile(v, 0.99) * 1000, 1),
            }
            for name, v in sorted(stats.latencies.items())
        },
        "memory_mib": {
            "start": memory[0][1],
            "settled": settled,
            "end": final,
            "max": max(m for _, m in memory),
            "samples": memory,
        },
        "memory_flat": flat,
        "error_samples": stats.samples,
        "passed": errors == 0 and flat,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{result['requests']} requests in {result['seconds']} s ({result['requests_per_second']}/s), "
        f"{errors} errors; memory {memory[0][1]} -> {settled} (settled) -> {final} MiB (end), "
        f"{'flat' if flat else 'GROWING'}"
    )
    print("| action | requests | errors | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|")
    for name, figures in result["actions"].items():
        print(
            f"| {name} | {figures['count']} | {figures['errors']} | {figures['p50_ms']} | "
            f"{figures['p95_ms']} "
            f"| {figures['p99_ms']} |"
        )
    for sample in stats.samples:
        print(f"error: {sample}")
    print(f"{'PASSED' if result['passed'] else 'FAILED'}; figures in {output}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mixed phone and portal traffic for a fixed time, on loopback."
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent simulated users")
    parser.add_argument("--threads", type=int, default=32, help="server threads per process")
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL and Redis on 127.0.0.1 instead of SQLite"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "var" / "soak" / "soak.json")
    args = parser.parse_args(argv)
    if not 0 < args.minutes <= MAX_MINUTES or not 1 <= args.clients <= 64:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES}] and --clients in [1, 64]")
    result = soak(args.minutes, args.clients, args.threads, args.postgres, args.output)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
