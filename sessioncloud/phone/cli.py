"""`sessioncloud phone`: the reference softphone client, driving flows A to H (docs/phone-api.md).

    phone [--server URL] [--state FILE] config PROVIDER_ID
    phone ... scan CODE | IMAGE | -  [--provider-id ID] [--baresip FILE] [--show-passwords]
    phone ... login USERNAME[:PROVIDER_ID] PASSWORD | -  [--provider-id ID] [...]
    phone ... resume  [--baresip FILE] [--show-passwords]
    phone ... redeem TOKEN | CODE  [--baresip FILE] [--show-passwords]
    phone ... accounts [--format text|json|baresip] [--show-passwords]
    phone ... export FILE

The server is --server, else $SESSIONCLOUD_PHONE_SERVER, else the server the state file was
set up against, else http://127.0.0.1:8000. The state file is --state, else
$SESSIONCLOUD_PHONE_STATE, else ~/.sessioncloud-phone.json.

Exit status: 0 on success; 1 when the server answers an error, cannot be reached, refuses the
login or a file cannot be read or written (`error: <code>: <message>` on stderr for API
errors); 2 when a code or the command line is not valid.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessioncloud.codes.formats import (
    CodeError,
    ParsedCode,
    encode_token,
    is_valid_provider_id,
    parse_code,
)
from sessioncloud.codes.qr import MAX_IMAGE_BYTES, decode_image
from sessioncloud.phone.accounts import (
    BaresipError,
    baresip_comments,
    baresip_file,
    baresip_line,
    baresip_modules,
    merge_local,
    stored_local_accounts,
)
from sessioncloud.phone.client import (
    PhoneApi,
    PhoneApiError,
    ProvisionAnswer,
    ServerUnreachable,
)
from sessioncloud.phone.display import accounts_json, accounts_text, config_summary, printable
from sessioncloud.phone.state import (
    Credentials,
    PhoneState,
    StateError,
    StateStore,
    default_state_path,
    write_private_file,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
DEFAULT_SERVER = "http://127.0.0.1:8000"
MAX_STDIN_CHARS = 64 * 1024
STDIN = "-"
_CODE_SCHEME = re.compile(r"\s*(scloc|scsc):", re.IGNORECASE)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


class UsageError(Exception):
    """The command cannot run as given; exit status 2."""


class Refused(Exception):
    """The server answered, but gave this phone no accounts (wrong password, dead device)."""


class FileError(Exception):
    """An image to scan or a file to write cannot be used; the message names it."""


@dataclass
class Session:
    """One run of the command: the state file, the server, and the API client once needed."""

    store: StateStore
    state: PhoneState
    server: str
    _api: PhoneApi | None = field(default=None, repr=False)

    def api(self) -> PhoneApi:
        if self._api is None:
            try:
                self._api = PhoneApi(self.server)
            except ValueError as error:
                raise UsageError(str(error)) from None
            self.server = self._api.base_url
            # The deviceId is the server's key for this installation: keep it from the very
            # first call, even when that call fails.
            if not self.store.exists():
                self.save()
        return self._api

    def save(self) -> None:
        self.state.server = self.server
        self.store.save(self.state)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


# --- entry point ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run one `phone` command; `argv` holds the arguments after `phone`."""
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        # argparse exits on --help and on usage errors; a caller embedding us wants a status.
        if exit_.code is None:
            return EXIT_OK
        return exit_.code if isinstance(exit_.code, int) else EXIT_INVALID
    try:
        return run(args)
    except PhoneApiError as error:
        return fail(f"{error.code}: {error.message}", EXIT_FAILED)
    except (ServerUnreachable, Refused, StateError, FileError) as error:
        return fail(str(error), EXIT_FAILED)
    except BaresipError as error:
        return fail(f"cannot write the accounts for baresip: {error}", EXIT_FAILED)
    except (CodeError, UsageError) as error:
        return fail(str(error), EXIT_INVALID)
    except UnicodeDecodeError:
        return fail("the input is not UTF-8 text", EXIT_INVALID)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)


def run(args: argparse.Namespace) -> int:
    store = StateStore(Path(args.state).expanduser() if args.state else default_state_path())
    state = store.load()
    server = args.server or os.environ.get("SESSIONCLOUD_PHONE_SERVER") or state.server or DEFAULT_SERVER
    session = Session(store, state, server)
    try:
        return args.handler(session, args)
    finally:
        session.close()


def fail(message: str, status: int) -> int:
    # Messages quote server answers and code text: escape what a terminal would obey.
    print(f"error: {printable(message)}", file=sys.stderr)
    return status


def say(*lines: str) -> None:
    for line in lines:
        print(line)


# --- command line --------------------------------------------------------------------------


def build_parser(prog: str = "sessioncloud phone") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A reference softphone: provision against a SessionCloud "
        "server as a phone does, keep the result in a state file.",
    )
    parser.add_argument(
        "--server",
        help="SessionCloud base URL (default: "
        "$SESSIONCLOUD_PHONE_SERVER, the state's server, " + DEFAULT_SERVER + ")",
    )
    parser.add_argument(
        "--state", help="state file (default: $SESSIONCLOUD_PHONE_STATE or ~/.sessioncloud-phone.json)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    output = _output_options()

    config = commands.add_parser("config", help="flow A: fetch a provider's configuration")
    config.add_argument("provider_id", metavar="PROVIDER_ID")
    config.set_defaults(handler=cmd_config)

    scan = commands.add_parser(
        "scan",
        parents=[output],
        help="flows B, C, E, G, H: act on a QR code (image file) or code text ('-' reads stdin)",
    )
    scan.add_argument("code", metavar="CODE_OR_IMAGE")
    _provider_option(scan)
    scan.set_defaults(handler=cmd_scan)

    login = commands.add_parser(
        "login", parents=[output], help="flow D: log in with provisioning credentials"
    )
    login.add_argument("username", metavar="USERNAME[:PROVIDER_ID]")
    login.add_argument("password", metavar="PASSWORD", help="'-' reads it from stdin")
    _provider_option(login)
    login.set_defaults(handler=cmd_login)

    resume = commands.add_parser(
        "resume", parents=[output], help="flow F: re-provision as on every app start"
    )
    resume.set_defaults(handler=cmd_resume)

    redeem = commands.add_parser(
        "redeem",
        parents=[output],
        help="flow G: redeem a one-time setup token (the token or its scloc:?v=2&token= code)",
    )
    redeem.add_argument("token", metavar="TOKEN_OR_CODE")
    redeem.set_defaults(handler=cmd_redeem)

    accounts = commands.add_parser("accounts", help="print the stored accounts")
    accounts.add_argument("--format", choices=("text", "json", "baresip"), default="text")
    accounts.add_argument("--show-passwords", action="store_true")
    accounts.set_defaults(handler=cmd_accounts)

    export = commands.add_parser(
        "export", help="write the stored accounts as a baresip accounts file (mode 0600)"
    )
    export.add_argument("file", metavar="FILE")
    export.set_defaults(handler=cmd_export)
    return parser


def _output_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--baresip",
        metavar="FILE",
        help="also write the resulting accounts as a baresip accounts file (mode 0600)",
    )
    options.add_argument("--show-passwords", action="store_true", help="print passwords instead of ********")
    return options


def _provider_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--provider-id",
        help="the ProviderId built into a whitelabel app, for codes and logins that leave it out",
    )


# --- flow A: config ------------------------------------------------------------------------


def cmd_config(session: Session, args: argparse.Namespace) -> int:
    provider_id = checked_provider_id(args.provider_id)
    answer = session.api().get_config(provider_id)
    assert answer.config is not None  # no ETag was sent, so there is no 304
    session.state.start_setup("config", answer.config["providerId"], answer.config, answer.etag)
    session.save()
    say(*config_summary(answer.config))
    if answer.config["login"]["mode"] == "external":
        say(
            "No accounts yet: log in with your provisioning credentials "
            "(sessioncloud phone login USERNAME PASSWORD)."
        )
    else:
        say("No accounts yet: the phone now asks the user to type their SIP username and password.")
    return EXIT_OK


def checked_provider_id(value: str) -> str:
    if not is_valid_provider_id(value):
        raise UsageError(
            f"the ProviderId {value!r} is not valid: it must be 3 to 32 ASCII "
            "letters and digits, starting with a letter"
        )
    return value


# --- scan: flows B, C, E, G, H -------------------------------------------------------------


def cmd_scan(session: Session, args: argparse.Namespace) -> int:
    parsed = parse_code(read_code(args.code))
    if parsed.kind == "token":
        assert parsed.token is not None
        return redeem_token(session, parsed.token, args)
    provider_id = provider_for_code(parsed, args.provider_id, session.state)
    if parsed.kind == "local":
        return setup_local(session, parsed, provider_id, args)
    assert parsed.username is not None and parsed.password is not None
    return provision_login(session, parsed.username, parsed.password, provider_id, provider_id, args)


def read_code(argument: str) -> str:
    """Code text from an image file, from stdin ('-'), or the argument itself."""
    if argument == STDIN:
        return sys.stdin.read(MAX_STDIN_CHARS)
    path = Path(argument).expanduser()
    if _is_file(path):
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_IMAGE_BYTES + 1)
        except OSError as error:
            raise FileError(f"cannot read {argument}: {error.strerror or error}") from None
        return decode_image(data)
    if not _CODE_SCHEME.match(argument) and argument.lower().endswith(_IMAGE_SUFFIXES):
        raise UsageError(f"no such image file: {argument}")
    return argument


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        # Code text is no file name: too long, or holding characters no path may hold.
        return False


def provider_for_code(parsed: ParsedCode, given: str | None, state: PhoneState) -> str:
    """The code's ProviderId; whitelabel codes leave it out, as it is built into the app."""
    if given is not None:
        checked_provider_id(given)
        if parsed.provider_id and parsed.provider_id.lower() != given.lower():
            raise UsageError(f"this code is for ProviderId {parsed.provider_id}, not {given}")
    provider_id = parsed.provider_id or given or state.provider_id
    if provider_id is None:
        raise UsageError(
            "this whitelabel code carries no ProviderId: give --provider-id, "
            "or run `config PROVIDER_ID` first"
        )
    return provider_id


def setup_local(session: Session, parsed: ParsedCode, provider_id: str, args: argparse.Namespace) -> int:
    """Flows B, C and H: the accounts are in the code; the config supplies the rest."""
    answer = session.api().get_config(provider_id)
    assert answer.config is not None
    state = session.state
    state.start_setup("local", answer.config["providerId"], answer.config, answer.etag)
    state.local_accounts = [account.as_dict() for account in parsed.sipaccounts]
    state.sipaccounts = merge_local(parsed.sipaccounts, answer.config)
    state.xmppaccounts = [account.for_phone() for account in parsed.xmppaccounts]
    session.save()
    report(session, args, "Set up from the accounts in the code.")
    return EXIT_OK


# --- flows D and E: login ------------------------------------------------------------------


def cmd_login(session: Session, args: argparse.Namespace) -> int:
    password = read_password(args.password)
    sent, provider_id = provider_for_login(args.username, args.provider_id, session.state)
    return provision_login(session, args.username, password, sent, provider_id, args)


def read_password(argument: str) -> str:
    """The argument, or one line of stdin for '-' (keeps the password out of `ps`)."""
    return sys.stdin.readline().rstrip("\r\n") if argument == STDIN else argument


def provider_for_login(username: str, given: str | None, state: PhoneState) -> tuple[str | None, str]:
    """(providerId to send separately or None, ProviderId of the config to fetch).

    Whitelabel apps send the built-in ProviderId beside the username; generic apps let the
    user type `username:ProviderId` in one field and send it as typed (docs/phone-api.md, flow D).
    """
    if given is not None:
        return checked_provider_id(given), given
    if state.whitelabel:
        assert state.provider_id is not None
        return state.provider_id, state.provider_id
    name, colon, suffix = username.rpartition(":")
    if colon and name and is_valid_provider_id(suffix):
        return None, suffix
    if state.provider_id:
        return state.provider_id, state.provider_id
    raise UsageError("type the username as USERNAME:PROVIDER_ID, or give --provider-id")


def provision_login(
    session: Session,
    username: str,
    password: str,
    sent: str | None,
    provider_id: str,
    args: argparse.Namespace,
) -> int:
    state = session.state
    answer = session.api().provision(username, password, state.device_id, provider_id=sent)
    if not answer.sipaccounts:
        raise Refused(provider_refusal("the provider refused the login", answer.errmsg))
    config, etag = fetch_config(session, provider_id)
    state.start_setup("external", config["providerId"], config, etag)
    take_accounts(state, answer)
    state.credentials = Credentials(username, password, sent)
    session.save()
    report(session, args, "Logged in: the provider sent these accounts.", answer.errmsg)
    return EXIT_OK


def fetch_config(session: Session, provider_id: str) -> tuple[dict[str, Any], str | None]:
    """The provider's config, revalidated with the stored ETag when it is the same provider."""
    state = session.state
    same = state.config is not None and (state.provider_id or "").lower() == provider_id.lower()
    answer = session.api().get_config(provider_id, state.etag if same else None)
    if answer.config is None:
        assert state.config is not None
        return state.config, answer.etag
    return answer.config, answer.etag


def take_accounts(state: PhoneState, answer: ProvisionAnswer) -> None:
    state.local_accounts = []
    state.sipaccounts = answer.sipaccounts
    state.xmppaccounts = answer.xmppaccounts


def provider_refusal(what: str, errmsg: str) -> str:
    return f"{what}: {errmsg}" if errmsg else f"{what} and gave no reason"


# --- flow F: resume ------------------------------------------------------------------------


def cmd_resume(session: Session, args: argparse.Namespace) -> int:
    state = session.state
    if state.provider_id is None or state.setup is None:
        raise UsageError("nothing to resume: set the phone up first with config, scan, login or redeem")
    if state.setup == "external":
        return resume_external(session, args)
    return resume_config(session, args)


def resume_external(session: Session, args: argparse.Namespace) -> int:
    """Flows D/E restarted: `POST provision` with reprovision=true and the stored login."""
    state = session.state
    credentials = state.credentials
    if credentials is None:
        raise UsageError(
            "no provisioning login is stored (the provider removed this phone's accounts): log in again"
        )
    answer = session.api().provision(
        credentials.username,
        credentials.password,
        state.device_id,
        provider_id=credentials.provider_id,
        reprovision=True,
    )
    if answer.update and not answer.sipaccounts:
        # The provider's way of de-provisioning a phone (a deactivated device, a closed
        # customer account): drop the accounts and the login that no longer works.
        state.clear_accounts()
        session.save()
        report(session, args, "The provider removed this phone's accounts.", answer.errmsg, summary=False)
        return EXIT_OK
    if not answer.update:
        headline = "No changes: the phone keeps its accounts."
    elif answer.sipaccounts == state.sipaccounts:
        headline = "The provider sent the same accounts again."
    else:
        headline = "The provider sent new accounts."
    if answer.update:
        take_accounts(state, answer)
    if answer.config_version != state.config_version:
        assert state.provider_id is not None
        state.set_config(*fetch_config(session, state.provider_id))
        headline += f" Configuration updated to version {state.config_version}."
    session.save()
    report(session, args, headline, answer.errmsg)
    return EXIT_OK


def resume_config(session: Session, args: argparse.Namespace) -> int:
    """Local, token and config-only setups: revalidate the config with If-None-Match."""
    state = session.state
    assert state.provider_id is not None
    answer = session.api().get_config(state.provider_id, state.etag)
    if answer.config is None:
        report(session, args, f"Configuration unchanged (version {state.config_version}).", summary=False)
        return EXIT_OK
    previous = state.config_version
    state.set_config(answer.config, answer.etag)
    headline = f"Configuration changed (version {previous} -> {state.config_version})."
    if state.setup == "local":
        try:
            local = stored_local_accounts(state.local_accounts)
        except ValueError as error:
            raise StateError(
                f"the state file {session.store.path} is not valid ({error}); scan the code again"
            ) from None
        state.sipaccounts = merge_local(local, answer.config)
        headline += " The accounts from the code were merged again."
    elif state.setup == "token":
        headline += " The accounts from the setup code are kept."
    session.save()
    report(session, args, headline)
    return EXIT_OK


# --- flow G: redeem ------------------------------------------------------------------------


def cmd_redeem(session: Session, args: argparse.Namespace) -> int:
    return redeem_token(session, token_from_argument(args.token), args)


def token_from_argument(argument: str) -> str:
    """The token itself, or the token inside an `scloc:?v=2&token=` code."""
    if _CODE_SCHEME.match(argument):
        parsed = parse_code(argument)
        if parsed.kind != "token" or parsed.token is None:
            raise UsageError("this code holds no setup token; use `scan` for it")
        return parsed.token
    encode_token(argument.strip())  # checks the token's form with the format's own message
    return argument.strip()


def redeem_token(session: Session, token: str, args: argparse.Namespace) -> int:
    state = session.state
    answer = session.api().redeem(token, state.device_id)
    if not answer.sipaccounts:
        raise Refused(provider_refusal("the setup code gave this phone no accounts", answer.errmsg))
    assert answer.config is not None
    state.start_setup("token", answer.provider_id, answer.config, f'"{answer.config["version"]}"')
    take_accounts(state, answer)
    session.save()
    report(session, args, "Set up by the one-time setup code.", answer.errmsg)
    return EXIT_OK


# --- output --------------------------------------------------------------------------------


def report(
    session: Session, args: argparse.Namespace, headline: str, errmsg: str = "", *, summary: bool = True
) -> None:
    """What every provisioning command prints: headline, provider, accounts, baresip file."""
    state = session.state
    say(headline)
    if errmsg:
        say(f"Message from the provider: {printable(errmsg)}")
    if summary and state.config is not None:
        say(*config_summary(state.config))
    say(*accounts_text(state.sipaccounts, state.xmppaccounts, args.show_passwords))
    if args.baresip:
        write_baresip(Path(args.baresip).expanduser(), state.sipaccounts)


def write_baresip(path: Path, sipaccounts: list[dict[str, Any]]) -> None:
    text = baresip_file(sipaccounts)
    try:
        write_private_file(path, text)
    except OSError as error:
        raise FileError(f"cannot write {path}: {error.strerror or error}") from None
    say(f"Wrote {len(sipaccounts)} account(s) to {path} (baresip accounts format).")
    modules = baresip_modules(sipaccounts)
    if modules:
        say(f"baresip must load these modules (module lines in its config): {', '.join(modules)}.")


def cmd_accounts(session: Session, args: argparse.Namespace) -> int:
    state = session.state
    if args.format == "json":
        say(accounts_json(state.provider_id, state.sipaccounts, state.xmppaccounts, args.show_passwords))
    elif args.format == "baresip":
        say(
            *baresip_comments(state.sipaccounts),
            *(
                baresip_line(account, number, mask=not args.show_passwords)
                for number, account in enumerate(state.sipaccounts, 1)
            ),
        )
    else:
        say(*accounts_text(state.sipaccounts, state.xmppaccounts, args.show_passwords))
    return EXIT_OK


def cmd_export(session: Session, args: argparse.Namespace) -> int:
    write_baresip(Path(args.file).expanduser(), session.state.sipaccounts)
    return EXIT_OK
