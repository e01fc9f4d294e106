"""Linphone remote provisioning: an end user's address (a setup token) and an App's address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from sessioncloud.providers.linphone import begin_enduser, finish_enduser, phone_settings
from sessioncloud.providers.models import (
    Device,
    DeviceStatus,
    ProvisioningLogEntry,
    TokenRedemption,
)
from sessioncloud.providers.tokens import issue_token, revoke
from sessioncloud.provisioning.linphone import PhoneSettings, entries_of
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db
INVALID = {
    "error": {
        "code": "token_invalid",
        "message": "This setup code is not valid. It may have expired or "
        "been used already; ask your provider for a new one.",
    }
}
ACCOUNT = {"sipusername": "1000", "sippassword": "upstream-pw", "subdomain": "pbx1"}
MEDIA = {
    "srtp": "Enabled",
    "srtp_mode": "mandatory",
    "stun_server": "stun.acme.example",
    "turn_server": "turn.acme.example:3478",
    "turn_username": "relay-user",
    "turn_password": "relay-s3cret",
    "ice_enabled": True,
    "keepalive_seconds": 25,
    "audio_codecs": ["PCMA", "opus"],
    "video_codecs": ["H264"],
    "dtmf_mode": "info",
    "sip_realm": "acme",
}


def fetch(token: str, user_agent: str = "Unknown"):
    return Client().get(f"/api/v1/linphone/{token}", headers={"User-Agent": user_agent})


def entries(response) -> dict[tuple[str, str], str]:
    return {(section, name): value for section, name, value in entries_of(response.content)}


def test_the_first_fetch_carries_the_account_and_its_password(app):
    user = make_end_user(app, "alice", display_name="Alice Smith", sip_username="2001")
    response = fetch(issue_token(user).plain)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Cache-Control"] == "no-store"
    found = entries(response)
    assert found[("proxy_0", "reg_identity")] == '"Alice Smith" <sip:2001@sip.acme.example>'
    assert found[("proxy_0", "reg_proxy")] == "<sip:sip.acme.example:5061;transport=tls>"
    assert found[("auth_info_0", "username")] == "2001"
    assert found[("auth_info_0", "passwd")] == "alice-secret"


def test_a_later_fetch_has_no_credentials(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    response = fetch(issued.plain)
    assert response.status_code == 200
    assert [key for key in entries(response) if key[0].startswith("auth_info")] == []
    assert entries(response)[("proxy_0", "reg_identity")] == '"Alice" <sip:2001@sip.acme.example>'


def test_a_later_fetch_carries_the_apps_changes(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    app.sip_transport, app.sip_domain = "TCP", "pbx.acme.example:5080"
    app.save()
    assert (
        entries(fetch(issued.plain))[("proxy_0", "reg_proxy")] == "<sip:pbx.acme.example:5080;transport=tcp>"
    )


def section(response, wanted: str) -> dict[str, str]:
    return {name: value for (found, name), value in entries(response).items() if found == wanted}


def test_phone_settings_take_every_nat_and_media_setting_of_the_app(org):
    app = make_app(org, "MediaInc", **MEDIA)
    assert phone_settings(app) == PhoneSettings(
        transport="TLS",
        srtp="Enabled",
        srtp_mode="mandatory",
        stun_server="stun.acme.example",
        turn_server="turn.acme.example:3478",
        turn_username="relay-user",
        turn_password="relay-s3cret",
        ice=True,
        keep_alive_seconds=25,
        audio_codecs=("PCMA", "opus"),
        video_codecs=("H264",),
        dtmf_mode="info",
        realm="acme",
    )


def test_the_first_fetch_carries_the_apps_nat_and_media_settings(org):
    app = make_app(org, "MediaInc", **MEDIA)
    response = fetch(issue_token(make_end_user(app, "alice")).plain)
    assert section(response, "sip") == {
        "default_proxy": "0",
        "media_encryption": "srtp",
        "media_encryption_mandatory": "1",
        "keepalive_period": "25000",
        "use_rfc2833": "0",
        "use_info": "1",
    }
    assert section(response, "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "turn.acme.example:3478",
        "stun_server_username": "relay-user",
        "protocols": "stun,turn,ice",
    }
    assert [value for (_, name), value in entries(response).items() if name == "mime"] == [
        "PCMA",
        "opus",
        "",
        "H264",
        "",
    ]
    assert (section(response, "proxy_0")["realm"], section(response, "auth_info_0")["realm"]) == (
        "acme",
        "acme",
    )
    assert section(response, "auth_info_1") == {"username": "relay-user", "passwd": "relay-s3cret", "ha1": ""}


def test_the_turn_password_comes_with_the_first_fetch_only(org):
    app = make_app(org, "MediaInc", **MEDIA)
    issued = issue_token(make_end_user(app, "alice"))
    assert b"relay-s3cret" in fetch(issued.plain).content
    later = fetch(issued.plain)
    assert b"relay-s3cret" not in later.content
    assert [key for key in entries(later) if key[0].startswith("auth_info")] == []
    assert section(later, "nat_policy_0")["stun_server_username"] == "relay-user"


def test_a_nat_setting_turned_off_is_taken_back_at_the_next_fetch(org):
    app = make_app(org, "NatInc", stun_server="stun.acme.example", ice_enabled=True, audio_codecs=["PCMA"])
    issued = issue_token(make_end_user(app, "alice"))
    assert section(fetch(issued.plain), "nat_policy_0")["protocols"] == "stun,ice"
    app.stun_server, app.ice_enabled, app.audio_codecs = "", False, []
    app.save()
    later = fetch(issued.plain)
    assert section(later, "nat_policy_0") == {
        "ref": "sessioncloud",
        "stun_server": "",
        "stun_server_username": "",
        "protocols": "",
    }
    assert section(later, "misc")["add_missing_audio_codecs"] == "1"
    assert [key for key in entries(later) if key[0].startswith("audio_codec")] == []


def test_the_first_fetch_uses_the_token_and_names_the_device_after_it(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain, user_agent="LinphoneAndroid/5.2.5 (Pixel 7) LinphoneSDK/5.3.1")
    issued.token.refresh_from_db()
    assert issued.token.uses == 1
    redemption = TokenRedemption.objects.get(token=issued.token)
    assert (redemption.device_id, redemption.user_agent) == (
        f"linphone-{issued.token.pk}",
        "LinphoneAndroid/5.2.5 (Pixel 7) LinphoneSDK/5.3.1",
    )
    device = Device.objects.get(app=app)
    assert (device.device_id, device.platform, device.app_version, device.end_user_id) == (
        f"linphone-{issued.token.pk}",
        "android",
        "5.2.5",
        issued.token.end_user_id,
    )


def test_later_fetches_use_up_nothing(app):
    issued = issue_token(make_end_user(app, "alice"))
    for _ in range(3):
        fetch(issued.plain)
    issued.token.refresh_from_db()
    assert issued.token.uses == 1
    assert TokenRedemption.objects.filter(token=issued.token).count() == 1


def test_every_fetch_writes_a_log_row(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    fetch(issued.plain)
    rows = list(
        ProvisioningLogEntry.objects.values_list("device_id", "username", "flow", "outcome", "accounts")
    )
    assert rows == [(f"linphone-{issued.token.pk}", "2001", "linphone", "ok", 1)] * 2


def test_an_unknown_token_is_invalid(app):
    response = fetch("unknown-token-0123456789")
    assert (response.status_code, response.json()) == (404, INVALID)


def test_a_malformed_token_is_invalid(app):
    response = fetch("short")
    assert (response.status_code, response.json()) == (404, INVALID)


def test_an_expired_token_is_invalid_before_its_first_fetch(app):
    issued = issue_token(make_end_user(app, "alice"))
    issued.token.expires = timezone.now() - timedelta(seconds=1)
    issued.token.save()
    response = fetch(issued.plain)
    assert (response.status_code, response.json()) == (404, INVALID)
    assert ProvisioningLogEntry.objects.count() == 0


def test_expiry_does_not_end_a_fetched_token(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    issued.token.expires = timezone.now() - timedelta(seconds=1)
    issued.token.save()
    assert fetch(issued.plain).status_code == 200


def test_revoking_ends_the_address(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    revoke(issued.token)
    response = fetch(issued.plain)
    assert (response.status_code, response.json()) == (404, INVALID)


def test_a_token_redeemed_by_another_app_is_invalid_here(app):
    issued = issue_token(make_end_user(app, "alice"))
    Client().post(
        "/api/v1/tokens/redeem",
        data={"token": issued.plain, "deviceId": "sessiontalk-1"},
        content_type="application/json",
    )
    response = fetch(issued.plain)
    assert (response.status_code, response.json()) == (404, INVALID)


def test_a_disabled_app_answers_invalid(app):
    issued = issue_token(make_end_user(app, "alice"))
    app.enabled = False
    app.save()
    assert fetch(issued.plain).status_code == 404


def test_a_deactivated_device_is_told_to_turn_its_account_off(app):
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    Device.objects.filter(app=app).update(status=DeviceStatus.DEACTIVATED)
    response = fetch(issued.plain)
    assert response.status_code == 200
    assert list(entries_of(response.content)) == [
        ("proxy_0", "reg_sendregister", "0"),
        ("auth_info_0", "passwd", ""),
        ("auth_info_0", "ha1", ""),
    ]
    assert ProvisioningLogEntry.objects.values_list("outcome", flat=True).first() == "deactivated"


def test_deactivating_a_device_also_blanks_the_turn_password(org):
    app = make_app(org, "MediaInc", **MEDIA)
    issued = issue_token(make_end_user(app, "alice"))
    fetch(issued.plain)
    Device.objects.filter(app=app).update(status=DeviceStatus.DEACTIVATED)
    assert list(entries_of(fetch(issued.plain).content)) == [
        ("proxy_0", "reg_sendregister", "0"),
        ("auth_info_0", "passwd", ""),
        ("auth_info_0", "ha1", ""),
        ("auth_info_1", "passwd", ""),
        ("auth_info_1", "ha1", ""),
    ]


def test_an_external_user_gets_the_providers_accounts_merged(org, provider):
    app = make_app(
        org,
        "ExtInc",
        sip_domain="ext.example",
        sip_transport="UDP",
        use_subdomains=True,
        provisioning_mode="external",
        provisioning_url=provider.url(),
        provisioning_timeout=2,
    )
    user = make_end_user(
        app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="bob",
        provisioning_password="pin-1234",
    )
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT]})
    issued = issue_token(user)
    found = entries(fetch(issued.plain))
    assert found[("proxy_0", "reg_identity")] == '"1000" <sip:1000@pbx1.ext.example>'
    assert found[("auth_info_0", "passwd")] == "upstream-pw"
    assert "reprovision=false" in provider.requests[-1].path
    fetch(issued.plain)
    assert "reprovision=true" in provider.requests[-1].path


def test_a_provider_that_logs_the_phone_out_turns_its_accounts_off(org, provider):
    app = make_app(
        org,
        "ExtInc",
        sip_domain="ext.example",
        provisioning_mode="external",
        provisioning_url=provider.url(),
        provisioning_timeout=2,
    )
    user = make_end_user(
        app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="bob",
        provisioning_password="pin-1234",
    )
    provider.answer_json({"update": True, "sipaccounts": [ACCOUNT, {**ACCOUNT, "sipusername": "1001"}]})
    issued = issue_token(user)
    fetch(issued.plain)
    provider.answer_json({"update": True, "errmsg": "Invalid Device", "sipaccounts": []})
    sections = [section for section, _, _ in entries_of(fetch(issued.plain).content)]
    assert sections == ["proxy_0", "auth_info_0", "auth_info_0", "proxy_1", "auth_info_1", "auth_info_1"]


def test_a_provider_failure_is_the_api_error(org, provider):
    app = make_app(
        org,
        "ExtInc",
        sip_domain="ext.example",
        provisioning_mode="external",
        provisioning_url=provider.url(),
        provisioning_timeout=2,
    )
    user = make_end_user(
        app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="bob",
        provisioning_password="pin-1234",
    )
    provider.answer(500, b"oops")
    response = fetch(issue_token(user).plain)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_error"


def test_the_serving_functions_answer_without_http(app):
    begun = begin_enduser(issue_token(make_end_user(app, "alice")).plain, "192.0.2.7", "Unknown")
    answer = finish_enduser(begun, begun.provisioned)
    assert (answer.status, answer.content_type, answer.headers) == (
        200,
        "application/xml",
        {"Cache-Control": "no-store"},
    )
    assert TokenRedemption.objects.get().ip == "192.0.2.7"


def test_the_app_address_has_the_defaults_and_no_account(app):
    response = Client().get("/api/v1/providers/acmeinc/linphone")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    found = entries(response)
    assert found[("assistant", "domain")] == "sip.acme.example"
    assert found[("proxy_default_values", "reg_proxy")] == "<sip:sip.acme.example;transport=tls>"
    assert not [key for key in found if key[0].startswith(("proxy_0", "auth_info"))]


def test_the_app_address_carries_the_apps_settings_but_no_turn_credentials(org):
    make_app(
        org,
        "MediaInc",
        sip_domain="sip.acme.example:5080",
        sip_transport="UDP",
        registration_expires=300,
        **{**MEDIA, "video_codecs": [], "audio_codecs": ["G722"]},
    )
    response = Client().get("/api/v1/providers/MediaInc/linphone")
    assert (
        response.content.decode()
        == """<?xml version="1.0" encoding="UTF-8"?>
<config xmlns="http://www.linphone.org/xsds/lpconfig.xsd">
  <section name="sip">
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
    <entry name="stun_server" overwrite="true">stun.acme.example</entry>
    <entry name="stun_server_username" overwrite="true" />
    <entry name="protocols" overwrite="true">stun,ice</entry>
  </section>
  <section name="misc">
    <entry name="add_missing_audio_codecs" overwrite="true">0</entry>
    <entry name="add_missing_video_codecs" overwrite="true">1</entry>
  </section>
  <section name="video">
    <entry name="codec_priority_policy" overwrite="true">1</entry>
  </section>
  <section name="audio_codec_0">
    <entry name="mime" overwrite="true">G722</entry>
    <entry name="rate" overwrite="true">8000</entry>
    <entry name="channels" overwrite="true">1</entry>
    <entry name="enabled" overwrite="true">1</entry>
    <entry name="recv_fmtp" overwrite="true" />
    <entry name="bitrate" overwrite="true" />
  </section>
  <section name="audio_codec_1">
    <entry name="mime" overwrite="true" />
  </section>
  <section name="assistant">
    <entry name="domain" overwrite="true">sip.acme.example</entry>
    <entry name="transport" overwrite="true">udp</entry>
  </section>
  <section name="proxy_default_values">
    <entry name="reg_proxy" overwrite="true">&lt;sip:sip.acme.example:5080;transport=udp&gt;</entry>
    <entry name="reg_expires" overwrite="true">300</entry>
    <entry name="reg_sendregister" overwrite="true">1</entry>
    <entry name="realm" overwrite="true">acme</entry>
    <entry name="nat_policy_ref" overwrite="true">sessioncloud</entry>
  </section>
</config>
"""
    )


def test_the_app_address_of_an_unknown_provider_is_not_found(app):
    response = Client().get("/api/v1/providers/NoSuchApp/linphone")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "provider_not_found"


def test_a_browser_is_sent_to_the_setup_page_without_using_the_token(app):
    issued = issue_token(make_end_user(app, "alice"))
    response = Client().get(
        f"/api/v1/linphone/{issued.plain}", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert (response.status_code, response["Location"]) == (302, f"/setup/{issued.plain}")
    issued.token.refresh_from_db()
    assert issued.token.uses == 0
    assert ProvisioningLogEntry.objects.count() == 0


def test_a_browser_with_a_malformed_token_gets_the_invalid_answer(app):
    response = Client().get("/api/v1/linphone/bad%0D%0ALocation:x", headers={"Accept": "text/html"})
    assert (response.status_code, response.json()) == (404, INVALID)


def test_a_provisioning_only_user_of_an_app_no_longer_external_gets_a_clear_answer(org, provider):
    app = make_app(
        org,
        "ExtInc",
        sip_domain="ext.example",
        provisioning_mode="external",
        provisioning_url=provider.url(),
        provisioning_timeout=2,
    )
    user = make_end_user(
        app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="bob",
        provisioning_password="pin-1234",
    )
    issued = issue_token(user)
    app.provisioning_mode = "portal"
    app.save()

    response = fetch(issued.plain)

    issued.token.refresh_from_db()
    assert (response.status_code, response.json()["error"]["code"]) == (409, "external_provisioning_disabled")
    assert (issued.token.uses, provider.requests) == (0, [])
