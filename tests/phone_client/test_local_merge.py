"""Accounts carried by a QR code, merged by the phone with the fetched config (SPEC 7)."""

from __future__ import annotations

from typing import Any

import pytest

from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.phone.accounts import merge_local, sip_profile, stored_local_accounts
from sessioncloud.providers.config import render_config
from sessioncloud.providers.outbound import sip_profile as server_sip_profile
from sessioncloud.provisioning.merge import SipProfile, merge_accounts
from tests.factories import make_app


def config(**sip: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "domain": "sip.acme.example", "port": 5061, "proxy": None, "transport": "TLS",
        "useSubdomains": False, "srtp": "Disabled", "messaging": "Enabled", "video": "Disabled",
        "callrecording": "Disabled", "voicemailNumber": None, "registrationExpires": 600,
    }
    values.update(sip)
    return {"providerId": "AcmeInc", "kind": "generic", "name": "Acme", "version": "v1",
            "login": {"mode": "portal", "fields": "username_password"}, "sip": values}


def test_the_profile_is_rebuilt_from_the_config():
    profile = sip_profile(config(proxy="proxy.acme.example", useSubdomains=True, srtp="Enabled",
                                 voicemailNumber="*97", registrationExpires=300))

    assert profile == SipProfile(domain="sip.acme.example", proxy="proxy.acme.example",
                                 transport="TLS", use_subdomains=True, srtp="Enabled",
                                 messaging="Enabled", video="Disabled", callrecording="Disabled",
                                 voicemail_number="*97", registration_expires=300)


def test_a_port_other_than_the_transports_default_joins_the_domain():
    assert sip_profile(config(port=5080)).domain == "sip.acme.example:5080"
    assert sip_profile(config(port=5060, transport="UDP")).domain == "sip.acme.example"
    assert sip_profile(config(domain="[2001:db8::1]", port=5070)).domain == "[2001:db8::1]:5070"


def test_a_carried_account_is_merged_into_a_complete_account():
    accounts = [SipAccount(sipusername="2001", sippassword="pw", subdomain="pbx",
                           transport="udp", video=True, displayname="Alice")]

    assert merge_local(accounts, config(useSubdomains=True, port=5080)) == [{
        "sipusername": "2001", "sippassword": "pw", "authusername": "2001",
        "displayname": "Alice", "domain": "pbx.sip.acme.example", "port": 5080, "proxy": None,
        "transport": "UDP", "srtp": "Disabled", "messaging": "Enabled", "video": "Enabled",
        "callrecording": "Disabled", "subdomain": "pbx", "voicemailNumber": None,
        "registrationExpires": 600,
    }]


@pytest.mark.parametrize("app_values", [
    {"sip_domain": "sip.acme.example", "sip_transport": "TLS"},
    {"sip_domain": "sip.acme.example", "sip_transport": "UDP", "sip_proxy": "proxy.acme.example"},
    {"sip_domain": "sip.acme.example:5080", "sip_transport": "TCP", "use_subdomains": True},
    {"sip_domain": "acme.example:5061", "sip_transport": "UDP", "srtp": "Enabled",
     "voicemail_number": "*97", "registration_expires": 90},
])
@pytest.mark.parametrize("account", [
    {"sipusername": "2001", "sippassword": "pw"},
    {"sipusername": "2001", "sippassword": "pw", "transport": "UDP", "subdomain": "pbx"},
    {"sipusername": "2001", "sippassword": "pw", "transport": "TLS", "subdomain": "sip.x.example",
     "authusername": "auth", "srtp": "Enabled", "callrecording": "Enabled"},
])
def test_the_phone_merges_exactly_as_the_server_does(org, app_values, account):
    app = make_app(org, "MergeInc", **app_values)
    carried = [SipAccount.model_validate(account)]

    assert merge_local(carried, render_config(app).document()) == \
        merge_accounts(carried, server_sip_profile(app))


def test_stored_accounts_are_checked_again_before_merging():
    assert stored_local_accounts([{"sipusername": "2001", "sippassword": "pw"}]) == \
        [SipAccount(sipusername="2001", sippassword="pw")]

    with pytest.raises(ValueError) as caught:
        stored_local_accounts([{"sipusername": "2001"}])

    assert str(caught.value) == "localAccounts[0].sippassword: missing"
