"""What the phone does with accounts: merge the ones a QR code carries, write them for baresip.

Local codes (flows B, C, H) carry bare accounts; the phone merges them with the SIP profile of
the config it fetched, by the same rules and the same code the server uses (SPEC 7).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sessioncloud.lib.sipaccount import AccountError, SipAccount, parse_sip_accounts
from sessioncloud.provisioning.merge import DEFAULT_PORTS, SipProfile, merge_accounts

MASK = "********"


def sip_profile(config: Mapping[str, Any]) -> SipProfile:
    """The App's SIP profile, rebuilt from the public config (SPEC 5.1).

    The config always states a port, even when the App's domain has none; the server then
    picks the port from each account's own transport. A port equal to the default of the
    App's transport is therefore treated as implied, so an account that overrides the
    transport gets the same port here as from the server.
    """
    sip = config["sip"]
    implied = sip["port"] == DEFAULT_PORTS[sip["transport"]]
    return SipProfile(
        domain=sip["domain"] if implied else f"{sip['domain']}:{sip['port']}",
        proxy=sip["proxy"],
        transport=sip["transport"],
        use_subdomains=sip["useSubdomains"],
        srtp=sip["srtp"],
        messaging=sip["messaging"],
        video=sip["video"],
        callrecording=sip["callrecording"],
        voicemail_number=sip["voicemailNumber"],
        registration_expires=sip["registrationExpires"],
    )


def merge_local(accounts: Sequence[SipAccount], config: Mapping[str, Any]) -> list[dict[str, Any]]:
    return merge_accounts(accounts, sip_profile(config))


def stored_local_accounts(raw: Sequence[Mapping[str, Any]]) -> list[SipAccount]:
    """The QR-carried accounts kept in the state file, checked again before re-merging."""
    try:
        return parse_sip_accounts(list(raw))
    except AccountError as error:
        # The reasons name `sipaccounts[n]`; in the state file these are `localAccounts`.
        reasons = [reason.replace("sipaccounts", "localAccounts", 1) for reason in error.reasons]
        raise ValueError("; ".join(reasons)) from None


def masked(account: Mapping[str, Any], show_passwords: bool, key: str = "sippassword"
           ) -> dict[str, Any]:
    """A copy fit for a terminal: the password replaced unless asked for."""
    copy = dict(account)
    if not show_passwords and copy.get(key):
        copy[key] = MASK
    return copy


# --- baresip ---------------------------------------------------------------------------------
#
# One account per line of baresip's `accounts` file:
#
#   "Display Name" <sip:user@host[:port];transport=udp|tcp|tls>;auth_user=...;auth_pass=...
#       ;outbound="sip:proxy[:port];transport=...;lr";regint=600;mediaenc=srtp
#
# baresip (libre) finds each parameter by searching the text after `>` for `;name=` and takes
# the value up to the next unquoted blank or `;`; a value in double quotes may hold blanks and
# loses its quotes, but a backslash inside it is kept, not unescaped. So:
# - `;` is refused in every value: even inside quotes, `;mediaenc=...` in a password would be
#   found by baresip's search as a parameter of its own;
# - `"` and `\` are refused: they cannot be written so that baresip reads them back unchanged;
# - control characters are refused: a newline would start a second account line;
# - the URI's user part is percent-encoded, its host must be a host name or IP address, so
#   nothing can close the `<...>` early.

MAX_REGINT = 2**31 - 1  # baresip reads regint as an unsigned 32-bit number
BARESIP_HEADER = "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
_HOST_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME_RE = re.compile(rf"\A{_HOST_LABEL}(?:\.{_HOST_LABEL})*\Z")
_HOSTPORT_RE = re.compile(r"\A(?P<host>\[[^\]]*\]|[^:\[\]]+)(?::(?P<port>[0-9]{1,5}))?\Z")
# RFC 3261 `unreserved` plus `+`, which E.164 numbers start with; the rest is %-encoded.
_URI_USER_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()+")
_REFUSED_IN_VALUES = re.compile(r'[;"\\\x00-\x1f\x7f-\x9f]')
_QUOTED_IN_VALUES = re.compile(r"[ <>]")
_REFUSED_IN_NAMES = re.compile(r'["\\\x00-\x1f\x7f-\x9f]')


class BaresipError(ValueError):
    """An account value that a baresip accounts line cannot carry unchanged."""


def baresip_file(accounts: Sequence[Mapping[str, Any]]) -> str:
    """The whole `accounts` file: a header comment and one line per SIP account."""
    lines = [baresip_line(account, number) for number, account in enumerate(accounts, 1)]
    return BARESIP_HEADER + "".join(line + "\n" for line in lines)


def baresip_line(account: Mapping[str, Any], number: int = 1, *, mask: bool = False) -> str:
    """One account as a baresip accounts line; BaresipError names what cannot be written."""
    where = f"account {number}"
    transport = str(account["transport"]).upper()
    if transport not in DEFAULT_PORTS:
        raise BaresipError(f"{where}: unknown transport {transport!r}")
    host = _host(account["domain"], f"{where}: the domain")
    port = _number(account["port"], f"{where}: the port")
    hostport = host if port == DEFAULT_PORTS[transport] else f"{host}:{port}"
    uri = f"<sip:{_uri_user(account['sipusername'])}@{hostport};transport={transport.lower()}>"
    name = _display_name(account.get("displayname"), f"{where}: the display name")
    return name + uri + "".join(_params(account, transport, where, mask))


def _params(account: Mapping[str, Any], transport: str, where: str, mask: bool) -> list[str]:
    params = [f";auth_user={_value(account['authusername'], f'{where}: the auth user')}"]
    password = account["sippassword"]
    # An empty auth_pass cannot be written (baresip needs one character at least); without
    # it baresip asks for the password when it starts.
    if password:
        shown = MASK if mask else _value(password, f"{where}: the password", secret=True)
        params.append(f";auth_pass={shown}")
    if account.get("proxy"):
        proxy = _hostport(account["proxy"], f"{where}: the proxy")
        # The proxy is reached over the account's transport, so the route says which.
        params.append(f';outbound="sip:{proxy};transport={transport.lower()};lr"')
    params.append(f";regint={_number(account['registrationExpires'], f'{where}: regint', MAX_REGINT)}")
    if account.get("srtp") == "Enabled":
        params.append(";mediaenc=srtp")
    return params


def _value(value: Any, what: str, *, secret: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise BaresipError(f"{what} is empty")
    bad = _REFUSED_IN_VALUES.search(value)
    if bad:
        # A password's characters are never echoed, not even the offending one.
        shown = "a character" if secret else _describe(bad.group())
        raise BaresipError(f"{what} holds {shown} that a baresip accounts line cannot carry "
                           "(; \" \\ or a control character)")
    return f'"{value}"' if _QUOTED_IN_VALUES.search(value) else value


def _display_name(value: Any, what: str) -> str:
    if not value:
        return ""
    if not isinstance(value, str) or _REFUSED_IN_NAMES.search(value):
        raise BaresipError(f"{what} holds '\"', '\\' or a control character, "
                           "which a baresip accounts line cannot carry")
    return f'"{value}" '


def _uri_user(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BaresipError("the SIP username is empty")
    return "".join(char if char in _URI_USER_SAFE else _percent(char) for char in value)


def _percent(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _host(value: Any, what: str) -> str:
    if isinstance(value, str) and _HOSTNAME_RE.match(value):
        return value
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(value[1:-1]).compressed}]"
        except ValueError:
            pass
    raise BaresipError(f"{what} {_describe(value)} is not a host name or IP address")


def _hostport(value: Any, what: str) -> str:
    match = _HOSTPORT_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise BaresipError(f"{what} {_describe(value)} is not host[:port]")
    host = _host(match.group("host"), what)
    port = match.group("port")
    return host if port is None else f"{host}:{_number(int(port), what)}"


def _number(value: Any, what: str, limit: int = 65535) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise BaresipError(f"{what} {_describe(value)} is not a number from 1 to {limit}")
    return value


def _describe(value: Any) -> str:
    # repr() escapes newlines and control characters, so the message stays on one line.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
