"""Portal and management API throughput: `sessioncloud serve` against the design before it and
Django's ASGI handler.

    .venv/bin/python bench/portal.py [--embedded] [--before eebaf03] [--rounds 2] [--seconds 5]

Three servers of the same database, with the same number of workers, loaded in turn, round
after round:
- `sessioncloud serve` of this tree (Django on its thread pool behind the event-loop front);
- `sessioncloud serve` of `--before` (default eebaf03, the WSGI design before it), with its own
  defaults (granian WSGI, 64 threads per worker);
- Django's own ASGI handler (`django.core.asgi.get_asgi_application`) under granian's ASGI
  interface, with the database pool `serve` would give a worker: the alternative for the portal.
Each takes wrk (64 connections) on a logged-in portal page (the App list, and an App's General
page; the session cookie comes from one login through Django's test client, and these GETs need
no CSRF token) and on a management API read (GET /api/v1/manage/apps, with a key from
ApiKey.issue). The organization has 20 Apps. So that the database's connections stay few, each
server runs only for its own loads: started, warmed up, loaded, stopped. Reported: requests/s,
p50/p99, CPU per request, and this tree's ratio to each (goal: at least 0.5 of the design
before). PostgreSQL + Redis with 2 workers by default; `--embedded`: SQLite, 1 worker.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Load,
    RunningServer,
    ServerSpec,
    bench_deployment,
    cpu_seconds,
    deployment_label,
    exported_version,
    granian_app,
    header,
    make_app,
    make_org,
    merged,
    ratio,
    require,
    sessioncloud_serve,
    table,
    wrk,
)

APPS = 20
FIRST_APP = "Portal00"
LOADS = (
    ("portal: the App list", "/portal/", "session"),
    ("portal: an App's General page", f"/portal/apps/{FIRST_APP}/general/", "session"),
    ("management API: GET /api/v1/manage/apps", "/api/v1/manage/apps", "key"),
)
DJANGO_ASGI = "django.core.asgi:get_asgi_application"


@dataclass
class Contender:
    name: str
    start: Callable[[], AbstractContextManager[RunningServer]]
    loads: dict[str, list[Load]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)


def seed() -> dict[str, dict[str, str]]:
    """An organization with its Apps, an owner logged in once, an API key: the headers of each kind."""
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    from sessioncloud.accounts.models import ApiKey, Membership, Role

    org = make_org("portal", "Portal Telecom")
    for n in range(APPS):
        make_app(org, f"Portal{n:02d}")
    user = User.objects.create_user(
        username="owner", email="owner@portal.example", password=secrets.token_urlsafe()
    )
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    _, key = ApiKey.issue(org, "bench")
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return {
        "session": {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"},
        "key": {"Authorization": f"Bearer {key}"},
    }


def check(server: RunningServer, name: str, auth: dict[str, dict[str, str]]) -> None:
    """Each page answers 200 with the organization's Apps, without a redirect (to the login)."""
    for _, path, kind in LOADS:
        with urlopen(Request(server.base + path, headers=auth[kind]), timeout=30) as response:
            body, final = response.read(), response.geturl()
        if final != server.base + path or FIRST_APP.encode() not in body:
            raise RuntimeError(f"{name}: {path} did not answer the logged-in page (ended at {final})")


def contenders(stack: ExitStack, env: dict[str, str], args: argparse.Namespace) -> list[Contender]:
    spec = ServerSpec(1 if args.embedded else 2)
    result = [Contender(f"SessionCloud, {spec.label()}", lambda: sessioncloud_serve(env, spec))]
    if args.before:
        code = exported_version(args.before)
        stack.callback(shutil.rmtree, code, ignore_errors=True)
        result.append(
            Contender(
                f"SessionCloud {args.before}, its defaults, {spec.label()}",
                lambda: sessioncloud_serve(env, spec, code=code),
            )
        )
    asgi_env = {**env, "DJANGO_SETTINGS_MODULE": "sessioncloud.settings"}
    result.append(
        Contender(
            f"Django's ASGI handler, granian ASGI, {spec.label()}",
            lambda: granian_app(
                DJANGO_ASGI, "asginl", spec.workers, asgi_env, factory=True, check_path="/healthz"
            ),
        )
    )
    return result


def load_each(contender: Contender, auth: dict[str, dict[str, str]], args: argparse.Namespace) -> None:
    """One round: the server started, checked, warmed up, loaded on every page, stopped."""
    with contender.start() as server:
        check(server, contender.name, auth)
        pids = server.worker_pids()
        for name, path, kind in LOADS:
            url = server.base + path
            wrk(url, connections=args.connections, seconds=args.warmup, headers=auth[kind])
            before = cpu_seconds(pids)
            load = wrk(url, connections=args.connections, seconds=args.seconds, headers=auth[kind])
            contender.loads.setdefault(name, []).append(load)
            contender.cpu_ms.setdefault(name, []).append(
                (cpu_seconds(pids) - before) * 1000 / max(1, load.requests)
            )


def rows(results: list[Contender]) -> list[tuple[object, ...]]:
    ours = results[0]
    table_rows: list[tuple[object, ...]] = []
    for name, _, _ in LOADS:
        mine = merged(ours.loads[name])
        for contender in results:
            load = merged(contender.loads[name])
            cpu = sorted(contender.cpu_ms[name])[len(contender.cpu_ms[name]) // 2]
            table_rows.append(
                (
                    name,
                    contender.name,
                    load.rps,
                    load.p50_ms,
                    load.p99_ms,
                    load.errors,
                    f"{cpu:.2f}",
                    ratio(mine.rps, load.rps),
                )
            )
    return table_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5, help="length of each load")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every server in turn")
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--embedded", action="store_true", help="SQLite and the in-process cache, one worker")
    parser.add_argument(
        "--before",
        default="eebaf03",
        metavar="REVISION",
        help="the earlier revision to compare with (its own defaults); empty: none",
    )
    args = parser.parse_args(argv)
    require("wrk")
    header(
        "Portal and management API: this tree, the design before it, Django's ASGI handler",
        "python bench/portal.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    )
    with bench_deployment(args.embedded) as env, ExitStack() as stack:
        auth = seed()
        results = contenders(stack, env, args)
        for _ in range(args.rounds):
            for contender in results:
                load_each(contender, auth, args)
    table(
        f"{deployment_label(args.embedded)}; wrk {args.connections} connections, {args.rounds} round(s) of "
        f"{args.seconds:g} s per page and server, servers in turn",
        ["load", "server", "requests/s", "p50 ms", "p99 ms", "errors", "CPU ms/request", "this tree ÷ it"],
        rows(results),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
