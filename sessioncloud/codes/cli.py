"""`sessioncloud codes`: parse, encode and render the codes of docs/codes.md from a shell.

    codes parse TEXT | -                  print the parsed code as the JSON of docs/codes.md
    codes parse --image FILE | -          read the QR code in an image first
    codes encode local [--provider-id ID] --json JSON | -
    codes encode desktop --provider-id ID --json JSON | -
    codes encode external --username U (--password P | --password-stdin) [--provider-id ID]
    codes encode token --token T
    codes render TEXT | - -o FILE.png | FILE.svg [--scale N]

Exit status: 0 on success, 1 when a file cannot be read or written, 2 when the code or the
command line is not valid (the message goes to stderr as `error: ...`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sessioncloud.codes.formats import (
    CodeError,
    accounts_from_json,
    encode_desktop_local,
    encode_external,
    encode_local,
    encode_token,
    parse_code,
)
from sessioncloud.codes.qr import (
    DEFAULT_SCALE,
    MAX_IMAGE_BYTES,
    decode_image,
    render_png,
    render_svg,
)

EXIT_OK = 0
EXIT_IO_ERROR = 1
EXIT_INVALID = 2


def main(argv: list[str]) -> int:
    """Run one `codes` command; `argv` holds the arguments after `codes`."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        # argparse exits on --help and on usage errors; a caller embedding us wants a status.
        return EXIT_OK if exit_.code is None else exit_.code if isinstance(exit_.code, int) else EXIT_INVALID
    return run(args)


def build_parser(prog: str = "sessioncloud codes") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Parse, encode and render SessionCloud QR and link codes."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_parse(commands)
    _add_encode(commands)
    _add_render(commands)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        output = args.handler(args)
    except CodeError as error:
        return _fail(str(error), EXIT_INVALID)
    except UnicodeDecodeError:
        return _fail("the input is not UTF-8 text", EXIT_INVALID)
    except OSError as error:
        return _fail(_describe_os_error(error), EXIT_IO_ERROR)
    if output:
        sys.stdout.write(output + "\n")
    return EXIT_OK


def _describe_os_error(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return status


# --- parse ---------------------------------------------------------------------------------


def _add_parse(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("parse", help="print a code as the JSON of the phone API")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("text", nargs="?", help="the code text, or - to read it from stdin")
    source.add_argument(
        "--image", metavar="FILE", help="a PNG/JPEG image of a QR code, or - to read it from stdin"
    )
    parser.set_defaults(handler=_parse)


def _parse(args: argparse.Namespace) -> str:
    if args.image is not None:
        text = decode_image(_read_bytes(args.image))
    else:
        text = _read_text(args.text)
    return json.dumps(parse_code(text).to_json(), ensure_ascii=False)


# --- encode --------------------------------------------------------------------------------


def _add_encode(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "encode", help="print the code text for given accounts, credentials or token"
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    json_help = (
        '{"sipaccounts": [...], "xmppaccounts": [...]} or a bare array of SIP accounts; - reads it from stdin'
    )

    local = kinds.add_parser(
        "local", help="scloc:<ProviderId>|<json>, or scloc:<json> without --provider-id (whitelabel)"
    )
    local.add_argument("--provider-id", help="omit for a whitelabel app")
    local.add_argument("--json", required=True, help=json_help)
    local.set_defaults(handler=_encode_local)

    desktop = kinds.add_parser("desktop", help='scloc:?providerId=<id>&sipaccounts="[...]"')
    desktop.add_argument("--provider-id", required=True)
    desktop.add_argument("--json", required=True, help=json_help)
    desktop.set_defaults(handler=_encode_desktop)

    external = kinds.add_parser("external", help="scsc:<username>:<password>[:<ProviderId>]")
    external.add_argument("--username", required=True)
    password = external.add_mutually_exclusive_group(required=True)
    password.add_argument(
        "--password", help="visible to other local users in the process list; prefer --password-stdin"
    )
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    external.add_argument("--provider-id", help="omit for a whitelabel app")
    external.set_defaults(handler=_encode_external)

    token = kinds.add_parser("token", help="scloc:?v=2&token=<token>")
    token.add_argument("--token", required=True)
    token.set_defaults(handler=_encode_token)


def _encode_local(args: argparse.Namespace) -> str:
    sip, xmpp = accounts_from_json(_read_text(args.json))
    return encode_local(sip, xmpp, args.provider_id)


def _encode_desktop(args: argparse.Namespace) -> str:
    sip, xmpp = accounts_from_json(_read_text(args.json))
    if xmpp:
        raise CodeError("the desktop link cannot carry xmppaccounts; use encode local")
    return encode_desktop_local(args.provider_id, sip)


def _encode_external(args: argparse.Namespace) -> str:
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    return encode_external(args.username, password, args.provider_id)


def _encode_token(args: argparse.Namespace) -> str:
    return encode_token(args.token)


# --- render --------------------------------------------------------------------------------


def _add_render(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("render", help="write a code as a QR image (PNG or SVG)")
    parser.add_argument("text", help="the code text, or - to read it from stdin")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the image; .png or .svg chooses the format",
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=DEFAULT_SCALE,
        help=f"pixels per module for PNG (default {DEFAULT_SCALE})",
    )
    parser.set_defaults(handler=_render)


def _render(args: argparse.Namespace) -> str:
    text = _read_text(args.text)
    # Refuse to draw a code no phone could use: a printed mistake is expensive to recall.
    parse_code(text)
    suffix = Path(args.output).suffix.lower()
    if suffix == ".png":
        image = render_png(text, scale=args.scale)
    elif suffix == ".svg":
        image = render_svg(text)
    else:
        raise CodeError(f"cannot tell the image format from '{args.output}'; name the file .png or .svg")
    Path(args.output).write_bytes(image)
    return ""


# --- input ---------------------------------------------------------------------------------


def _read_text(value: str) -> str:
    if value != "-":
        return value
    # Trailing newlines come from `echo` and editors, not from the code.
    return sys.stdin.read().rstrip("\r\n")


def _read_bytes(path: str) -> bytes:
    # One byte more than decode_image accepts is enough for it to refuse a huge file
    # without this process reading all of it into memory.
    limit = MAX_IMAGE_BYTES + 1
    if path == "-":
        return sys.stdin.buffer.read(limit)
    with open(path, "rb") as file:
        return file.read(limit)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
