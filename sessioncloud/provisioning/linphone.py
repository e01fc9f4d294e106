"""Linphone's provisioning XML (docs/linphone.md), built from merged accounts and the SIP profile.

Linphone (and liblinphone's `linphonec`) fetch this document from a URL at every start and
write each entry into their own configuration file. Format (liblinphone's lpconfig.xsd):

    <config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
      <section name="proxy_0"><entry name="reg_identity" overwrite="true">...</entry></section>
    </config>

Every entry carries `overwrite="true"`: without it Linphone keeps a value it already has, so a
change to the App would never reach a phone that was provisioned before. An empty entry removes
the key from Linphone's configuration (liblinphone's `linphone_config_set_string` drops a key
set to ""), which is how a setting the App turned off is taken back: every setting of the App
is written into every document, on or off. The section and entry names are the ones liblinphone
reads (src/account/account-params.cpp, src/auth-info/, src/nat/nat-policy.cpp,
coreapi/linphonecore.c); liblinphone ignores names it does not know, so an entry only newer
versions read (`voicemail_uri`, `codec_priority_policy`) does no harm to older ones.
docs/linphone.md says what each setting becomes.

Framework-free: values are put into the document by xml.etree, which escapes them; no text is
ever assembled by hand.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sessioncloud.lib.sipmedia import (
    DEFAULT_DTMF_MODE,
    DEFAULT_KEEPALIVE_SECONDS,
    DEFAULT_SRTP_MODE,
)
from sessioncloud.provisioning.merge import SipProfile

NAMESPACE = "http://www.linphone.org/xsds/lpconfig.xsd"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "application/xml"
LINK_SCHEME = "linphone-config:"
# The one NAT policy the core and every provisioned account refer to (`nat_policy_ref`). It is
# written as `nat_policy_0`: liblinphone finds a policy by the first section holding its `ref`,
# and saves the core's own policy as `nat_policy_0`.
NAT_POLICY_REF = "sessioncloud"
DTMF_ENTRIES = {  # DTMF mode -> ([sip] use_rfc2833, use_info)
    "rfc2833": ("1", "0"),
    "info": ("0", "1"),
    # liblinphone has no in-band switch: it plays the tones into the audio of a G.711 call that
    # negotiated no telephone-event, which needs use_rfc2833=1. With both at 0, liblinphone 5.3
    # and later send no DTMF at all.
    "inband": ("1", "0"),
}
# The App's codecs as liblinphone's payload types: (mime, RTP clock rate, channels), as oRTP
# defines them (src/avprofile.c). liblinphone matches a configured codec to its own on all three;
# any other rate or channel count makes it invent a codec nothing can encode.
AUDIO_PAYLOADS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "opus": (("opus", 48000, 2),),  # RFC 7587: always 48000/2 in SDP
    "G722": (("G722", 8000, 1),),  # RFC 3551 4.5.2: G.722's RTP clock runs at 8000 Hz
    "PCMU": (("PCMU", 8000, 1),),
    "PCMA": (("PCMA", 8000, 1),),
    "G729": (("G729", 8000, 1),),
    "GSM": (("GSM", 8000, 1),),
    "iLBC": (("iLBC", 8000, 1),),
    # Speex has a payload type per rate; liblinphone enables wideband and narrowband, in this order.
    "speex": (("speex", 16000, 1), ("speex", 8000, 1)),
}
VIDEO_CLOCK_RATE = 90000  # the RTP clock of every video payload format

Entries = list[tuple[str, str]]
Section = tuple[str, Entries]


@dataclass(frozen=True)
class PhoneSettings:
    """What the App's SIP profile says beyond the accounts themselves (docs/merge-rules.md).

    The defaults are an App's own. `srtp` is `Enabled` or `Disabled`; `srtp_mode` (`optional`
    or `mandatory`) says whether an enabled SRTP may fall back to plain RTP. Codec lists are in
    the App's order of preference; an empty one leaves the phone's own.
    """

    transport: str  # UDP | TCP | TLS
    srtp: str
    srtp_mode: str = DEFAULT_SRTP_MODE
    stun_server: str | None = None  # host[:port], as is the TURN server
    turn_server: str | None = None
    turn_username: str | None = None
    turn_password: str | None = None
    ice: bool = False
    keep_alive_seconds: int = DEFAULT_KEEPALIVE_SECONDS  # 0: no keep-alives
    audio_codecs: tuple[str, ...] = ()
    video_codecs: tuple[str, ...] = ()
    dtmf_mode: str = DEFAULT_DTMF_MODE  # rfc2833 | info | inband
    realm: str | None = None

    @classmethod
    def from_profile(cls, profile: SipProfile) -> PhoneSettings:
        return cls(
            transport=profile.transport,
            srtp=profile.srtp,
            srtp_mode=profile.srtp_mode,
            stun_server=profile.stun_server,
            turn_server=profile.turn_server,
            turn_username=profile.turn_username,
            turn_password=profile.turn_password,
            ice=profile.ice,
            keep_alive_seconds=profile.keepalive_seconds,
            audio_codecs=tuple(profile.audio_codecs),
            video_codecs=tuple(profile.video_codecs),
            dtmf_mode=profile.dtmf_mode,
            realm=profile.realm,
        )

    @property
    def relay_credentials(self) -> bool:
        """Whether the App has a TURN server with the credentials a phone needs to use it."""
        return bool(self.turn_server and self.turn_username and self.turn_password)


def linphone_link(url: str) -> str:
    """The `linphone-config:` link that opens Linphone and makes it fetch `url`."""
    return LINK_SCHEME + url


def account_xml(
    accounts: Sequence[Mapping[str, Any]], settings: PhoneSettings, *, with_credentials: bool
) -> bytes:
    """The document for an end user's phone: its accounts, and `auth_info_N` when asked.

    Without credentials the document still names every account, so a change to the App
    reaches the phone; Linphone keeps the passwords it stored at the first fetch, the TURN
    password among them (an `auth_info` after the accounts' own).
    """
    sections = [
        ("sip", _sip_entries(settings, default_account=bool(accounts))),
        *_nat_sections(settings, relay=True),
        *_codec_sections(settings),
    ]
    for index, account in enumerate(accounts):
        sections.append((f"proxy_{index}", _proxy_entries(account, settings)))
        if with_credentials:
            sections.append((f"auth_info_{index}", _auth_entries(account, settings)))
    if with_credentials and settings.relay_credentials:
        sections.append((f"auth_info_{len(accounts)}", _relay_auth_entries(settings)))
    return _document(sections)


def defaults_xml(
    domain: str, transport: str, proxy: str | None, expires: int, settings: PhoneSettings
) -> bytes:
    """The App-level document without accounts: what Linphone's assistant fills in for a user
    who types their own login (`[assistant]` and `[proxy_default_values]`).

    Anyone may fetch it, so it carries no TURN credentials, and without them a TURN server is
    of no use to Linphone: its policy uses STUN only.
    """
    defaults: Entries = [
        *(_through_proxy(proxy, transport) if proxy else [("reg_proxy", _server_uri(domain, transport))]),
        ("reg_expires", str(expires)),
        ("reg_sendregister", "1"),
        *_policy_entries(settings),
    ]
    sections = [
        ("sip", _sip_entries(settings, default_account=False)),
        *_nat_sections(settings, relay=False),
        *_codec_sections(settings),
        ("assistant", [("domain", _host_of(domain)), ("transport", transport.lower())]),
        ("proxy_default_values", defaults),
    ]
    return _document(sections)


def deprovision_xml(count: int, *, relay_credentials: bool = False) -> bytes:
    """The document that ends a phone's accounts: registration off, stored passwords blanked.

    Linphone cannot delete a section through remote provisioning; it can be told to stop
    registering and to forget the passwords it stored, the TURN password (the `auth_info`
    after the accounts') too when the App hands one out.
    """
    sections: list[Section] = []
    for index in range(count):
        sections.append((f"proxy_{index}", [("reg_sendregister", "0")]))
        sections.append((f"auth_info_{index}", _forgotten()))
    if relay_credentials:
        sections.append((f"auth_info_{count}", _forgotten()))
    return _document(sections)


# --- sections --------------------------------------------------------------------------------


def _sip_entries(settings: PhoneSettings, *, default_account: bool) -> Entries:
    entries: Entries = [("default_proxy", "0")] if default_account else []
    enabled = settings.srtp == "Enabled"
    use_rfc2833, use_info = DTMF_ENTRIES[settings.dtmf_mode]
    entries += [
        ("media_encryption", "srtp" if enabled else "none"),
        ("media_encryption_mandatory", "1" if enabled and settings.srtp_mode == "mandatory" else "0"),
        # liblinphone's period is in milliseconds, and 0 turns keep-alives off on every transport.
        ("keepalive_period", str(settings.keep_alive_seconds * 1000)),
        ("use_rfc2833", use_rfc2833),
        ("use_info", use_info),
    ]
    return entries


def _nat_sections(settings: PhoneSettings, *, relay: bool) -> list[Section]:
    """liblinphone's NAT policy, always written whole: a server or protocol the App no longer
    uses is written empty, which removes it from the phone.

    liblinphone has one server field. It uses TURN only inside ICE (src/nat/ice-service.cpp),
    and only with credentials (`relay`: the document's phone can hold them); then the TURN
    server is the server, and its allocations also tell the phone its public address. Otherwise
    the server is the STUN server, or the TURN server, which answers STUN requests too.
    """
    turn = relay and settings.ice and settings.relay_credentials
    server = settings.turn_server if turn else (settings.stun_server or settings.turn_server)
    protocols = [name for name, used in (("stun", server), ("turn", turn), ("ice", settings.ice)) if used]
    policy: Entries = [
        ("ref", NAT_POLICY_REF),
        ("stun_server", server or ""),
        # The TURN password is the auth_info whose username is this one (src/nat/nat-policy.cpp).
        ("stun_server_username", (settings.turn_username or "") if turn else ""),
        ("protocols", ",".join(protocols)),
    ]
    return [("net", [("nat_policy_ref", NAT_POLICY_REF)]), ("nat_policy_0", policy)]


def _codec_sections(settings: PhoneSettings) -> list[Section]:
    """The App's codecs, in its order, as the only ones the phone uses (as baresip's
    `audio_codecs`); an empty list gives the phone back its own codecs and order.

    liblinphone (coreapi/linphonecore.c, codecs_config_read) reads `audio_codec_0`, `_1`, ...
    up to the first without a `mime`, then adds every codec it supports that the list lacks,
    some of them ahead of the listed ones, unless `[misc] add_missing_audio_codecs=0`. Video
    keeps the listed order only with `[video] codec_priority_policy=0`; 1 (liblinphone's own
    since 5.3) lets it put hardware-accelerated codecs first.
    """
    audio = [
        _payload_entries(mime, rate, channels)
        for name in settings.audio_codecs
        for mime, rate, channels in AUDIO_PAYLOADS[name]
    ]
    video = [_payload_entries(name, VIDEO_CLOCK_RATE, None) for name in settings.video_codecs]
    return [
        (
            "misc",
            [
                ("add_missing_audio_codecs", "0" if audio else "1"),
                ("add_missing_video_codecs", "0" if video else "1"),
            ],
        ),
        ("video", [("codec_priority_policy", "0" if video else "1")]),
        *_codec_list("audio", audio),
        *_codec_list("video", video),
    ]


def _codec_list(kind: str, payloads: Sequence[Entries]) -> list[Section]:
    if not payloads:
        return []
    sections = [(f"{kind}_codec_{index}", entries) for index, entries in enumerate(payloads)]
    # Ends the list before the codecs the phone saved after it (it saves its whole list).
    sections.append((f"{kind}_codec_{len(payloads)}", [("mime", "")]))
    return sections


def _payload_entries(mime: str, rate: int, channels: int | None) -> Entries:
    entries: Entries = [("mime", mime), ("rate", str(rate))]
    if channels is not None:  # liblinphone keeps no channel count for video
        entries.append(("channels", str(channels)))
    # Emptied: the phone's saved format parameters and bitrate of whatever codec had this place.
    return entries + [("enabled", "1"), ("recv_fmtp", ""), ("bitrate", "")]


def _policy_entries(settings: PhoneSettings) -> Entries:
    return [("realm", settings.realm or ""), ("nat_policy_ref", NAT_POLICY_REF)]


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
    # `ha1` is emptied: liblinphone prefers a stored hash to the password, and one left in this
    # section by an earlier configuration would be another account's.
    return [
        ("username", account["sipusername"]),
        ("userid", account["authusername"]),
        ("passwd", account["sippassword"]),
        ("ha1", ""),
        ("realm", settings.realm or ""),
        ("domain", account["domain"]),
    ]


def _relay_auth_entries(settings: PhoneSettings) -> Entries:
    """The TURN credentials as liblinphone looks them up: by username alone, the way it stores
    the ones it fetches itself (src/nat/nat-policy.cpp)."""
    return [("username", settings.turn_username or ""), ("passwd", settings.turn_password or ""), ("ha1", "")]


def _forgotten() -> Entries:
    return [("passwd", ""), ("ha1", "")]


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
    return "".join(
        char if char in _URI_USER_SAFE else "".join(f"%{byte:02X}" for byte in char.encode())
        for char in value
    )


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
