"""Linphone's remote provisioning XML, built from merged accounts: exact documents."""

from __future__ import annotations

from typing import Any

from sessioncloud.provisioning.linphone import (
    PhoneSettings,
    account_xml,
    defaults_xml,
    deprovision_xml,
    entries_of,
    linphone_link,
)

PLAIN = PhoneSettings(transport="UDP", srtp="Disabled")


def account(**values: Any) -> dict[str, Any]:
    merged = {"sipusername": "1000", "sippassword": "s3cret", "authusername": "1000", "displayname": "1000",
              "domain": "sip.acme.example", "port": 5060, "proxy": None, "transport": "UDP", "srtp": "Disabled",
              "messaging": "Enabled", "video": "Disabled", "callrecording": "Disabled", "subdomain": None,
              "voicemailNumber": None, "registrationExpires": 600}
    merged.update(values)
    return merged


def test_it_writes_an_account_with_its_credentials() -> None:
    document = account_xml([account(displayname="Ann Smith")], PLAIN, with_credentials=True)
    assert document.decode() == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
    <entry name="default_proxy" overwrite="true">0</entry>
    <entry name="media_encryption" overwrite="true">none</entry>
    <entry name="media_encryption_mandatory" overwrite="true">0</entry>
  </section>
  <section name="proxy_0">
    <entry name="reg_identity" overwrite="true">"Ann Smith" &lt;sip:1000@sip.acme.example&gt;</entry>
    <entry name="reg_proxy" overwrite="true">&lt;sip:sip.acme.example:5060;transport=udp&gt;</entry>
    <entry name="reg_expires" overwrite="true">600</entry>
    <entry name="reg_sendregister" overwrite="true">1</entry>
  </section>
  <section name="auth_info_0">
    <entry name="username" overwrite="true">1000</entry>
    <entry name="userid" overwrite="true">1000</entry>
    <entry name="passwd" overwrite="true">s3cret</entry>
    <entry name="domain" overwrite="true">sip.acme.example</entry>
  </section>
</config>
"""


def test_it_leaves_the_credentials_out_when_asked() -> None:
    document = account_xml([account(), account(sipusername="1001", displayname="1001")], PLAIN,
                           with_credentials=False)
    assert [section for section, _, _ in entries_of(document) if section.startswith("auth")] == []
    assert [value for section, name, value in entries_of(document) if name == "reg_identity"] == [
        '"1000" <sip:1000@sip.acme.example>', '"1001" <sip:1001@sip.acme.example>']


def test_it_sends_everything_through_the_outbound_proxy_over_the_accounts_transport() -> None:
    document = account_xml([account(transport="TLS", port=5061, proxy="edge.acme.example:5070")],
                           PhoneSettings(transport="TLS", srtp="Disabled"), with_credentials=False)
    proxy = {name: value for section, name, value in entries_of(document) if section == "proxy_0"}
    assert proxy["reg_identity"] == '"1000" <sip:1000@sip.acme.example>'
    assert proxy["reg_proxy"] == "<sip:edge.acme.example:5070;transport=tls>"
    assert proxy["reg_route"] == "<sip:edge.acme.example:5070;transport=tls;lr>"


def test_it_asks_for_srtp_when_the_app_enables_it() -> None:
    document = account_xml([account()], PhoneSettings(transport="UDP", srtp="Enabled"), with_credentials=False)
    sip = {name: value for section, name, value in entries_of(document) if section == "sip"}
    assert sip == {"default_proxy": "0", "media_encryption": "srtp", "media_encryption_mandatory": "0"}


def test_it_makes_srtp_mandatory_in_mandatory_mode() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Enabled", srtp_mode="mandatory")
    document = account_xml([account()], settings, with_credentials=False)
    assert ("sip", "media_encryption_mandatory", "1") in list(entries_of(document))


def test_it_points_voicemail_at_the_number_on_the_accounts_domain() -> None:
    document = account_xml([account(voicemailNumber="*97")], PLAIN, with_credentials=False)
    assert ("proxy_0", "voicemail_uri", "sip:*97@sip.acme.example") in list(entries_of(document))


def test_it_escapes_every_value() -> None:
    hostile = account(sipusername="a<b>&c", sippassword='p"<&>\'w', authusername="]]></entry>",
                      displayname='Ann "The" \\Boss <x>')
    document = account_xml([hostile], PLAIN, with_credentials=True)
    entries = {(section, name): value for section, name, value in entries_of(document)}
    assert entries[("auth_info_0", "passwd")] == 'p"<&>\'w'
    assert entries[("auth_info_0", "userid")] == "]]></entry>"
    assert entries[("auth_info_0", "username")] == "a<b>&c"
    assert entries[("proxy_0", "reg_identity")] == '"Ann \\"The\\" \\\\Boss <x>" <sip:a%3Cb%3E%26c@sip.acme.example>'
    assert b"<x>" not in document and b"p\"<&>" not in document


def test_it_writes_a_nat_policy_when_the_app_has_one() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Disabled", stun_server="stun.acme.example:3478",
                             ice=True, keep_alive_seconds=25, dtmf_mode="info", realm="acme")
    document = account_xml([account()], settings, with_credentials=True)
    entries = list(entries_of(document))
    assert [entry for entry in entries if entry[0] in ("net", "nat_policy_0")] == [
        ("net", "nat_policy_ref", "sessioncloud"),
        ("nat_policy_0", "ref", "sessioncloud"),
        ("nat_policy_0", "stun_server", "stun.acme.example:3478"),
        ("nat_policy_0", "protocols", "stun,ice"),
    ]
    assert ("sip", "keepalive_period", "25000") in entries
    assert [entry for entry in entries if entry[1] in ("use_rfc2833", "use_info")] == [
        ("sip", "use_rfc2833", "0"), ("sip", "use_info", "1")]
    assert ("proxy_0", "realm", "acme") in entries
    assert ("proxy_0", "nat_policy_ref", "sessioncloud") in entries
    assert ("auth_info_0", "realm", "acme") in entries


def test_it_prefers_the_turn_server_with_its_username() -> None:
    settings = PhoneSettings(transport="UDP", srtp="Disabled", stun_server="stun.acme.example",
                             turn_server="turn.acme.example", turn_username="relay", ice=True)
    policy = [(name, value) for section, name, value in entries_of(account_xml([account()], settings,
              with_credentials=False)) if section == "nat_policy_0"]
    assert policy == [("ref", "sessioncloud"), ("stun_server", "turn.acme.example"),
                      ("stun_server_username", "relay"), ("protocols", "stun,turn,ice")]


def test_it_writes_the_apps_defaults_for_typed_logins() -> None:
    document = defaults_xml("sip.acme.example:5080", "TCP", "edge.acme.example", 300, PLAIN)
    assert document.decode() == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
    <entry name="media_encryption" overwrite="true">none</entry>
    <entry name="media_encryption_mandatory" overwrite="true">0</entry>
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
  </section>
</config>
"""


def test_it_turns_accounts_off_to_deprovision() -> None:
    assert list(entries_of(deprovision_xml(2))) == [
        ("proxy_0", "reg_sendregister", "0"), ("auth_info_0", "passwd", ""), ("auth_info_0", "ha1", ""),
        ("proxy_1", "reg_sendregister", "0"), ("auth_info_1", "passwd", ""), ("auth_info_1", "ha1", ""),
    ]


def test_it_makes_a_linphone_config_link() -> None:
    assert linphone_link("https://sc.example/api/v1/linphone/abc") == \
        "linphone-config:https://sc.example/api/v1/linphone/abc"
