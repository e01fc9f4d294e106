"""The `sessioncloud` command: serve, worker, demo, codes, phone, and every Django management command."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _dispatch(args: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    command = args[0] if args else "help"
    if command == "codes":
        from sessioncloud.codes.cli import main as codes_main

        return codes_main(args[1:])
    if command == "phone":
        from sessioncloud.phone.cli import main as phone_main

        return phone_main(args[1:])
    if command == "demo":
        from sessioncloud.demo_runner import run_demo

        return run_demo(args[1:])
    if command == "worker":
        from sessioncloud.onboarding.runner import run_worker

        return run_worker(args[1:])
    if command == "serve":
        from sessioncloud.server import serve

        return serve(args[1:])
    from sessioncloud.lib.envconfig import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["sessioncloud", *args])
    except ConfigError as error:
        print(f"sessioncloud: configuration error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
