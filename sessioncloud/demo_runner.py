"""`sessioncloud demo`: migrate, seed the demo, start the example provider service, serve."""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import sys
from pathlib import Path

from sessioncloud.lib.publicurl import demo_public_url

EXAMPLE_SERVICE = Path(__file__).resolve().parent.parent / "examples" / "provider_service.py"
EXAMPLE_PORT = 8001


def allow_demo_provider() -> None:
    # Only the demo reaches a provider service on loopback over plain HTTP; production refuses both.
    nets = [n for n in os.environ.get("SESSIONCLOUD_OUTBOUND_ALLOW_NETS", "").split(",") if n.strip()]
    os.environ["SESSIONCLOUD_OUTBOUND_ALLOW_NETS"] = ",".join([*nets, "127.0.0.1/32"])
    os.environ["SESSIONCLOUD_OUTBOUND_ALLOW_HTTP"] = "true"


def start_example_provider(signing_secret: str) -> subprocess.Popen | None:
    if not EXAMPLE_SERVICE.exists():
        print("  (examples/provider_service.py is not here: DemoExternal will answer provider_unreachable)")
        return None
    env = {**os.environ, "PROVIDER_SIGNING_SECRET": signing_secret}
    process = subprocess.Popen(  # noqa: S603 - our own example program
        [sys.executable, str(EXAMPLE_SERVICE), "--host", "127.0.0.1", "--port", str(EXAMPLE_PORT)], env=env
    )
    atexit.register(process.terminate)
    return process


def banner(host: str, port: int) -> str:
    from sessioncloud.providers.demo import DEMO_EMAIL, DEMO_PASSWORD

    base = f"http://{host}:{port}"
    return f"""
SessionCloud demo is starting at {base}

  Portal:        {base}/portal/   log in as {DEMO_EMAIL} / {DEMO_PASSWORD}
  API docs:      {base}/api/v1/docs
  Phone config:  curl {base}/api/v1/providers/DemoGeneric/config
  Provisioning:  curl -X POST {base}/api/v1/provision -H 'Content-Type: application/json' \\
                   -d '{{"username": "1000:DemoExternal", "password": "1234", "deviceId": "demo-1"}}'
  Reference phone: .venv/bin/sessioncloud phone --server {base} config DemoGeneric

  Demo only: outbound calls to 127.0.0.1 over plain HTTP are allowed, for the example
  provider service on 127.0.0.1:{EXAMPLE_PORT} (users 1000 and 1001, password 1234).
{outbox_note()}"""


def outbox_note() -> str:
    from django.conf import settings

    if settings.EMAIL_BACKEND != settings.OUTBOX_BACKEND:
        return ""
    return f"""
  No mail server (EMAIL_URL): sign-up confirmations, password resets and invitations are
  kept as files in {settings.EMAIL_FILE_PATH}, not sent and not logged.
"""


def run_demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sessioncloud demo", description="Seed and serve the demo.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--seed-only", action="store_true", help="Migrate and seed, then stop.")
    args = parser.parse_args(argv)
    allow_demo_provider()
    # Logo URLs and the links the demo hands out (setup pages, Linphone addresses) point at the
    # address it serves, unless the operator set one.
    os.environ.setdefault("SESSIONCLOUD_PUBLIC_URL", demo_public_url(args.host, args.port))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("seed_demo")
    if args.seed_only:
        return 0
    from sessioncloud.providers.models import App

    external = App.objects.get(provider_id="DemoExternal")
    start_example_provider(external.signing_secret_list()[0])
    print(banner(args.host, args.port), flush=True)
    from sessioncloud.server import serve

    return serve(["--host", args.host, "--port", str(args.port)])
