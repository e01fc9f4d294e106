"""Size: 100,000 Apps and 1,000,000 end users in PostgreSQL against a near-empty database.

    .venv/bin/python bench/size.py [--apps 100000] [--users-per-app 10] [--samples 300]

Seeds two databases of its own with COPY (dropped at the end): a near-empty one (100 Apps,
1,000 end users) and a full one (100,000 Apps, 1,000,000 end users, a single-use setup token
and a device for each). Each gets its own `sessioncloud serve` (2 processes; one Redis, separate key
prefixes), and every sample is taken from both, one right after the other, so that whatever
else the machine does weighs on both alike. Latencies are of single requests, each server over
one keep-alive connection:

- config, cached: 100 Apps drawn at random, answered from Redis (no database);
- config, uncached: a random App whose entry is forgotten first (as after a save), so its row
  is read and rendered;
- provision: one of the 100 Apps (external mode; its provider service answers at once), a new
  username and device each time;
- token redeem: a fresh single-use setup token each time (SIP credentials, merged locally).

Memory is the resident size of each app process after the requests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DB,
    REDIS_URL,
    ROOT,
    ServerSpec,
    bench_database,
    create_database,
    drop_database,
    free_port,
    header,
    python_process,
    rss_mib,
    sessioncloud_serve,
    setup_django,
    table,
)

SMALL_APPS = 100


def field_defaults(model, given: dict[str, object]) -> tuple[list[str], list[object]]:  # type: ignore[no-untyped-def]
    """Every column of `model` but its id, with `given` values or the field defaults."""
    from django.utils import timezone

    now = timezone.now()
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        name = field.attname
        if name in given:
            value = given[name]
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        else:
            value = ""
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        columns.append(field.column)
        values.append(value)
    return columns, values


def copy_rows(
    model,
    template: dict[str, object],
    varying: list[str],  # type: ignore[no-untyped-def]
    rows: Iterable[tuple[object, ...]],
) -> None:
    """COPY rows into `model`'s table: `template` for every row, `varying` columns from `rows`."""
    from django.db import connection

    columns, values = field_defaults(model, {**template, **{name: None for name in varying}})
    positions = [columns.index(model._meta.get_field(name).column) for name in varying]
    names = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                for position, value in zip(positions, row, strict=True):
                    values[position] = value
                copy.write_row(values)


def ids(model, **filters: object) -> list[int]:  # type: ignore[no-untyped-def]
    return list(model.objects.filter(**filters).order_by("id").values_list("id", flat=True))


def seed(first_app: int, apps: int, users_per_app: int, stub_url: str) -> float:
    """Apps Bench<first_app>..., their end users, a single-use setup token and a device for each."""
    from django.db import connection
    from django.utils import timezone

    from sessioncloud.accounts.models import Organization
    from sessioncloud.providers.fields import secret_box
    from sessioncloud.providers.models import App, Device, EndUser, SetupToken, hash_token

    started = time.monotonic()
    secret = secret_box().encrypt("scs_bench-signing-secret")
    password = secret_box().encrypt("sip-secret")
    orgs = (apps + 9) // 10
    first_org = first_app // 10
    copy_rows(
        Organization, {"name": "Bench Telecom"}, ["slug"], ((f"bench-{first_org + i}",) for i in range(orgs))
    )
    org_ids = ids(Organization, slug__startswith="bench-")[-orgs:]
    copy_rows(
        App,
        {
            "name": "Bench Telecom",
            "theme_color": "#0A7CFF",
            "contact_email": "support@bench.example",
            "help_links": [{"title": "Billing", "url": "https://bench.example/billing?u=%user%"}],
            "sip_domain": "sip.bench.example:5060",
            "sip_transport": "TLS",
            "provisioning_mode": "external",
            "provisioning_url": stub_url,
            "signing_secrets": secret,
            "provisioning_timeout": 8,
        },
        ["organization_id", "provider_id"],
        ((org_ids[i // 10], f"Bench{first_app + i}") for i in range(apps)),
    )
    app_ids = ids(App, provider_id__startswith="Bench")[-apps:]
    copy_rows(
        EndUser,
        {"sip_password": password, "display_name": "Bench User"},
        ["app_id", "external_id", "sip_username"],
        ((app_id, f"user{n}", f"{2000 + n}") for app_id in app_ids for n in range(users_per_app)),
    )
    user_ids = ids(EndUser, app_id__gte=app_ids[0])
    expiry = timezone.now() + timedelta(days=1)
    copy_rows(
        SetupToken,
        {"expires": expiry, "max_uses": 1, "uses": 0},
        ["app_id", "end_user_id", "token_hash"],
        (
            (app_ids[i // users_per_app], user_id, hash_token(token_text(first_app, i)))
            for i, user_id in enumerate(user_ids)
        ),
    )
    copy_rows(
        Device,
        {"platform": "ios", "app_version": "6.0.0", "last_result": "ok"},
        ["app_id", "device_id", "end_user_id"],
        (
            (app_ids[i // users_per_app], f"device-{first_app}-{i}", user_id)
            for i, user_id in enumerate(user_ids)
        ),
    )
    with connection.cursor() as cursor:
        # As a database that has lived a while: hint bits set, statistics current.
        cursor.execute("VACUUM ANALYZE")
    return time.monotonic() - started


def query_plans() -> list[tuple[str, str]]:
    """How PostgreSQL finds an App, a token and a device at this size (the scan of each plan)."""
    from django.db import connection
    from django.db.models.functions import Lower

    from sessioncloud.providers import lookup
    from sessioncloud.providers.models import App, Device, SetupToken

    plans = []
    for name, (sql, params) in (
        (
            "App by ProviderId",
            App.objects.alias(p=Lower("provider_id"))
            .filter(p="bench99999", enabled=True)
            .query.sql_with_params(),
        ),
        (
            "App by ProviderId, as `iexact` (before)",
            App.objects.filter(provider_id__iexact="Bench99999", enabled=True).query.sql_with_params(),
        ),
        (
            "App and its device's ledger row (the provisioning call)",
            (lookup._select_sql(), lookup._select_params("bench99999", "x")),
        ),
        ("setup token by hash", SetupToken.objects.filter(token_hash="0" * 64).query.sql_with_params()),
        (
            "device by App and deviceId",
            Device.objects.filter(app_id=1, device_id="x").query.sql_with_params(),
        ),
    ):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            scans = [
                row[0].strip().lstrip("-> ").split("  (")[0] for row in cursor.fetchall() if "Scan" in row[0]
            ]
        plans.append((name, "; ".join(scans)))
    return plans


def token_text(first_app: int, index: int) -> str:
    return f"benchtoken{first_app:07d}x{index:09d}"


class Client:
    """One keep-alive HTTP connection; each call's latency in milliseconds."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, float]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000


class Target:
    """One database with its server: how to make each kind of request against it."""

    def __init__(self, name: str, base: str, apps: int, prefix: str, rng: random.Random):
        import redis

        from sessioncloud.providers.config import RedisConfigCache

        self.name = name
        self.client = Client(base)
        self.apps = apps
        self.hot = [f"Bench{rng.randrange(apps)}" for _ in range(100)]
        self.rng = rng
        self.cache = RedisConfigCache(redis.Redis.from_url(REDIS_URL), prefix)
        self.latencies: dict[str, list[float]] = {}
        self.failures = 0
        self.memory: list[float] = []

    def record(self, kind: str, answer: tuple[int, float]) -> None:
        status, ms = answer
        self.latencies.setdefault(kind, []).append(ms)
        self.failures += status != 200

    def step(self, kind: str, i: int) -> tuple[int, float]:
        if kind == "config, cached":
            return self.client.call("GET", f"/api/v1/providers/{self.hot[i % len(self.hot)]}/config")
        if kind == "config, uncached":
            provider_id = f"Bench{self.rng.randrange(self.apps)}"
            self.cache.forget([provider_id])
            return self.client.call("GET", f"/api/v1/providers/{provider_id}/config")
        if kind == "provision":
            return self.client.call(
                "POST",
                "/api/v1/provision",
                {
                    "providerId": self.hot[i % len(self.hot)],
                    "username": f"u{i}",
                    "password": "pw",
                    "deviceId": f"size-{i}",
                    "reprovision": False,
                },
            )
        return self.client.call(
            "POST", "/api/v1/tokens/redeem", {"token": token_text(0, i), "deviceId": f"redeem-{i}"}
        )


KINDS = ("config, cached", "config, uncached", "provision", "token redeem")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def seed_only(argv: list[str]) -> int:
    """Child process: seed the database DATABASE_URL names (the near-empty one)."""
    apps, users_per_app, stub_url = int(argv[0]), int(argv[1]), argv[2]
    setup_django(dict(os.environ))
    seed(0, apps, users_per_app, stub_url)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--seed-only"]:
        return seed_only(argv[1:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=100_000)
    parser.add_argument("--users-per-app", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1000, help="at most 1,000 (the near-empty tokens)")
    args = parser.parse_args(argv)
    header(
        "Size: 100,000 Apps and 1,000,000 end users against a near-empty database",
        "python bench/size.py " + " ".join(argv),
    )

    stub_port = free_port()
    empty_db = f"{BENCH_DB}_empty"
    with (
        bench_database(SESSIONCLOUD_CACHE_PREFIX="scfull") as full_env,
        python_process(["bench/upstream_stub.py", "--port", str(stub_port), "--latency", "0"], stub_port),
    ):
        stub_url = f"http://127.0.0.1:{stub_port}/provisioning"
        empty_env = {
            **full_env,
            "DATABASE_URL": create_database(empty_db),
            "SESSIONCLOUD_CACHE_PREFIX": "scempty",
        }
        try:
            subprocess.run(
                [sys.executable, __file__, "--seed-only", str(SMALL_APPS), str(args.users_per_app), stub_url],
                env=empty_env,
                cwd=ROOT,
                check=True,
            )
            seconds = seed(0, args.apps, args.users_per_app, stub_url)
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_size_pretty(pg_database_size(current_database())), "
                    "(SELECT count(*) FROM providers_app), (SELECT count(*) FROM providers_enduser), "
                    "(SELECT count(*) FROM providers_setuptoken), (SELECT count(*) FROM providers_device)"
                )
                db_size, total_apps, total_users, total_tokens, total_devices = cursor.fetchone()
            print(
                f"\nseeded {total_apps:,} Apps, {total_users:,} end users, {total_tokens:,} setup tokens and "
                f"{total_devices:,} devices "
                f"in {seconds:.1f} s (COPY, then VACUUM ANALYZE): {db_size}",
                flush=True,
            )
            table("Query plans at full size (the scan nodes of EXPLAIN)", ["lookup", "plan"], query_plans())
            memory = measure_both(empty_env, full_env, args)
        finally:
            drop_database(empty_db)

    empty, full = memory
    rows = []
    for kind in KINDS:
        e, f = empty.latencies[kind], full.latencies[kind]
        rows.append(
            (
                kind,
                percentile(e, 0.5),
                percentile(e, 0.99),
                percentile(f, 0.5),
                percentile(f, 0.99),
                f"{percentile(f, 0.5) / percentile(e, 0.5):.2f}",
                f"{percentile(f, 0.99) / percentile(e, 0.99):.2f}",
            )
        )
    table(
        f"Latency of single requests (ms), {args.samples} samples each, taken in turn from both: near-empty "
        f"({SMALL_APPS} Apps, {SMALL_APPS * args.users_per_app:,} end users) and full "
        f"({total_apps:,} Apps, {total_users:,} end users); non-200 answers: "
        f"{empty.failures + full.failures}",
        ["request", "empty p50", "empty p99", "full p50", "full p99", "p50 full/empty", "p99 full/empty"],
        rows,
    )
    table(
        "Resident memory per app process after the requests (MiB)",
        ["database", "processes"],
        [(target.name, ", ".join(f"{m:.0f}" for m in target.memory)) for target in memory],
    )
    return 0


def measure_both(
    empty_env: dict[str, str], full_env: dict[str, str], args: argparse.Namespace
) -> tuple[Target, Target]:
    rng = random.Random(7)
    with (
        sessioncloud_serve(empty_env, ServerSpec(2)) as empty_server,
        sessioncloud_serve(full_env, ServerSpec(2)) as full_server,
    ):
        empty = Target("near-empty", empty_server.base, SMALL_APPS, "scempty", rng)
        full = Target("full", full_server.base, args.apps, "scfull", rng)
        for target in (empty, full):
            for provider_id in target.hot:  # cached, and each process has served once
                target.client.call("GET", f"/api/v1/providers/{provider_id}/config")
                target.client.call("GET", f"/api/v1/providers/{provider_id}/config")
        for kind in KINDS:
            for i in range(args.samples):
                pair = (empty, full) if i % 2 == 0 else (full, empty)
                for target in pair:
                    target.record(kind, target.step(kind, i))
        for target, server in ((empty, empty_server), (full, full_server)):
            target.memory = [rss_mib(pid) for pid in server.worker_pids()]
    return empty, full


if __name__ == "__main__":
    sys.exit(main())
