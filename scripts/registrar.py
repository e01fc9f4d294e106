"""A SIP registrar on loopback (Debian's kamailio) that knows the demo's users, to watch phones
provisioned by SessionCloud register and call each other.

    .venv/bin/python scripts/registrar.py [--port 5060] [--data-dir var] [--user NAME:PASSWORD ...]

Without --user it reads the demo's SIP users (`make run`): the end users of the demo
organization that hold SIP credentials, and the accounts the example provider service hands out.
It runs kamailio in the foreground, logging each REGISTER and call, until Ctrl-C.

Digest authentication (realm: the domain the phone registers for), registrations kept in
memory, calls routed by username whatever the domain, so accounts of every demo App can
register here through an outbound proxy of 127.0.0.1:<port>. The tests (tests/sip) start it
through the functions below. `bash scripts/sip.sh` installs kamailio when missing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

KAMAILIO = "kamailio"
MODULES = (
    "tm",
    "sl",
    "rr",
    "pv",
    "maxfwd",
    "textops",
    "siputils",
    "xlog",
    "db_text",
    "usrloc",
    "registrar",
    "auth",
    "auth_db",
)
SUBSCRIBER_VERSION = 7  # kamailio 5.x's subscriber table schema
ROOT = Path(__file__).resolve().parents[1]

ROUTES = r"""
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (is_method("REGISTER")) {
        # The realm is the domain the phone registers for; users are found by name alone.
        if (!auth_check("$td", "subscriber", "1")) {
            xlog("L_NOTICE", "REGISTER $tu from $si: challenged ($rc)\n");
            auth_challenge("$td", "0");
            exit;
        }
        if (!save("location")) { sl_reply_error(); exit; }
        xlog("L_NOTICE", "REGISTER $tu from $si: 200 OK, expires $hdr(Expires)\n");
        exit;
    }
    if (has_totag()) {
        if (loose_route() || is_method("ACK")) { t_relay(); }
        exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    loose_route();
    record_route();
    if (!lookup("location")) {
        xlog("L_NOTICE", "$rm $ru from $fu: 404 not registered\n");
        sl_send_reply("404", "Not Found");
        exit;
    }
    xlog("L_NOTICE", "$rm from $fu to $tu: relayed to $ru\n");
    t_relay();
}
"""


def config_text(port: int, db_dir: Path, address: str = "127.0.0.1") -> str:
    modules = "\n".join(f'loadmodule "{name}.so"' for name in MODULES)
    return f"""#!KAMAILIO
debug=1
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:{address}:{port}
listen=tcp:{address}:{port}
{modules}
modparam("usrloc", "db_mode", 0)
modparam("registrar", "use_path", 0)
modparam("auth_db", "db_url", "text://{db_dir}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "use_domain", 0)
modparam("auth_db", "load_credentials", "")
{ROUTES}"""


def _ha1(*parts: str) -> str:
    return hashlib.md5(":".join(parts).encode("utf-8")).hexdigest()  # noqa: S324 - SIP digest is MD5


def subscriber_table(users: Mapping[str, str], realm: str = "127.0.0.1") -> str:
    """db_text's subscriber table. It refuses empty hash columns, so they are filled although
    kamailio computes HA1 from the password (calculate_ha1) for whatever realm a phone uses."""
    rows = ["id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)"]
    for number, (user, password) in enumerate(sorted(users.items()), 1):
        for value in (user, password):
            if any(char in value for char in ":\n\\ \t"):
                raise ValueError(f"db_text cannot hold the user or password {value!r}")
        rows.append(
            f"{number}:{user}:{realm}:{password}:{_ha1(user, realm, password)}:"
            f"{_ha1(f'{user}@{realm}', realm, password)}"
        )
    return "\n".join(rows) + "\n"


def write_registrar(directory: Path, port: int, users: Mapping[str, str], address: str = "127.0.0.1") -> Path:
    """kamailio's configuration and user table in `directory`; returns the configuration file."""
    db_dir = directory / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    (db_dir / "version").write_text(
        f"table_name(string) table_version(int)\nsubscriber:{SUBSCRIBER_VERSION}\n"
    )
    (db_dir / "subscriber").write_text(subscriber_table(users))
    (directory / "run").mkdir(exist_ok=True)
    config = directory / "kamailio.cfg"
    config.write_text(config_text(port, db_dir, address))
    return config


def registrar_command(config: Path) -> list[str]:
    run = config.parent / "run"
    # -DD: stay in the foreground; -E: log to stderr; its own runtime dir, no system paths.
    return [
        KAMAILIO,
        "-f",
        str(config),
        "-DD",
        "-E",
        "-Y",
        str(run),
        "-P",
        str(run / "kamailio.pid"),
        "-w",
        str(config.parent),
    ]


def start_registrar(
    directory: Path, port: int, users: Mapping[str, str], *, log: Path, address: str = "127.0.0.1"
) -> subprocess.Popen:
    config = write_registrar(directory, port, users, address)
    with log.open("wb") as stream:
        return subprocess.Popen(  # noqa: S603
            registrar_command(config),
            stdout=stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# --- the demo's users ------------------------------------------------------------------------


def example_provider_users() -> dict[str, str]:
    """SIP accounts the example provider service (examples/provider_service.py) hands out."""
    path = ROOT / "examples" / "provider_service.py"
    spec = importlib.util.spec_from_file_location("provider_service", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        account["sipusername"]: account["sippassword"]
        for user in module.USERS.values()
        for account in user["sipaccounts"]
    }


def demo_end_users(data_dir: Path) -> dict[str, str]:
    """SIP users of the demo organization's end users, read from the demo's own database."""
    os.environ.setdefault("SESSIONCLOUD_DATA_DIR", str(data_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sessioncloud.settings")
    import django

    django.setup()
    from sessioncloud.providers.models import EndUser

    users = EndUser.objects.filter(app__organization__slug="demo").exclude(sip_username="")
    return {user.auth_username or user.sip_username: user.sip_password for user in users}


def parse_users(values: Iterable[str]) -> dict[str, str]:
    users = {}
    for value in values:
        name, sep, password = value.partition(":")
        if not sep or not name:
            raise SystemExit(f"--user takes NAME:PASSWORD, not {value!r}")
        users[name] = password
    return users


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A loopback SIP registrar knowing the demo's users.")
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("SESSIONCLOUD_DATA_DIR", "var"),
        help="the demo's data directory (default: $SESSIONCLOUD_DATA_DIR or ./var)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="a SIP user instead of the demo's (repeatable)",
    )
    args = parser.parse_args(argv)
    if shutil.which(KAMAILIO) is None:
        print("kamailio is not installed: run `bash scripts/sip.sh` (as root)", file=sys.stderr)
        return 1
    users = parse_users(args.user) or {**example_provider_users(), **demo_end_users(Path(args.data_dir))}
    directory = Path(args.data_dir).resolve() / "registrar"
    config = write_registrar(directory, args.port, users)
    print(f"Registrar on udp and tcp 127.0.0.1:{args.port}, users: {', '.join(sorted(users))}")
    print(
        "Point a phone's outbound proxy at it: the SIP profile's outbound proxy 127.0.0.1:"
        f'{args.port}, or baresip\'s ;outbound="sip:127.0.0.1:{args.port};lr". Ctrl-C stops it.',
        flush=True,
    )
    process = subprocess.Popen(registrar_command(config))  # noqa: S603
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGTERM)
        return process.wait()


if __name__ == "__main__":
    sys.exit(main())
