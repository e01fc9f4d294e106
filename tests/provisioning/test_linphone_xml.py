"""Linphone's remote provisioning XML, built from merged accounts: exact documents."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessioncloud.lib.sipmedia import AUDIO_CODECS, VIDEO_CODECS
from sessioncloud.provisioning.linphone import (
    AUDIO_PAYLOADS,
    PhoneSettings,
    account_xml,
    defaults_xml,
    deprovision_xml,
    entries_of,
    linphone_link,
)
from sessioncloud.provisioning.merge import SipProfile

PLAIN = PhoneSettings(transport="UDP", srtp="Disabled")  # an App's defaults
EVERYTHING = PhoneSettings(
    transport="UDP",
    srtp="Enabled",
    srtp_mode="mandatory",
    stun_server="stun.acme.example",
    turn_server="turn.acme.example:3478",
    turn_username="relay-user",
    turn_password="relay-s3cret",
    ice=True,
    keep_alive_seconds=25,
    audio_codecs=("opus", "G722", "PCMA"),
    video_codecs=("VP8", "H264"),
    dtmf_mode="info",
    realm="acme",
)
Config = dict[str, dict[str, str]]


def account(**values: Any) -> dict[str, Any]:
    merged = {
        "sipusername": "1000",
        "sippassword": "s3cret",
        "authusername": "1000",
        "displayname": "1000",
        "domain": "sip.acme.example",
        "port": 5060,
        "proxy": None,
        "transport": "UDP",
        "srtp": "Disabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "subdomain": None,
        "voicemailNumber": None,
        "registrationExpires": 600,
    }
    merged.update(values)
    return merged


def section_of(document: bytes, wanted: str) -> dict[str, str]:
    return {name: value for section, name, value in entries_of(document) if section == wanted}


def applied(config: Config, document: bytes) -> Config:
    """A phone's configuration after it applies a document, as liblinphone does: an entry with
    overwrite="true" replaces the value, and an empty value removes the key (coreapi/xml2lpc.c,
    linphone_config_set_string in coreapi/lpconfig.c)."""
    result = {section: dict(keys) for section, keys in config.items()}
    for section, name, value in entries_of(document):
        if value:
            result.setdefault(section, {})[name] = value
        elif section in result:
            result[section].pop(name, None)
    return result


def codec_list(config: Config, kind: str) -> list[dict[str, str]]:
    """The codec sections liblinphone reads: `<kind>_codec_0`, `_1`, ... up to one without a mime."""
    codecs = []
    while config.get(f"{kind}_codec_{len(codecs)}", {}).get("mime"):
        codecs.append(config[f"{kind}_codec_{len(codecs)}"])
    return codecs


def test_it_writes_an_account_with_its_credentials() -> None:
    document = account_xml([account(displayname="Ann Smith")], PLAIN, with_credentials=True)
    assert (
        document.decode()
        == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
    <entry name="default_proxy" overwrite="true">0</entry>
    <entry name="media_encryption" overwrite="true">none</entry>
    <entry name="media_encryption_mandatory" overwrite="true">0</entry>
    <entry name="keepalive_period" overwrite="true">30000</entry>
    <entry name="use_rfc2833" overwrite="true">1</entry>
    <entry name="use_info" overwrite="true">0</entry>
  </section>
  <section name="net">
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
  <section name="nat_policy_0">
    <entry name="ref" overwrite="true">sessioncloud</entry>
    <entry name="stun_server" overwrite="true" />
    <entry name="stun_server_username" overwrite="true" />
    <entry name="protocols" overwrite="true" />
  </section>
  <section name="misc">
    <entry name="add_missing_audio_codecs" overwrite="true">1</entry>
    <entry name="add_missing_video_codecs" overwrite="true">1</entry>
  </section>
  <section name="video">
    <entry name="codec_priority_policy" overwrite="true">1</entry>
  </section>
  <section name="proxy_0">
    <entry name="reg_identity" overwrite="true">"Ann Smith" &lt;sip:1000@sip.acme.example&gt;</entry>
    <entry name="reg_proxy" overwrite="true">&lt;sip:sip.acme.example:5060;transport=udp&gt;</entry>
    <entry name="reg_expires" overwrite="true">600</entry>
    <entry name="reg_sendregister" overwrite="true">1</entry>
    <entry name="realm" overwrite="true" />
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
  <section name="auth_info_0">
    <entry name="username" overwrite="true">1000</entry>
    <entry name="userid" overwrite="true">1000</entry>
    <entry name="passwd" overwrite="true">s3cret</entry>
    <entry name="ha1" overwrite="true" />
    <entry name="realm" overwrite="true" />
    <entry name="domain" overwrite="true">sip.acme.example</entry>
  </section>
</config>
"""
    )


def test_it_leaves_the_credentials_out_when_asked() -> None:
    document = account_xml(
        [account(), account(sipusername="1001", displayname="1001")], PLAIN, with_credentials=False
    )
    assert [section for section, _, _ in entries_of(document) if section.startswith("auth")] == []
    assert [value for section, name, value in entries_of(document) if name == "reg_identity"] == [
        '"1000" <sip:1000@sip.acme.example>',
        '"1001" <sip:1001@sip.acme.example>',
    ]


def test_it_sends_everything_through_the_outbound_proxy_over_the_accounts_transport() -> None:
    document = account_xml(
        [account(transport="TLS", port=5061, proxy="edge.acme.example:5070")],
        PhoneSettings(transport="TLS", srtp="Disabled"),
        with_credentials=False,
    )
    proxy = {name: value for section, name, value in entries_of(document) if section == "proxy_0"}
    assert proxy["reg_identity"] == '"1000" <sip:1000@sip.acme.example>'
    assert proxy["reg_proxy"] == "<sip:edge.acme.example:5070;transport=tls>"
    assert proxy["reg_route"] == "<sip:edge.acme.example:5070;transport=tls;lr>"


def test_it_asks_for_srtp_when_the_app_enables_it() -> None:
    document = account_xml(
        [account()], PhoneSettings(transport="UDP", srtp="Enabled"), with_credentials=False
    )
    sip = {name: value for section, name, value in entries_of(document) if section == "sip"}
    assert (sip["media_encryption"], sip["media_encryption_mandatory"]) == ("srtp", "0")


def test_it_makes_srtp_mandatory_in_mandatory_mode() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Enabled", srtp_mode="mandatory")
    document = account_xml([account()], settings, with_credentials=False)
    assert ("sip", "media_encryption_mandatory", "1") in list(entries_of(document))


def test_it_points_voicemail_at_the_number_on_the_accounts_domain() -> None:
    document = account_xml([account(voicemailNumber="*97")], PLAIN, with_credentials=False)
    assert ("proxy_0", "voicemail_uri", "sip:*97@sip.acme.example") in list(entries_of(document))


def test_it_escapes_every_value() -> None:
    hostile = account(
        sipusername="a<b>&c",
        sippassword="p\"<&>'w",
        authusername="]]></entry>",
        displayname='Ann "The" \\Boss <x>',
    )
    document = account_xml([hostile], PLAIN, with_credentials=True)
    entries = {(section, name): value for section, name, value in entries_of(document)}
    assert entries[("auth_info_0", "passwd")] == "p\"<&>'w"
    assert entries[("auth_info_0", "userid")] == "]]></entry>"
    assert entries[("auth_info_0", "username")] == "a<b>&c"
    assert (
        entries[("proxy_0", "reg_identity")]
        == '"Ann \\"The\\" \\\\Boss <x>" <sip:a%3Cb%3E%26c@sip.acme.example>'
    )
    assert b"<x>" not in document and b'p"<&>' not in document


def test_it_writes_the_apps_nat_and_media_settings() -> None:
    document = account_xml([account()], EVERYTHING, with_credentials=True)
    assert (
        document.decode()
        == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
    <entry name="default_proxy" overwrite="true">0</entry>
    <entry name="media_encryption" overwrite="true">srtp</entry>
    <entry name="media_encryption_mandatory" overwrite="true">1</entry>
    <entry name="keepalive_period" overwrite="true">25000</entry>
    <entry name="use_rfc2833" overwrite="true">0</entry>
    <entry name="use_info" overwrite="true">1</entry>
  </section>
  <section name="net">
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
  <section name="nat_policy_0">
    <entry name="ref" overwrite="true">sessioncloud</entry>
    <entry name="stun_server" overwrite="true">turn.acme.example:3478</entry>
    <entry name="stun_server_username" overwrite="true">relay-user</entry>
    <entry name="protocols" overwrite="true">stun,turn,ice</entry>
  </section>
  <section name="misc">
    <entry name="add_missing_audio_codecs" overwrite="true">0</entry>
    <entry name="add_missing_video_codecs" overwrite="true">0</entry>
  </section>
  <section name="video">
    <entry name="codec_priority_policy" overwrite="true">0</entry>
  </section>
  <section name="audio_codec_0">
    <entry name="mime" overwrite="true">opus</entry>
    <entry name="rate" overwrite="true">48000</entry>
    <entry name="channels" overwrite="true">2</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="audio_codec_1">
    <entry name="mime" overwrite="true">G722</entry>
    <entry name="rate" overwrite="true">8000</entry>
    <entry name="channels" overwrite="true">1</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="audio_codec_2">
    <entry name="mime" overwrite="true">PCMA</entry>
    <entry name="rate" overwrite="true">8000</entry>
    <entry name="channels" overwrite="true">1</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="audio_codec_3">
    <entry name="mime" overwrite="true" />
  </section>
  <section name="video_codec_0">
    <entry name="mime" overwrite="true">VP8</entry>
    <entry name="rate" overwrite="true">90000</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="video_codec_1">
    <entry name="mime" overwrite="true">H264</entry>
    <entry name="rate" overwrite="true">90000</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="video_codec_2">
    <entry name="mime" overwrite="true" />
  </section>
  <section name="proxy_0">
    <entry name="reg_identity" overwrite="true">"1000" &lt;sip:1000@sip.acme.example&gt;</entry>
    <entry name="reg_proxy" overwrite="true">&lt;sip:sip.acme.example:5060;transport=udp&gt;</entry>
    <entry name="reg_expires" overwrite="true">600</entry>
    <entry name="reg_sendregister" overwrite="true">1</entry>
    <entry name="realm" overwrite="true">acme</entry>
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
  <section name="auth_info_0">
    <entry name="username" overwrite="true">1000</entry>
    <entry name="userid" overwrite="true">1000</entry>
    <entry name="passwd" overwrite="true">s3cret</entry>
    <entry name="ha1" overwrite="true" />
    <entry name="realm" overwrite="true">acme</entry>
    <entry name="domain" overwrite="true">sip.acme.example</entry>
  </section>
  <section name="auth_info_1">
    <entry name="username" overwrite="true">relay-user</entry>
    <entry name="passwd" overwrite="true">relay-s3cret</entry>
    <entry name="ha1" overwrite="true" />
  </section>
</config>
"""
    )


def test_it_writes_the_turn_password_only_with_the_credentials() -> None:
    later = account_xml([account(), account(sipusername="1001")], EVERYTHING, with_credentials=False)
    assert b"relay-s3cret" not in later
    assert [section for section, _, _ in entries_of(later) if section.startswith("auth_info")] == []
    # The policy still names the TURN user, so the phone keeps using the password it stored.
    assert ("nat_policy_0", "stun_server_username", "relay-user") in list(entries_of(later))
    first = account_xml([account(), account(sipusername="1001")], EVERYTHING, with_credentials=True)
    assert section_of(first, "auth_info_2") == {"username": "relay-user", "passwd": "relay-s3cret", "ha1": ""}


def test_a_nat_policy_turned_off_is_taken_back() -> None:
    on = account_xml(
        [account()],
        PhoneSettings(transport="UDP", srtp="Disabled", stun_server="stun.acme.example", ice=True),
        with_credentials=False,
    )
    off = account_xml([account()], PLAIN, with_credentials=False)
    assert section_of(off, "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "",
        "stun_server_username": "",
        "protocols": "",
    }
    # Applied as liblinphone applies them, the second document leaves a policy without protocols.
    phone = applied(applied({}, on), off)
    assert phone["nat_policy_0"] == {"ref": "sessioncloud"}
    assert phone["net"] == {"nat_policy_ref": "sessioncloud"}
    assert phone["proxy_0"]["nat_policy_ref"] == "sessioncloud"


def test_it_uses_turn_only_within_ice() -> None:
    settings = replace(EVERYTHING, ice=False)
    assert section_of(account_xml([account()], settings, with_credentials=True), "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "stun.acme.example",
        "stun_server_username": "",
        "protocols": "stun",
    }


def test_it_asks_the_turn_server_for_stun_when_there_is_no_stun_server() -> None:
    settings = replace(EVERYTHING, stun_server=None, ice=False)
    assert section_of(account_xml([account()], settings, with_credentials=True), "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "turn.acme.example:3478",
        "stun_server_username": "",
        "protocols": "stun",
    }


def test_it_uses_ice_without_a_server() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Disabled", ice=True)
    policy = section_of(account_xml([account()], settings, with_credentials=False), "nat_policy_0")
    assert (policy["stun_server"], policy["protocols"]) == ("", "ice")


def test_it_makes_the_apps_codec_order_the_phones() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Disabled", audio_codecs=("PCMU", "speex"))
    document = account_xml([account()], settings, with_credentials=False)
    codecs = [
        (section, name, value)
        for section, name, value in entries_of(document)
        if section.startswith("audio_codec") and name in ("mime", "rate", "channels")
    ]
    assert codecs == [
        ("audio_codec_0", "mime", "PCMU"),
        ("audio_codec_0", "rate", "8000"),
        ("audio_codec_0", "channels", "1"),
        ("audio_codec_1", "mime", "speex"),
        ("audio_codec_1", "rate", "16000"),
        ("audio_codec_1", "channels", "1"),
        ("audio_codec_2", "mime", "speex"),
        ("audio_codec_2", "rate", "8000"),
        ("audio_codec_2", "channels", "1"),
        ("audio_codec_3", "mime", ""),
    ]
    assert section_of(document, "misc") == {"add_missing_audio_codecs": "0", "add_missing_video_codecs": "1"}
    assert section_of(document, "video") == {"codec_priority_policy": "1"}
    assert not [section for section, _, _ in entries_of(document) if section.startswith("video_codec")]


def test_the_apps_codecs_replace_the_list_the_phone_saved() -> None:
    saved = {
        f"audio_codec_{index}": {"mime": mime, "rate": "8000", "recv_fmtp": "mode=30"}
        for index, mime in enumerate(("opus", "iLBC", "PCMU", "PCMA"))
    }
    settings = PhoneSettings(transport="UDP", srtp="Disabled", audio_codecs=("PCMA", "PCMU"))
    phone = applied(saved, account_xml([account()], settings, with_credentials=False))
    assert codec_list(phone, "audio") == [
        {"mime": "PCMA", "rate": "8000", "channels": "1", "enabled": "1"},
        {"mime": "PCMU", "rate": "8000", "channels": "1", "enabled": "1"},
    ]


def test_an_empty_codec_list_leaves_the_phone_its_own() -> None:
    saved = {"audio_codec_0": {"mime": "PCMA", "rate": "8000"}, "misc": {"add_missing_audio_codecs": "0"}}
    phone = applied(saved, account_xml([account()], PLAIN, with_credentials=False))
    assert codec_list(phone, "audio") == [{"mime": "PCMA", "rate": "8000"}]
    assert phone["misc"] == {"add_missing_audio_codecs": "1", "add_missing_video_codecs": "1"}


def test_every_codec_an_app_may_list_has_linphones_name_and_clock_rate() -> None:
    assert sorted(AUDIO_PAYLOADS) == sorted(AUDIO_CODECS)
    assert AUDIO_PAYLOADS["G722"] == (("G722", 8000, 1),)  # RFC 3551: 8000 Hz RTP clock, 16 kHz audio
    assert AUDIO_PAYLOADS["opus"] == (("opus", 48000, 2),)
    settings = PhoneSettings(transport="UDP", srtp="Disabled", video_codecs=VIDEO_CODECS)
    video = account_xml([account()], settings, with_credentials=False)
    assert [value for section, name, value in entries_of(video) if name == "mime"] == [*VIDEO_CODECS, ""]
    assert {value for _, name, value in entries_of(video) if name == "rate"} == {"90000"}


@pytest.mark.parametrize(
    ("mode", "expected"), [("rfc2833", ("1", "0")), ("info", ("0", "1")), ("inband", ("1", "0"))]
)
def test_it_sends_dtmf_as_the_app_says(mode, expected) -> None:
    sip = section_of(account_xml([account()], replace(PLAIN, dtmf_mode=mode), with_credentials=False), "sip")
    assert (sip["use_rfc2833"], sip["use_info"]) == expected


def test_it_turns_keep_alives_off_with_the_app() -> None:
    sip = section_of(
        account_xml([account()], replace(PLAIN, keep_alive_seconds=0), with_credentials=False), "sip"
    )
    assert sip["keepalive_period"] == "0"


def test_it_writes_the_apps_defaults_for_typed_logins() -> None:
    document = defaults_xml("sip.acme.example:5080", "TCP", "edge.acme.example", 300, PLAIN)
    assert (
        document.decode()
        == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
    <entry name="media_encryption" overwrite="true">none</entry>
    <entry name="media_encryption_mandatory" overwrite="true">0</entry>
    <entry name="keepalive_period" overwrite="true">30000</entry>
    <entry name="use_rfc2833" overwrite="true">1</entry>
    <entry name="use_info" overwrite="true">0</entry>
  </section>
  <section name="net">
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
  <section name="nat_policy_0">
    <entry name="ref" overwrite="true">sessioncloud</entry>
    <entry name="stun_server" overwrite="true" />
    <entry name="stun_server_username" overwrite="true" />
    <entry name="protocols" overwrite="true" />
  </section>
  <section name="misc">
    <entry name="add_missing_audio_codecs" overwrite="true">1</entry>
    <entry name="add_missing_video_codecs" overwrite="true">1</entry>
  </section>
  <section name="video">
    <entry name="codec_priority_policy" overwrite="true">1</entry>
  </section>
  <section name="assistant">
    <entry name="domain" overwrite="true">sip.acme.example</entry>
    <entry name="transport" overwrite="true">tcp</entry>
  </section>
  <section name="proxy_default_values">
    <entry name="reg_proxy" overwrite="true">&lt;sip:edge.acme.example;transport=tcp&gt;</entry>
    <entry name="reg_route" overwrite="true">&lt;sip:edge.acme.example;transport=tcp;lr&gt;</entry>
    <entry name="reg_expires" overwrite="true">300</entry>
    <entry name="reg_sendregister" overwrite="true">1</entry>
    <entry name="realm" overwrite="true" />
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
</config>
"""
    )


def test_the_apps_defaults_carry_no_turn_credentials() -> None:
    document = defaults_xml("sip.acme.example", "UDP", None, 600, EVERYTHING)
    assert b"relay-user" not in document and b"relay-s3cret" not in document
    assert section_of(document, "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "stun.acme.example",
        "stun_server_username": "",
        "protocols": "stun,ice",
    }
    assert section_of(document, "proxy_default_values")["realm"] == "acme"
    assert [value for section, name, value in entries_of(document) if name == "mime"] == [
        "opus",
        "G722",
        "PCMA",
        "",
        "VP8",
        "H264",
        "",
    ]


def test_phone_settings_take_every_field_of_the_sip_profile() -> None:
    profile = SipProfile(
        domain="sip.acme.example",
        proxy=None,
        transport="TLS",
        use_subdomains=False,
        srtp="Enabled",
        messaging="Enabled",
        video="Enabled",
        callrecording="Disabled",
        voicemail_number=None,
        stun_server="stun.acme.example",
        turn_server="turn.acme.example:3478",
        turn_username="relay-user",
        turn_password="relay-s3cret",
        ice=True,
        keepalive_seconds=25,
        srtp_mode="mandatory",
        audio_codecs=("opus", "G722", "PCMA"),
        video_codecs=("VP8", "H264"),
        dtmf_mode="info",
        realm="acme",
    )
    assert PhoneSettings.from_profile(profile) == replace(EVERYTHING, transport="TLS")


def test_it_turns_accounts_off_to_deprovision() -> None:
    assert list(entries_of(deprovision_xml(2))) == [
        ("proxy_0", "reg_sendregister", "0"),
        ("auth_info_0", "passwd", ""),
        ("auth_info_0", "ha1", ""),
        ("proxy_1", "reg_sendregister", "0"),
        ("auth_info_1", "passwd", ""),
        ("auth_info_1", "ha1", ""),
    ]


def test_deprovisioning_also_takes_the_turn_password_back() -> None:
    assert [
        entry for entry in entries_of(deprovision_xml(1, relay_credentials=True)) if entry[0] == "auth_info_1"
    ] == [("auth_info_1", "passwd", ""), ("auth_info_1", "ha1", "")]


def test_it_makes_a_linphone_config_link() -> None:
    assert (
        linphone_link("https://sc.example/api/v1/linphone/abc")
        == "linphone-config:https://sc.example/api/v1/linphone/abc"
    )
