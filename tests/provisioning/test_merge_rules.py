"""merge_account: the SIP profile, overridden by what the account carries (docs/merge-rules.md)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.provisioning.merge import (
    MERGED_KEYS,
    SipProfile,
    merge_account,
    merge_accounts,
    split_domain,
)

PROFILE = SipProfile(
    domain="sip.acme.example",
    proxy=None,
    transport="UDP",
    use_subdomains=False,
    srtp="Disabled",
    messaging="Enabled",
    video="Disabled",
    callrecording="Disabled",
    voicemail_number="*97",
    registration_expires=600,
)


def account(**fields: Any) -> SipAccount:
    return SipAccount.model_validate({"sipusername": "1000", "sippassword": "pw", **fields})


def test_a_bare_account_gets_every_key_from_the_profile() -> None:
    merged = merge_account(account(), PROFILE)

    assert merged == {
        "sipusername": "1000",
        "sippassword": "pw",
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
        "voicemailNumber": "*97",
        "registrationExpires": 600,
        "stunServer": None,
        "turnServer": None,
        "turnUsername": None,
        "turnPassword": None,
        "ice": False,
        "keepAliveSeconds": 30,
        "srtpMode": "optional",
        "audioCodecs": [],
        "videoCodecs": [],
        "dtmfMode": "rfc2833",
        "realm": None,
    }
    assert tuple(merged) == MERGED_KEYS


@pytest.mark.parametrize(
    ("fields", "profile_changes", "expected"),
    [
        # Rule 2: domain
        (
            {"subdomain": "pbx.other.example"},
            {},
            {"domain": "pbx.other.example", "subdomain": "pbx.other.example"},
        ),
        ({"subdomain": "pbx.other.example"}, {"use_subdomains": True}, {"domain": "pbx.other.example"}),
        (
            {"subdomain": "pbx"},
            {"use_subdomains": True},
            {"domain": "pbx.sip.acme.example", "subdomain": "pbx"},
        ),
        ({"subdomain": "pbx"}, {"use_subdomains": False}, {"domain": "sip.acme.example", "subdomain": "pbx"}),
        ({"subdomain": ""}, {"use_subdomains": True}, {"domain": "sip.acme.example", "subdomain": ""}),
        (
            {"subdomain": "pbx"},
            {"use_subdomains": True, "domain": "sip.acme.example:5080"},
            {"domain": "pbx.sip.acme.example", "port": 5080},
        ),
        # Rule 2: port from the App's domain, else the transport's default
        ({}, {"domain": "sip.acme.example:5080"}, {"domain": "sip.acme.example", "port": 5080}),
        ({}, {"transport": "TCP"}, {"transport": "TCP", "port": 5060}),
        ({}, {"transport": "TLS"}, {"transport": "TLS", "port": 5061}),
        ({"transport": "tls"}, {}, {"transport": "TLS", "port": 5061}),
        ({"transport": "TLS"}, {"domain": "sip.acme.example:5080"}, {"transport": "TLS", "port": 5080}),
        ({"subdomain": "pbx.other.example"}, {"domain": "sip.acme.example:5080"}, {"port": 5080}),
        ({}, {"domain": "[2001:db8::1]:5070"}, {"domain": "[2001:db8::1]", "port": 5070}),
        ({}, {"domain": "[2001:db8::1]"}, {"domain": "[2001:db8::1]", "port": 5060}),
        ({"subdomain": "[2001:db8::2]"}, {"use_subdomains": True}, {"domain": "[2001:db8::2]"}),
        ({"subdomain": "2001:db8::2"}, {"use_subdomains": False}, {"domain": "[2001:db8::2]"}),
        (
            {"subdomain": "pbx"},
            {"use_subdomains": True, "domain": "[2001:db8::1]:5070"},
            {"domain": "[2001:db8::1]", "port": 5070},
        ),
        ({"subdomain": "pbx"}, {"use_subdomains": True, "domain": "10.0.0.7"}, {"domain": "10.0.0.7"}),
        # Rule 3: authusername and displayname default to sipusername
        (
            {"authusername": "auth-7", "displayname": "Front desk"},
            {},
            {"authusername": "auth-7", "displayname": "Front desk"},
        ),
        ({"authusername": "", "displayname": ""}, {}, {"authusername": "1000", "displayname": "1000"}),
        # Rules 1 and 4: account flags override, everything normalised
        (
            {"srtp": "enabled", "video": True, "messaging": False},
            {},
            {"srtp": "Enabled", "video": "Enabled", "messaging": "Disabled"},
        ),
        ({"callrecording": "ENABLED"}, {"callrecording": "Disabled"}, {"callrecording": "Enabled"}),
        (
            {},
            {"transport": "tls", "srtp": "enabled", "video": "ENABLED"},
            {"transport": "TLS", "srtp": "Enabled", "video": "Enabled"},
        ),
        # Profile-only keys
        ({}, {"proxy": "proxy.acme.example:5070"}, {"proxy": "proxy.acme.example:5070"}),
        ({}, {"proxy": ""}, {"proxy": None}),
        (
            {},
            {"voicemail_number": None, "registration_expires": 3600},
            {"voicemailNumber": None, "registrationExpires": 3600},
        ),
        (
            {},
            {"stun_server": "stun.acme.example:3478", "ice": True, "keepalive_seconds": 15},
            {"stunServer": "stun.acme.example:3478", "ice": True, "keepAliveSeconds": 15},
        ),
        (
            {},
            {"turn_server": "turn.acme.example", "turn_username": "relay", "turn_password": "t-pw"},
            {"turnServer": "turn.acme.example", "turnUsername": "relay", "turnPassword": "t-pw"},
        ),
        (
            {},
            {"stun_server": "", "turn_server": "", "turn_username": "", "turn_password": "", "realm": ""},
            {
                "stunServer": None,
                "turnServer": None,
                "turnUsername": None,
                "turnPassword": None,
                "realm": None,
            },
        ),
        ({"srtp": "Enabled"}, {"srtp_mode": "mandatory"}, {"srtp": "Enabled", "srtpMode": "mandatory"}),
        (
            {},
            {"audio_codecs": ("opus", "PCMA"), "video_codecs": ("VP8",)},
            {"audioCodecs": ["opus", "PCMA"], "videoCodecs": ["VP8"]},
        ),
        ({}, {"dtmf_mode": "info", "realm": "acme"}, {"dtmfMode": "info", "realm": "acme"}),
    ],
)
def test_it_applies_the_merge_rules(
    fields: dict[str, Any], profile_changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    merged = merge_account(account(**fields), replace(PROFILE, **profile_changes))

    assert {key: merged[key] for key in expected} == expected


def test_it_merges_every_account_of_a_list() -> None:
    merged = merge_accounts([account(), account(sipusername="1001", transport="TLS")], PROFILE)

    assert [(m["sipusername"], m["transport"], m["port"]) for m in merged] == [
        ("1000", "UDP", 5060),
        ("1001", "TLS", 5061),
    ]


@pytest.mark.parametrize(
    ("domain", "parts"),
    [
        ("sip.acme.example", ("sip.acme.example", None)),
        ("sip.acme.example:5080", ("sip.acme.example", 5080)),
        (" sip.acme.example:5080 ", ("sip.acme.example", 5080)),
        ("[2001:db8::1]:5070", ("[2001:db8::1]", 5070)),
        ("[2001:db8::1]", ("[2001:db8::1]", None)),
        ("2001:db8::1", ("[2001:db8::1]", None)),
        ("::1", ("[::1]", None)),
        ("[::1]:5060", ("[::1]", 5060)),
    ],
)
def test_it_splits_the_app_domain_into_host_and_port(domain: str, parts: tuple[str, int | None]) -> None:
    assert split_domain(domain) == parts
