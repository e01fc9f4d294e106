"""What the phone does with accounts: merge the ones a QR code carries, write them for baresip.

Local codes (flows B, C, H) carry bare accounts; the phone merges them with the SIP profile of
the config it fetched, by the same rules and the same code the server uses (docs/merge-rules.md).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sessioncloud.lib.sipaccount import AccountError, SipAccount, parse_sip_accounts
from sessioncloud.lib.sipmedia import (
    DEFAULT_DTMF_MODE,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_SRTP_MODE,
)
from sessioncloud.provisioning.merge import DEFAULT_PORTS, SipProfile, merge_accounts

MASK = "********"


def sip_profile(config: Mapping[str, Any]) -> SipProfile:
    """The App's SIP profile, rebuilt from the public config (docs/phone-api.md).

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
        # A config saved by an older version lacks these; the defaults are what it meant.
        stun_server=sip.get("stunServer"),
        turn_server=sip.get("turnServer"),
        ice=sip.get("ice", False),
        keepalive_seconds=sip.get("keepAliveSeconds", DEFAULT_KEEPALIVE_SECONDS),
        srtp_mode=sip.get("srtpMode", DEFAULT_SRTP_MODE),
        audio_codecs=tuple(sip.get("audioCodecs", ())),
        video_codecs=tuple(sip.get("videoCodecs", ())),
        dtmf_mode=sip.get("dtmfMode", DEFAULT_DTMF_MODE),
        realm=sip.get("realm"),
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


SIP_SECRETS = ("sippassword", "turnPassword")


def masked(
    account: Mapping[str, Any], show_passwords: bool, keys: Sequence[str] = SIP_SECRETS
) -> dict[str, Any]:
    """A copy fit for a terminal: the passwords replaced unless asked for."""
    copy = dict(account)
    for key in keys:
        if not show_passwords and copy.get(key):
            copy[key] = MASK
    return copy


# --- baresip ---------------------------------------------------------------------------------
#
# One account per line of baresip's `accounts` file (parameter names of baresip 1.0.0, its
# src/account.c and docs/examples/accounts):
#
#   "Display Name" <sip:user@host[:port];transport=udp|tcp|tls>;auth_user=...;auth_pass=...
#       ;outbound="sip:proxy[:port];transport=...;lr";regint=600;mediaenc=srtp|srtp-mand
#       ;medianat=ice|turn|stun;stunserver=stun:host[:port]|turn:host[:port];stunuser=...
#       ;stunpass=...;audio_codecs=opus/48000/2,PCMU;video_codecs=H264;dtmfmode=info
#
# Each of mediaenc, medianat and the codecs works only when baresip loads the module that
# provides it; without srtp.so an SRTP account still registers but its calls go unencrypted.
# So the file starts with comments naming the modules, and what baresip cannot do as the
# profile asks. baresip has no setting for the keep-alive interval or the digest realm (it
# answers the realm the server names).
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


# baresip's name of each codec it has (with the clock rate and channels its lookup needs when
# they are not 8000 and 1), and the module providing it. G729 and speex have no module.
_BARESIP_CODECS = {
    "opus": ("opus/48000/2", "opus.so"),
    "G722": ("G722/16000", "g722.so"),
    "PCMU": ("PCMU", "g711.so"),
    "PCMA": ("PCMA", "g711.so"),
    "GSM": ("GSM", "gsm.so"),
    "iLBC": ("iLBC", "ilbc.so"),
    "H264": ("H264", "avcodec.so"),
    "H265": ("H265", "avcodec.so"),
    "VP8": ("VP8", "vp8.so"),
    "VP9": ("VP9", "vp9.so"),
    "AV1": ("AV1", "av1.so"),
}
_MEDIANAT_MODULES = {"ice": "ice.so", "turn": "turn.so", "stun": "stun.so"}


def baresip_file(accounts: Sequence[Mapping[str, Any]]) -> str:
    """The whole `accounts` file: header comments and one line per SIP account."""
    lines = [baresip_line(account, number) for number, account in enumerate(accounts, 1)]
    return BARESIP_HEADER + "".join(line + "\n" for line in [*baresip_comments(accounts), *lines])


def baresip_comments(accounts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Comment lines: the modules baresip must load, then what it cannot do as asked."""
    modules = baresip_modules(accounts)
    comments = (
        [f"# baresip must load these modules (module lines in its config): {', '.join(modules)}"]
        if modules
        else []
    )
    for number, account in enumerate(accounts, 1):
        comments += [f"# account {number}: {note}" for note in _baresip_notes(account)]
    return comments


def baresip_modules(accounts: Sequence[Mapping[str, Any]]) -> list[str]:
    """The baresip modules the accounts need, e.g. srtp.so for an SRTP account."""
    modules: set[str] = set()
    for account in accounts:
        if _mediaenc(account):
            modules.add("srtp.so")
        medianat = _medianat(account)
        if medianat:
            modules.add(_MEDIANAT_MODULES[medianat[0]])
        for name in [*_codecs(account, "audioCodecs"), *_codecs(account, "videoCodecs")]:
            if name in _BARESIP_CODECS:
                modules.add(_BARESIP_CODECS[name][1])
    return sorted(modules)


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
    mediaenc = _mediaenc(account)
    if mediaenc:
        params.append(f";mediaenc={mediaenc}")
    return params + _nat_params(account, where, mask) + _codec_params(account) + _dtmf_params(account)


def _mediaenc(account: Mapping[str, Any]) -> str | None:
    if account.get("srtp") != "Enabled":
        return None
    return "srtp-mand" if account.get("srtpMode") == "mandatory" else "srtp"


def _medianat(account: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """baresip's medianat and the STUN or TURN URI it uses, from the account's NAT settings."""
    # Only provisioned accounts carry TURN credentials (the public config never does); a TURN
    # server without them cannot be used.
    turn = account.get("turnServer") if _turn_credentials(account) else None
    stun = account.get("stunServer")
    server = f"turn:{turn}" if turn else (f"stun:{stun}" if stun else None)
    if account.get("ice") is True:
        return "ice", server
    if turn:
        return "turn", server
    if stun:
        return "stun", server
    return None


def _turn_credentials(account: Mapping[str, Any]) -> bool:
    return bool(account.get("turnServer") and account.get("turnUsername") and account.get("turnPassword"))


def _nat_params(account: Mapping[str, Any], where: str, mask: bool) -> list[str]:
    medianat = _medianat(account)
    if medianat is None:
        return []
    name, server = medianat
    params = [f";medianat={name}"]
    if server is not None:
        scheme, _, hostport = server.partition(":")
        params.append(f";stunserver={scheme}:{_hostport(hostport, f'{where}: the {scheme.upper()} server')}")
        if scheme == "turn":
            password = (
                MASK if mask else _value(account["turnPassword"], f"{where}: the TURN password", secret=True)
            )
            params += [
                f";stunuser={_value(account['turnUsername'], f'{where}: the TURN username')}",
                f";stunpass={password}",
            ]
    return params


def _codec_params(account: Mapping[str, Any]) -> list[str]:
    params = []
    for key, param in (("audioCodecs", "audio_codecs"), ("videoCodecs", "video_codecs")):
        names = [_BARESIP_CODECS[name][0] for name in _codecs(account, key) if name in _BARESIP_CODECS]
        if names:
            params.append(f";{param}={','.join(names)}")
    return params


def _dtmf_params(account: Mapping[str, Any]) -> list[str]:
    # RTP events (RFC 2833) are what baresip sends unless told otherwise.
    return [";dtmfmode=info"] if account.get("dtmfMode") == "info" else []


def _baresip_notes(account: Mapping[str, Any]) -> list[str]:
    notes = []
    missing = [
        name
        for key in ("audioCodecs", "videoCodecs")
        for name in _codecs(account, key)
        if name not in _BARESIP_CODECS
    ]
    if missing:
        notes.append(
            f"baresip has no module for {', '.join(_describe(name) for name in missing)}; "
            "left out of the codec list"
        )
    if account.get("dtmfMode") == "info":
        notes.append("dtmfmode=info needs baresip 1.1.0 or later; 1.0.0 sends RFC 2833 events")
    if account.get("dtmfMode") == "inband":
        notes.append("baresip cannot send DTMF in-band; it sends RFC 2833 events")
    if account.get("turnServer") and not _turn_credentials(account):
        notes.append(
            "the TURN server came without credentials (only provisioned accounts carry "
            "them), so it is not used"
        )
    return notes


def _codecs(account: Mapping[str, Any], key: str) -> list[str]:
    names = account.get(key) or []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise BaresipError(f"the {key} {_describe(names)} are not a list of codec names")
    return names


def _value(value: Any, what: str, *, secret: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise BaresipError(f"{what} is empty")
    bad = _REFUSED_IN_VALUES.search(value)
    if bad:
        # A password's characters are never echoed, not even the offending one.
        shown = "a character" if secret else _describe(bad.group())
        raise BaresipError(
            f'{what} holds {shown} that a baresip accounts line cannot carry (; " \\ or a control character)'
        )
    return f'"{value}"' if _QUOTED_IN_VALUES.search(value) else value


def _display_name(value: Any, what: str) -> str:
    if not value:
        return ""
    if not isinstance(value, str) or _REFUSED_IN_NAMES.search(value):
        raise BaresipError(
            f"{what} holds '\"', '\\' or a control character, which a baresip accounts line cannot carry"
        )
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
