"""Merge an account (a QR code's or a provider's) with the App's SIP profile (docs/merge-rules.md).

Like wazo-provd's layered device config: explicit layers applied in order by one small update,
over an allow-list of keys, so an unexpected key in either source can never reach a phone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.lib.sipmedia import (
    DEFAULT_DTMF_MODE,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_SRTP_MODE,
)

# When the App's domain carries no port, the port follows the merged transport: SIP over TLS
# listens on 5061 by convention (RFC 3261 section 26.2), UDP and TCP on 5060.
DEFAULT_PORTS = {"UDP": 5060, "TCP": 5060, "TLS": 5061}

# Keys of a merged account, in the order phones receive them.
MERGED_KEYS = (
    "sipusername",
    "sippassword",
    "authusername",
    "displayname",
    "domain",
    "port",
    "proxy",
    "transport",
    "srtp",
    "messaging",
    "video",
    "callrecording",
    "subdomain",
    "voicemailNumber",
    "registrationExpires",
    "stunServer",
    "turnServer",
    "turnUsername",
    "turnPassword",
    "ice",
    "keepAliveSeconds",
    "srtpMode",
    "audioCodecs",
    "videoCodecs",
    "dtmfMode",
    "realm",
)

# The profile keys an account may override (rule 1); everything else comes from one side only.
_LAYERED_KEYS = ("transport", "srtp", "messaging", "video", "callrecording")
_FLAGS = ("srtp", "messaging", "video", "callrecording")


@dataclass(frozen=True)
class SipProfile:
    """The App's SIP settings every account inherits."""

    domain: str  # "host" or "host:port"
    proxy: str | None
    transport: str  # UDP | TCP | TLS
    use_subdomains: bool
    srtp: str  # Enabled | Disabled, as are the next three
    messaging: str
    video: str
    callrecording: str
    voicemail_number: str | None
    registration_expires: int = 600
    stun_server: str | None = None  # "host[:port]", as is the TURN server
    turn_server: str | None = None
    turn_username: str | None = None
    turn_password: str | None = None
    ice: bool = False
    keepalive_seconds: int = DEFAULT_KEEPALIVE_SECONDS
    srtp_mode: str = DEFAULT_SRTP_MODE  # optional | mandatory, when srtp is Enabled
    audio_codecs: tuple[str, ...] = ()  # preferred first; empty leaves the order to the phone
    video_codecs: tuple[str, ...] = ()
    dtmf_mode: str = DEFAULT_DTMF_MODE  # rfc2833 | info | inband
    realm: str | None = None


def merge_account(account: SipAccount, profile: SipProfile) -> dict[str, Any]:
    """The complete account a phone receives: profile defaults, overridden by the account."""
    layers = (_profile_layer(profile), account.as_dict())
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({key: layer[key] for key in _LAYERED_KEYS if layer.get(key) is not None})
    host, app_port = split_domain(profile.domain)
    transport = _normalise_transport(merged["transport"])
    merged.update(
        sipusername=account.sipusername,
        sippassword=account.sippassword,
        # An empty string counts as unset: QR generators commonly emit `"authusername": ""`.
        authusername=account.authusername or account.sipusername,
        displayname=account.displayname or account.sipusername,
        domain=account_domain(account.subdomain, host, profile.use_subdomains),
        port=app_port or DEFAULT_PORTS[transport],
        proxy=profile.proxy or None,
        transport=transport,
        subdomain=account.subdomain,
        voicemailNumber=profile.voicemail_number or None,
        registrationExpires=profile.registration_expires,
        **{flag: _normalise_flag(merged[flag]) for flag in _FLAGS},
        **_media_layer(profile),
    )
    return {key: merged[key] for key in MERGED_KEYS}


def merge_accounts(accounts: Iterable[SipAccount], profile: SipProfile) -> list[dict[str, Any]]:
    return [merge_account(account, profile) for account in accounts]


def account_domain(subdomain: str | None, app_host: str, use_subdomains: bool) -> str:
    """Rule 2: a dotted subdomain is a full domain; a bare one prefixes the App's host.

    An IPv6 address (with or without brackets) is a full domain too, written in brackets; an
    App host that is an IP address has no subdomains.
    """
    if subdomain and ipv6_literal(subdomain):
        return f"[{ipv6_literal(subdomain)}]"
    if subdomain and "." in subdomain:
        return subdomain
    if subdomain and use_subdomains and not _is_ip_address(app_host):
        return f"{subdomain}.{app_host}"
    return app_host


def split_domain(domain: str) -> tuple[str, int | None]:
    """Split the App's `host[:port]`; the port is None when absent.

    An IPv6 host is written in brackets (`[2001:db8::1]`), as SIP URIs need them; without
    brackets an IPv6 address has no port (its last group would be ambiguous).
    """
    domain = domain.strip()
    if ipv6_literal(domain):
        return f"[{ipv6_literal(domain)}]", None
    host, sep, port = domain.rpartition(":")
    if sep and port.isdigit() and (":" not in host or host.endswith("]")):
        return host, int(port)
    return domain, None


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def ipv6_literal(text: str) -> str | None:
    """The address of an IPv6 literal, `2001:db8::1` or `[2001:db8::1]`, as written; else None."""
    address = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return None
    return address


def _profile_layer(profile: SipProfile) -> dict[str, Any]:
    return {
        "transport": profile.transport,
        "srtp": profile.srtp,
        "messaging": profile.messaging,
        "video": profile.video,
        "callrecording": profile.callrecording,
    }


def media_settings(profile: SipProfile) -> dict[str, Any]:
    """What the public config and every merged account say about NAT and media.

    Never the TURN credentials: the public config is readable by anyone.
    """
    return {
        "stunServer": profile.stun_server or None,
        "turnServer": profile.turn_server or None,
        "ice": profile.ice,
        "keepAliveSeconds": profile.keepalive_seconds,
        "srtpMode": profile.srtp_mode,
        "audioCodecs": list(profile.audio_codecs),
        "videoCodecs": list(profile.video_codecs),
        "dtmfMode": profile.dtmf_mode,
        "realm": profile.realm or None,
    }


def _media_layer(profile: SipProfile) -> dict[str, Any]:
    # From the profile only: the compatible account formats have no keys for these.
    return {
        **media_settings(profile),
        "turnUsername": profile.turn_username or None,
        "turnPassword": profile.turn_password or None,
    }


def _normalise_transport(value: str) -> str:
    # The account side is already normalised by the schema; the profile comes from storage.
    return value.upper()


def _normalise_flag(value: str | bool) -> str:
    if isinstance(value, bool):
        return "Enabled" if value else "Disabled"
    return value.capitalize()
