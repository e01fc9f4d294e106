"""The code texts softphones scan or click (docs/codes.md): one parser and one encoder per format.

Framework-free on purpose: the phone API, the portal, the CLI and the reference phone client
all read and write codes through this module, and it is tested directly.

| format          | text                                                    |
|-----------------|---------------------------------------------------------|
| `scloc`         | `scloc:<ProviderId>|<json>` or `scloc:<json>`           |
| `scloc-desktop` | `scloc:?providerId=<id>&sipaccounts="<json array>"`     |
| `scsc`          | `scsc:<username>:<password>[:<ProviderId>]`             |
| `scsc-desktop`  | `scsc:?username=<user>[:<ProviderId>]&password=<pwd>`   |
| `scloc-token`   | `scloc:?v=2&token=<token>`                              |

A ProviderId left empty after its ':' (`scsc:<u>:<p>:`, `username=<u>:&password=`) means
none: PBX GUIs write that for Whitelabel apps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from sessioncloud.lib.sipaccount import (
    AccountError,
    SipAccount,
    XmppAccount,
    json_type_name,
    parse_account_lists,
    parse_sip_accounts,
)
from sessioncloud.lib.strictjson import StrictJsonError, loads_strict

Kind = Literal["local", "external", "token"]
Format = Literal["scloc", "scloc-desktop", "scsc", "scsc-desktop", "scloc-token"]

MAX_CODE_BYTES = 4096
# Real account JSON nests three levels deep; the bound stops hostile nesting long before
# Python's recursion limit could turn it into a crash.
MAX_JSON_DEPTH = 20
MAX_CREDENTIAL_LENGTH = 256

# \A and \Z rather than ^ and $: `$` also matches before a trailing newline, and callers may
# use .match() as readily as .fullmatch().
PROVIDER_ID_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9]{2,31}\Z")
TOKEN_RE = re.compile(r"\A[A-Za-z0-9_-]{16,128}\Z")

# Tab, CR and LF are JSON whitespace and may surround pretty-printed account JSON; every
# other control character is refused outright. Credentials refuse all of them.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# No \A: the pattern is matched with .match(text, pos) from the first non-blank character.
_SCHEME_RE = re.compile(r"(scloc|scsc):", re.IGNORECASE)
_SURROGATES = re.compile("[\ud800-\udfff]")
_WHITESPACE = " \t\r\n"
# Windows app-installer links carry one query pair only, so PBX GUIs write the separator
# before `password=` as `%26`.
_DESKTOP_ACTIVATION_RE = re.compile(
    r"\A\?username=(?P<username>.*?)(?:&|%26)password=(?P<password>.*)\Z", re.IGNORECASE | re.DOTALL
)
_SIPACCOUNTS_RE = re.compile(r"sipaccounts=", re.IGNORECASE)
_SCSC_SHAPE = "expected scsc:<username>:<password>[:<ProviderId>]"


class CodeError(ValueError):
    """A code text that cannot be parsed or encoded; the message says what is wrong."""


@dataclass(frozen=True)
class ParsedCode:
    """What a code carries, exactly as written: accounts are validated but never merged."""

    kind: Kind
    format: Format
    provider_id: str | None = None
    sipaccounts: tuple[SipAccount, ...] = ()
    xmppaccounts: tuple[XmppAccount, ...] = ()
    username: str | None = None
    password: str | None = None
    token: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The parsed form of docs/codes.md, shared by `POST /api/v1/codes/parse` and the CLI."""
        return {
            "kind": self.kind,
            "format": self.format,
            "providerId": self.provider_id,
            "sipaccounts": [account.as_dict() for account in self.sipaccounts],
            "xmppaccounts": [account.as_dict() for account in self.xmppaccounts],
            "username": self.username,
            "password": self.password,
            "token": self.token,
        }


def is_valid_provider_id(value: object) -> bool:
    return isinstance(value, str) and PROVIDER_ID_RE.match(value) is not None


def is_valid_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_RE.match(value) is not None


# --- parsing -------------------------------------------------------------------------------


def parse_code(text: str) -> ParsedCode:
    """Parse any code of docs/codes.md; every problem is a CodeError, never another exception.

    Surrounding whitespace of the whole text is ignored (codes are pasted from e-mails and
    chats), the scheme is matched case-insensitively and the text must fit in 4096 UTF-8 bytes.
    """
    text, begin = _check_text(text)
    scheme_match = _SCHEME_RE.match(text, begin)
    if scheme_match is None:
        _fail_scheme(text[begin:])
    body_start = scheme_match.end()
    if scheme_match.group(1).lower() == "scloc":
        return _parse_scloc(text, body_start)
    return _parse_scsc(text[body_start:])


def _check_text(text: object) -> tuple[str, int]:
    """The text without trailing whitespace, and where it begins once leading whitespace
    is skipped; positions in messages thus count characters of the code as given."""
    if not isinstance(text, str):
        raise CodeError(f"the code must be text, got {json_type_name(text)}")
    # Measure before any other work; the cheap length test first so a huge input costs
    # nothing more. "surrogatepass" lets a lone surrogate be measured, then refused below.
    if len(text) > MAX_CODE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_CODE_BYTES:
        raise CodeError(f"the code is longer than {MAX_CODE_BYTES} bytes (UTF-8)")
    text = text.rstrip(_WHITESPACE)
    begin = _skip_whitespace(text, 0)
    if begin == len(text):
        raise CodeError("the code is empty")
    _check_characters(text)
    return text, begin


def _check_characters(text: str) -> None:
    bad = _FORBIDDEN_CHARS.search(text)
    if bad is not None:
        raise CodeError(
            f"the code holds a control character (U+{ord(bad.group()):04X}) at character {bad.start() + 1}"
        )
    bad = _SURROGATES.search(text)
    if bad is not None:
        raise CodeError(
            f"the code holds an invalid character (a lone surrogate) at character {bad.start() + 1}"
        )


def _fail_scheme(text: str) -> NoReturn:
    colon = text.find(":")
    if colon <= 0 or colon > 20 or not text[:colon].isascii() or not text[:colon].isalnum():
        raise CodeError("the code does not start with scloc: or scsc:")
    raise CodeError(f"unknown code scheme '{text[:colon]}:'; expected scloc: or scsc:")


def _parse_scloc(text: str, start: int) -> ParsedCode:
    # `start` is kept as an offset into the whole text so JSON errors can point at the
    # character the user sees in the code.
    start = _skip_whitespace(text, start)
    if start == len(text):
        raise CodeError("the scloc: code carries nothing after the scheme")
    first = text[start]
    if first == "?":
        return _parse_scloc_query(text, start + 1)
    if first in "{[":
        return _local(None, _load_account_object(text, start))
    if first == ":":
        raise CodeError("stray ':' after scloc:")
    bar = text.find("|", start)
    if bar < 0:
        if is_valid_provider_id(text[start:]):
            raise CodeError("missing '|' between the ProviderId and the account JSON")
        raise CodeError("expected scloc:<ProviderId>|<json> or scloc:<json>; missing '|'")
    provider_id = _check_provider_id(text[start:bar].strip())
    return _local(provider_id, _load_account_object(text, bar + 1))


def _local(provider_id: str | None, lists: tuple[list[SipAccount], list[XmppAccount]]) -> ParsedCode:
    sip, xmpp = lists
    if not sip and not xmpp:
        raise CodeError("the code carries no accounts")
    return ParsedCode("local", "scloc", provider_id, tuple(sip), tuple(xmpp))


def _load_account_object(text: str, start: int) -> tuple[list[SipAccount], list[XmppAccount]]:
    data = _load_json(text, start)
    if not isinstance(data, dict):
        raise CodeError(f"the account JSON must be an object holding sipaccounts, got {json_type_name(data)}")
    try:
        return parse_account_lists(data)
    except AccountError as error:
        raise CodeError(_accounts_message(error)) from None


def _accounts_message(error: AccountError) -> str:
    return "the accounts are not valid: " + "; ".join(error.reasons)


def _parse_scloc_query(text: str, start: int) -> ParsedCode:
    marker = _SIPACCOUNTS_RE.search(text, start)
    if marker is not None:
        return _parse_desktop_local(text, start, marker.start())
    params = _query_params(text[start:])
    if "token" not in params and "v" not in params:
        raise CodeError(
            "unknown scloc: link; expected scloc:?v=2&token=<token> or "
            'scloc:?providerId=<id>&sipaccounts="<json array>"'
        )
    if params.get("v") != "2":
        raise CodeError(f"unsupported setup link version v={params.get('v', '')[:10]}; expected v=2")
    return ParsedCode("token", "scloc-token", token=_check_token(params.get("token", "")))


def _parse_desktop_local(text: str, start: int, marker: int) -> ParsedCode:
    """`scloc:?providerId=<id>&sipaccounts="<json array>"`: the JSON runs to the end, raw."""
    params = _query_params(text[start:marker])
    if "providerid" not in params:
        raise CodeError("the desktop link has no providerId before sipaccounts=")
    provider_id = _check_provider_id(params["providerid"])
    json_start = _skip_whitespace(text, marker + len("sipaccounts="))
    json_end = len(text)
    if text.startswith('"', json_start):
        if json_end - json_start < 2 or not text.endswith('"'):
            raise CodeError("the sipaccounts value opens a '\"' that is never closed")
        json_start, json_end = json_start + 1, json_end - 1
    data = _load_json(text[:json_end], json_start)
    try:
        accounts = parse_sip_accounts(data)
    except AccountError as error:
        raise CodeError(_accounts_message(error)) from None
    if not accounts:
        raise CodeError("the code carries no accounts")
    return ParsedCode("local", "scloc-desktop", provider_id, tuple(accounts))


def _query_params(query: str) -> dict[str, str]:
    """Split `a=1&b=2` into lower-cased keys and raw values; a repeated key is refused."""
    params: dict[str, str] = {}
    for piece in query.split("&"):
        if not piece:
            continue
        key, equals, value = piece.partition("=")
        key = key.strip().lower()
        if not equals or not key:
            raise CodeError(f"the link parameter '{_excerpt(piece)}' has no name=value form")
        if key in params:
            raise CodeError(f"the link parameter '{_excerpt(key)}' appears twice")
        params[key] = value
    return params


def _parse_scsc(body: str) -> ParsedCode:
    if body.startswith("?"):
        return _parse_desktop_activation(body)
    fields = body.split(":")
    if len(fields) == 1:
        raise CodeError(f"the scsc: code has no password; {_SCSC_SHAPE}")
    if len(fields) == 2:
        username, password = fields
        return _external("scsc", username, password, None)
    # Neither field can escape ':' (docs/codes.md), so the ProviderId is split off the right end
    # and the username off the left: extra colons can only belong to the password, which is
    # far likelier than an account number to hold one.
    return _external("scsc", fields[0], ":".join(fields[1:-1]), fields[-1] or None)


def _parse_desktop_activation(body: str) -> ParsedCode:
    """`scsc:?username=<user>[:<ProviderId>]&password=<pwd>`; `%26` stands for `&`."""
    match = _DESKTOP_ACTIVATION_RE.match(body)
    if match is None:
        raise CodeError("expected scsc:?username=<user>[:<ProviderId>]&password=<password>")
    username = match.group("username").replace("%26", "&")
    password = match.group("password").replace("%26", "&")
    provider_id = None
    if ":" in username:
        username, provider_id = username.rsplit(":", 1)
    return _external("scsc-desktop", username, password, provider_id or None)


def _external(code_format: Format, username: str, password: str, provider_id: str | None) -> ParsedCode:
    _check_credential("username", username)
    _check_credential("password", password)
    if provider_id is not None:
        provider_id = _check_provider_id(provider_id)
    return ParsedCode("external", code_format, provider_id, username=username, password=password)


def _check_credential(name: str, value: str) -> None:
    # The value itself never appears in a message: it may be a password.
    if not value:
        raise CodeError(f"the {name} is empty")
    if len(value) > MAX_CREDENTIAL_LENGTH:
        raise CodeError(f"the {name} is longer than {MAX_CREDENTIAL_LENGTH} characters")
    if _CONTROL_CHARS.search(value):
        raise CodeError(f"the {name} holds a control character")


def _check_provider_id(value: str) -> str:
    if not is_valid_provider_id(value):
        shown = f"'{_excerpt(value)}' " if value else ""
        raise CodeError(
            f"the ProviderId {shown}is not valid: it must be 3 to 32 ASCII letters "
            "and digits, starting with a letter"
        )
    return value


def _check_token(value: str) -> str:
    if not value:
        raise CodeError("the setup link has no token")
    if not is_valid_token(value):
        raise CodeError(
            "the setup token is not valid: it must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'"
        )
    return value


# --- JSON ----------------------------------------------------------------------------------


def accounts_from_json(text: str) -> tuple[list[SipAccount], list[XmppAccount]]:
    """Accounts typed by a person (CLI, portal): `{"sipaccounts": [...], "xmppaccounts":
    [...]}` or a bare array of SIP accounts, with the same checks a scanned code gets."""
    data = _load_json(text, 0)
    try:
        if isinstance(data, list):
            return parse_sip_accounts(data), []
        return parse_account_lists(data)
    except AccountError as error:
        raise CodeError(_accounts_message(error)) from None


def _load_json(text: str, start: int) -> Any:
    """Decode the JSON from `start` to the end of `text` with the strict rules of lib.strictjson."""
    start = _skip_whitespace(text, start)
    if start == len(text):
        raise CodeError("the account JSON is missing")
    try:
        return loads_strict(text[start:], max_depth=MAX_JSON_DEPTH)
    except StrictJsonError as error:
        where = f" at character {start + error.pos + 1}" if error.pos is not None else ""
        raise CodeError(f"the account JSON {error.problem}{where}") from None


def _dump_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- encoding ------------------------------------------------------------------------------


def encode_local(
    sipaccounts: Sequence[SipAccount],
    xmppaccounts: Sequence[XmppAccount] = (),
    provider_id: str | None = None,
) -> str:
    """`scloc:<ProviderId>|<json>` (generic) or `scloc:<json>` (whitelabel, no ProviderId)."""
    payload: dict[str, Any] = {"sipaccounts": [account.as_dict() for account in sipaccounts]}
    # An empty xmppaccounts array only makes the QR code denser.
    if xmppaccounts:
        payload["xmppaccounts"] = [account.as_dict() for account in xmppaccounts]
    prefix = "" if provider_id is None else _check_provider_id(provider_id) + "|"
    return _checked(f"scloc:{prefix}{_dump_json(payload)}")


def encode_desktop_local(provider_id: str, sipaccounts: Sequence[SipAccount]) -> str:
    """`scloc:?providerId=<id>&sipaccounts="<json array>"`, the JSON raw as the format wants."""
    array = _dump_json([account.as_dict() for account in sipaccounts])
    return _checked(f'scloc:?providerId={_check_provider_id(provider_id)}&sipaccounts="{array}"')


def encode_external(username: str, password: str, provider_id: str | None = None) -> str:
    """`scsc:<username>:<password>:<ProviderId>` or, whitelabel, `scsc:<username>:<password>`.

    The format has no escaping, so a ':' in either value is refused rather than silently
    producing a code that parses to different credentials; so is surrounding whitespace,
    which copy-paste and scanners lose.
    """
    for name, value in (("username", username), ("password", password)):
        _check_credential(name, value)
        if ":" in value:
            raise CodeError(
                f"the {name} holds ':', which an scsc: code cannot carry; use a setup token instead"
            )
        if value != value.strip():
            raise CodeError(
                f"the {name} begins or ends with whitespace, which an scsc: code "
                "cannot carry reliably; use a setup token instead"
            )
    suffix = "" if provider_id is None else ":" + _check_provider_id(provider_id)
    return _checked(f"scsc:{username}:{password}{suffix}")


def encode_token(token: str) -> str:
    """`scloc:?v=2&token=<token>` (docs/codes.md)."""
    return _checked(f"scloc:?v=2&token={_check_token(token)}")


def encode(parsed: ParsedCode) -> str:
    """Encode a parsed code in its own format.

    `scsc-desktop` is parse-only (docs/codes.md), so it is encoded as the equivalent `scsc:` text,
    which every phone reads; parsing the result gives the same value with format `scsc`.
    """
    if parsed.format == "scloc":
        return encode_local(parsed.sipaccounts, parsed.xmppaccounts, parsed.provider_id)
    if parsed.format == "scloc-desktop":
        return _encode_desktop(parsed)
    if parsed.format in ("scsc", "scsc-desktop"):
        return encode_external(parsed.username or "", parsed.password or "", parsed.provider_id)
    if parsed.format == "scloc-token":
        return encode_token(parsed.token or "")
    raise CodeError(f"unknown code format '{_excerpt(str(parsed.format))}'")


def _encode_desktop(parsed: ParsedCode) -> str:
    if parsed.xmppaccounts:
        raise CodeError("the desktop link cannot carry xmppaccounts; use the scloc format")
    if parsed.provider_id is None:
        raise CodeError("the desktop link needs a ProviderId")
    return encode_desktop_local(parsed.provider_id, parsed.sipaccounts)


def _checked(text: str) -> str:
    # Whatever we hand out must be readable by our own parser (size, account limits,
    # no accounts at all), so the parser is the final word on every encoder's output.
    parse_code(text)
    return text


# --- small helpers -------------------------------------------------------------------------


def _skip_whitespace(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _excerpt(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "…"
