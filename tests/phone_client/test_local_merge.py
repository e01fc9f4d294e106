"""Accounts a QR code carries, merged by the phone with the fetched config (docs/merge-rules.md)."""

from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.phone.accounts import merge_local, sip_profile, stored_local_accounts
from sessioncloud.providers.config import render_config
from sessioncloud.providers.outbound import sip_profile as server_sip_profile
from sessioncloud.provisioning.merge import SipProfile, merge_accounts
from tests.factories import MEDIA_DEFAULTS, make_app
from tests.phone_client.acme import acme_config


def config(**sip: Any) -> dict[str, Any]:
    return acme_config(sip=sip, name="Acme")


def test_the_profile_is_rebuilt_from_the_config():
    profile = sip_profile(
        config(
            proxy="proxy.acme.example",
            useSubdomains=True,
            srtp="Enabled",
            voicemailNumber="*97",
            registrationExpires=300,
        )
    )

    assert profile == SipProfile(
        domain="sip.acme.example",
        proxy="proxy.acme.example",
        transport="TLS",
        use_subdomains=True,
        srtp="Enabled",
        messaging="Enabled",
        video="Disabled",
        callrecording="Disabled",
        voicemail_number="*97",
        registration_expires=300,
    )


def test_the_nat_and_media_settings_are_rebuilt_from_the_config():
    profile = sip_profile(
        config(
            stunServer="stun.acme.example:3478",
            turnServer="turn.acme.example",
            ice=True,
            keepAliveSeconds=15,
            srtpMode="mandatory",
            audioCodecs=["opus", "PCMA"],
            videoCodecs=["H264"],
            dtmfMode="inband",
            realm="acme",
        )
    )

    assert (
        profile.stun_server,
        profile.turn_server,
        profile.turn_username,
        profile.turn_password,
        profile.ice,
        profile.keepalive_seconds,
        profile.srtp_mode,
        profile.audio_codecs,
        profile.video_codecs,
        profile.dtmf_mode,
        profile.realm,
    ) == (
        "stun.acme.example:3478",
        "turn.acme.example",
        None,
        None,
        True,
        15,
        "mandatory",
        ("opus", "PCMA"),
        ("H264",),
        "inband",
        "acme",
    )


def test_a_config_saved_before_the_nat_and_media_settings_means_their_defaults():
    assert merge_local([SipAccount(sipusername="2001", sippassword="pw")], config())[0] == {
        "sipusername": "2001",
        "sippassword": "pw",
        "authusername": "2001",
        "displayname": "2001",
        "domain": "sip.acme.example",
        "port": 5061,
        "proxy": None,
        "transport": "TLS",
        "srtp": "Disabled",
        "messaging": "Enabled",
        "video": "Disabled",
        "callrecording": "Disabled",
        "subdomain": None,
        "voicemailNumber": None,
        "registrationExpires": 600,
        **MEDIA_DEFAULTS,
    }


def test_accounts_merged_by_the_phone_name_the_turn_server_but_never_get_its_credentials(org):
    app = make_app(
        org,
        "TurnInc",
        turn_server="turn.acme.example:3478",
        turn_username="relay",
        turn_password="turn-s3cret",
    )
    carried = [SipAccount(sipusername="2001", sippassword="pw")]

    [on_phone] = merge_local(carried, render_config(app).document())
    [on_server] = merge_accounts(carried, server_sip_profile(app))

    assert (on_phone["turnServer"], on_phone["turnUsername"], on_phone["turnPassword"]) == (
        "turn.acme.example:3478",
        None,
        None,
    )
    assert (on_server["turnServer"], on_server["turnUsername"], on_server["turnPassword"]) == (
        "turn.acme.example:3478",
        "relay",
        "turn-s3cret",
    )


def test_a_port_other_than_the_transports_default_joins_the_domain():
    assert sip_profile(config(port=5080)).domain == "sip.acme.example:5080"
    assert sip_profile(config(port=5060, transport="UDP")).domain == "sip.acme.example"
    assert sip_profile(config(domain="[2001:db8::1]", port=5070)).domain == "[2001:db8::1]:5070"


def test_a_carried_account_is_merged_into_a_complete_account():
    accounts = [
        SipAccount(
            sipusername="2001",
            sippassword="pw",
            subdomain="pbx",
            transport="udp",
            video=True,
            displayname="Alice",
        )
    ]

    assert merge_local(accounts, config(useSubdomains=True, port=5080)) == [
        {
            "sipusername": "2001",
            "sippassword": "pw",
            "authusername": "2001",
            "displayname": "Alice",
            "domain": "pbx.sip.acme.example",
            "port": 5080,
            "proxy": None,
            "transport": "UDP",
            "srtp": "Disabled",
            "messaging": "Enabled",
            "video": "Enabled",
            "callrecording": "Disabled",
            "subdomain": "pbx",
            "voicemailNumber": None,
            "registrationExpires": 600,
            **MEDIA_DEFAULTS,
        }
    ]


@pytest.mark.parametrize(
    "app_values",
    [
        {"sip_domain": "sip.acme.example", "sip_transport": "TLS"},
        {"sip_domain": "sip.acme.example", "sip_transport": "UDP", "sip_proxy": "proxy.acme.example"},
        {"sip_domain": "sip.acme.example:5080", "sip_transport": "TCP", "use_subdomains": True},
        {
            "sip_domain": "acme.example:5061",
            "sip_transport": "UDP",
            "srtp": "Enabled",
            "voicemail_number": "*97",
            "registration_expires": 90,
        },
        {
            "stun_server": "stun.acme.example:3478",
            "ice_enabled": True,
            "keepalive_seconds": 15,
            "srtp": "Enabled",
            "srtp_mode": "mandatory",
            "audio_codecs": ["opus", "PCMU"],
            "video_codecs": ["VP8"],
            "dtmf_mode": "info",
            "sip_realm": "acme",
        },
    ],
)
@pytest.mark.parametrize(
    "account",
    [
        {"sipusername": "2001", "sippassword": "pw"},
        {"sipusername": "2001", "sippassword": "pw", "transport": "UDP", "subdomain": "pbx"},
        {
            "sipusername": "2001",
            "sippassword": "pw",
            "transport": "TLS",
            "subdomain": "sip.x.example",
            "authusername": "auth",
            "srtp": "Enabled",
            "callrecording": "Enabled",
        },
    ],
)
def test_the_phone_merges_exactly_as_the_server_does(org, app_values, account):
    app = make_app(org, "MergeInc", **app_values)
    carried = [SipAccount.model_validate(account)]

    assert merge_local(carried, render_config(app).document()) == merge_accounts(
        carried, server_sip_profile(app)
    )


def test_stored_accounts_are_checked_again_before_merging():
    assert stored_local_accounts([{"sipusername": "2001", "sippassword": "pw"}]) == [
        SipAccount(sipusername="2001", sippassword="pw")
    ]

    with pytest.raises(ValueError) as caught:
        stored_local_accounts([{"sipusername": "2001"}])

    assert str(caught.value) == "localAccounts[0].sippassword: missing"
