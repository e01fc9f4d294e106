"""Linphone's provisioning XML (docs/linphone.md), built from merged accounts and the SIP profile.

Linphone (and liblinphone's `linphonec`) fetch this document from a URL at every start and
write each entry into their own configuration file. Format (liblinphone's lpconfig.xsd):

    <config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
      <section name="proxy_0"><entry name="reg_identity" overwrite="true">...</entry></section>
    </config>

Every entry carries `overwrite="true"`: without it Linphone keeps a value it already has, so a
change to the App would never reach a phone that was provisioned before. The section and entry
names are the ones liblinphone reads (src/account/account-params.cpp, src/auth-info/,
src/nat/nat-policy.cpp, coreapi/linphonecore.c); liblinphone ignores names it does not know,
so an entry only newer versions read (`voicemail_uri`) does no harm to older ones.

Framework-free: values are put into the document by xml.etree, which escapes them; no text is
ever assembled by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

NAMESPACE = "http://www.linphone.org/xsds/lpconfig.xsd"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "application/xml"
LINK_SCHEME = "linphone-config:"
# The one policy every provisioned account refers to (`nat_policy_ref`).
NAT_POLICY_REF = "sessioncloud"
DTMF_ENTRIES = {  # DTMF mode -> ([sip] use_rfc2833, use_info)
    "rfc2833": ("1", "0"),
    "info": ("0", "1"),
    "inband": ("0", "0"),
}

Entries = list[tuple[str, str]]
Section = tuple[str, Entries]


@dataclass(frozen=True)
class PhoneSettings:
    """What the App's SIP profile says beyond the accounts themselves.

    Every field but `transport` and `srtp` is optional: None leaves Linphone's own setting
    alone. `srtp` is `Enabled` or `Disabled`; `srtp_mode` (`optional` or `mandatory`) says
    whether an enabled SRTP may fall back to plain RTP.
    """

    transport: str  # UDP | TCP | TLS
    srtp: str
    srtp_mode: str | None = None
    stun_server: str | None = None
    turn_server: str | None = None
    turn_username: str | None = None
    ice: bool | None = None
    keep_alive_seconds: int | None = None
    dtmf_mode: str | None = None  # rfc2833 | info | inband
    realm: str | None = None


def linphone_link(url: str) -> str:
    """The `linphone-config:` link that opens Linphone and makes it fetch `url`."""
    return LINK_SCHEME + url


def account_xml(accounts: Sequence[Mapping[str, Any]], settings: PhoneSettings, *,
                with_credentials: bool) -> bytes:
    """The document for an end user's phone: its accounts, and `auth_info_N` when asked.

    Without credentials the document still names every account, so a change to the App
    reaches the phone; Linphone keeps the password it stored at the first fetch.
    """
    sections = [("sip", _sip_entries(settings, default_account=bool(accounts)))]
    sections += _nat_sections(settings)
    for index, account in enumerate(accounts):
        sections.append((f"proxy_{index}", _proxy_entries(account, settings)))
        if with_credentials:
            sections.append((f"auth_info_{index}", _auth_entries(account, settings)))
    return _document(sections)


def defaults_xml(domain: str, transport: str, proxy: str | None, expires: int,
                 settings: PhoneSettings) -> bytes:
    """The App-level document without accounts: what Linphone's assistant fills in for a user
    who types their own login (`[assistant]` and `[proxy_default_values]`)."""
    defaults: Entries = [
        *(_through_proxy(proxy, transport) if proxy else [("reg_proxy", _server_uri(domain, transport))]),
        ("reg_expires", str(expires)),
        ("reg_sendregister", "1"),
        *_policy_entries(settings),
    ]
    sections = [
        ("sip", _sip_entries(settings, default_account=False)),
        *_nat_sections(settings),
        ("assistant", [("domain", _host_of(domain)), ("transport", transport.lower())]),
        ("proxy_default_values", defaults),
    ]
    return _document(sections)


def deprovision_xml(count: int) -> bytes:
    """The document that ends a phone's accounts: registration off, stored passwords blanked.

    Linphone cannot delete a section through remote provisioning; it can be told to stop
    registering and to forget the password it stored.
    """
    sections: list[Section] = []
    for index in range(count):
        sections.append((f"proxy_{index}", [("reg_sendregister", "0")]))
        sections.append((f"auth_info_{index}", [("passwd", ""), ("ha1", "")]))
    return _document(sections)


# --- sections --------------------------------------------------------------------------------


def _sip_entries(settings: PhoneSettings, *, default_account: bool) -> Entries:
    entries: Entries = [("default_proxy", "0")] if default_account else []
    enabled = settings.srtp == "Enabled"
    entries.append(("media_encryption", "srtp" if enabled else "none"))
    entries.append(("media_encryption_mandatory", "1" if enabled and settings.srtp_mode == "mandatory" else "0"))
    if settings.keep_alive_seconds is not None:
        entries.append(("keepalive_period", str(settings.keep_alive_seconds * 1000)))  # milliseconds
    if settings.dtmf_mode in DTMF_ENTRIES:
        use_rfc2833, use_info = DTMF_ENTRIES[settings.dtmf_mode]
        entries += [("use_rfc2833", use_rfc2833), ("use_info", use_info)]
    return entries


def _has_nat_policy(settings: PhoneSettings) -> bool:
    return bool(settings.stun_server or settings.turn_server or settings.ice is not None)


def _nat_sections(settings: PhoneSettings) -> list[Section]:
    """A NAT policy (liblinphone's nat_policy_N) when the App sets STUN, TURN or ICE."""
    if not _has_nat_policy(settings):
        return []
    protocols = [name for name, used in (("stun", settings.stun_server), ("turn", settings.turn_server),
                                          ("ice", settings.ice)) if used]
    entries: Entries = [("ref", NAT_POLICY_REF)]
    # liblinphone has one server field: TURN relays also answer STUN, so it wins when set.
    server = settings.turn_server or settings.stun_server
    if server:
        entries.append(("stun_server", server))
    if settings.turn_username:
        entries.append(("stun_server_username", settings.turn_username))
    entries.append(("protocols", ",".join(protocols)))
    return [("net", [("nat_policy_ref", NAT_POLICY_REF)]), ("nat_policy_0", entries)]


def _policy_entries(settings: PhoneSettings) -> Entries:
    entries: Entries = []
    if settings.realm:
        entries.append(("realm", settings.realm))
    if _has_nat_policy(settings):
        entries.append(("nat_policy_ref", NAT_POLICY_REF))
    return entries


def _proxy_entries(account: Mapping[str, Any], settings: PhoneSettings) -> Entries:
    transport = account["transport"]
    domain = account["domain"]
    entries: Entries = [("reg_identity", _identity(account))]
    if account.get("proxy"):
        entries += _through_proxy(account["proxy"], transport)
    else:
        entries.append(("reg_proxy", _server_uri(f"{domain}:{account['port']}", transport)))
    entries += [
        ("reg_expires", str(account["registrationExpires"])),
        ("reg_sendregister", "1"),
        *_policy_entries(settings),
    ]
    if account.get("voicemailNumber"):
        entries.append(("voicemail_uri", f"sip:{_uri_user(account['voicemailNumber'])}@{domain}"))
    return entries


def _through_proxy(proxy: str, transport: str) -> Entries:
    """An outbound proxy in Linphone's terms: the server every request, REGISTER included, is
    sent to (`reg_proxy`; liblinphone sends REGISTER there whatever the route), and the route of
    calls (`reg_route`). The identity keeps the account's own domain."""
    return [("reg_proxy", _server_uri(proxy, transport)), ("reg_route", _route_uri(proxy, transport))]


def _auth_entries(account: Mapping[str, Any], settings: PhoneSettings) -> Entries:
    entries: Entries = [
        ("username", account["sipusername"]),
        ("userid", account["authusername"]),
        ("passwd", account["sippassword"]),
    ]
    if settings.realm:
        entries.append(("realm", settings.realm))
    entries.append(("domain", account["domain"]))
    return entries


# --- values ----------------------------------------------------------------------------------


def _identity(account: Mapping[str, Any]) -> str:
    """`"Display Name" <sip:user@domain>`: the name in a quoted string (RFC 3261 25.1)."""
    uri = f"sip:{_uri_user(account['sipusername'])}@{account['domain']}"
    name = account.get("displayname")
    if not name:
        return f"<{uri}>"
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{uri}>'


def _server_uri(hostport: str, transport: str) -> str:
    return f"<sip:{hostport};transport={transport.lower()}>"


def _route_uri(hostport: str, transport: str) -> str:
    return f"<sip:{hostport};transport={transport.lower()};lr>"


def _host_of(domain: str) -> str:
    host, sep, port = domain.rpartition(":")
    return host if sep and port.isdigit() and (":" not in host or host.endswith("]")) else domain


# RFC 3261 `unreserved` plus `+`, which E.164 numbers start with; the rest is %-encoded, so
# nothing in a username can end the URI or start a parameter.
_URI_USER_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()+")


def _uri_user(value: str) -> str:
    return "".join(char if char in _URI_USER_SAFE else "".join(f"%{byte:02X}" for byte in char.encode())
                   for char in value)


def _document(sections: Sequence[Section]) -> bytes:
    root = ET.Element("config", xmlns=NAMESPACE)
    for name, entries in sections:
        section = ET.SubElement(root, "section", name=name)
        for key, value in entries:
            entry = ET.SubElement(section, "entry", name=key, overwrite="true")
            entry.text = value
    ET.indent(root, space="  ")
    return XML_DECLARATION + ET.tostring(root, encoding="unicode").encode("utf-8") + b"\n"


def entries_of(document: bytes) -> Iterator[tuple[str, str, str]]:
    """(section, entry, value) of every entry of a document: for readers and tests."""
    namespace = {"lp": NAMESPACE}
    for section in ET.fromstring(document).iterfind("lp:section", namespace):  # noqa: S314 - our own output
        for entry in section.iterfind("lp:entry", namespace):
            yield section.get("name", ""), entry.get("name", ""), entry.text or ""
