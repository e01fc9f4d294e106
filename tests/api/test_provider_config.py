from __future__ import annotations

import pytest
from django.test import Client

from sessioncloud.providers.config import config_version, public_config
from sessioncloud.providers.models import App
from tests.factories import CONFIG_MEDIA_DEFAULTS, make_app

pytestmark = pytest.mark.django_db


def fetch(provider_id: str, **headers: str):
    return Client().get(f"/api/v1/providers/{provider_id}/config", headers=headers)


def test_it_answers_the_public_configuration(org):
    app = make_app(
        org,
        "AcmeInc",
        kind="generic",
        sip_domain="sip.acme.example",
        sip_transport="TLS",
        srtp="Enabled",
        voicemail_number="*97",
        help_links=[{"title": "Billing", "url": "https://acme.example/billing?u=%user%&p=%pwd%"}],
        provisioning_mode="external",
        provisioning_url="https://prov.acme.example/p",
        username_placeholder="Account No",
        password_placeholder="PIN",
    )
    response = fetch("AcmeInc")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-cache"
    body = response.json()
    version = body["version"]
    assert response["ETag"] == f'"{version}"'
    assert body == {
        "providerId": "AcmeInc",
        "kind": "generic",
        "name": "Acme Telecom",
        "version": version,
        "branding": {
            "logo": None,
            "logoDark": None,
            "themeColor": "#0A7CFF",
            "contactEmail": "support@acme.example",
            "helpMenuTitle": "Help",
            "helpLinks": [{"title": "Billing", "url": "https://acme.example/billing?u=%user%&p=%pwd%"}],
            "credentialsSource": "sip",
        },
        "login": {
            "mode": "external",
            "fields": "username_password",
            "usernamePlaceholder": "Account No",
            "passwordPlaceholder": "PIN",
        },
        "sip": {
            "domain": "sip.acme.example",
            "port": 5061,
            "proxy": None,
            "transport": "TLS",
            "useSubdomains": False,
            "srtp": "Enabled",
            "messaging": "Enabled",
            "video": "Disabled",
            "callrecording": "Disabled",
            "voicemailNumber": "*97",
            "registrationExpires": 600,
            "stunServer": None,
            "turnServer": None,
            "ice": False,
            "keepAliveSeconds": 30,
            "srtpMode": "optional",
            "audioCodecs": [],
            "videoCodecs": [],
            "dtmfMode": "rfc2833",
            "realm": None,
        },
    }
    assert version == config_version(public_config(app))


def test_the_sip_section_carries_the_nat_and_media_settings(org):
    make_app(
        org,
        "NatInc",
        stun_server="stun.acme.example:3478",
        turn_server="turn.acme.example:3478",
        turn_username="relay",
        turn_password="turn-s3cret",
        ice_enabled=True,
        keepalive_seconds=20,
        srtp="Enabled",
        srtp_mode="mandatory",
        audio_codecs=["opus", "PCMA"],
        video_codecs=["VP8"],
        dtmf_mode="info",
        sip_realm="acme",
    )
    sip = fetch("NatInc").json()["sip"]
    assert {key: sip[key] for key in CONFIG_MEDIA_DEFAULTS} == {
        "stunServer": "stun.acme.example:3478",
        "turnServer": "turn.acme.example:3478",
        "ice": True,
        "keepAliveSeconds": 20,
        "srtpMode": "mandatory",
        "audioCodecs": ["opus", "PCMA"],
        "videoCodecs": ["VP8"],
        "dtmfMode": "info",
        "realm": "acme",
    }


def test_the_config_never_carries_the_turn_credentials(org):
    make_app(
        org,
        "NatInc",
        turn_server="turn.acme.example",
        turn_username="relay-user",
        turn_password="turn-s3cret",
    )
    body = fetch("NatInc").content.decode()
    assert "relay-user" not in body and "turn-s3cret" not in body
    assert not {"turnUsername", "turnPassword"} & set(fetch("NatInc").json()["sip"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stun_server", "stun.acme.example"),
        ("ice_enabled", True),
        ("keepalive_seconds", 60),
        ("srtp_mode", "mandatory"),
        ("audio_codecs", ["PCMU"]),
        ("video_codecs", ["H264"]),
        ("dtmf_mode", "inband"),
        ("sip_realm", "acme"),
    ],
)
def test_the_version_changes_with_each_nat_and_media_setting(app, field, value):
    first = fetch("AcmeInc")["ETag"]
    setattr(app, field, value)
    app.save()
    assert fetch("AcmeInc")["ETag"] != first


def test_the_version_changes_with_the_turn_server(app):
    first = fetch("AcmeInc")["ETag"]
    app.turn_server, app.turn_username, app.turn_password = "turn.acme.example", "relay", "turn-s3cret"
    app.save()
    assert fetch("AcmeInc")["ETag"] != first


def test_it_ignores_the_case_of_the_provider_id(app):
    assert fetch("acmeinc").json()["providerId"] == "AcmeInc"
    assert fetch("ACMEINC").json()["providerId"] == "AcmeInc"


def test_it_takes_the_port_from_the_domain(org):
    make_app(org, "PortInc", sip_domain="pbx.example.net:5080", sip_transport="UDP")
    sip = fetch("PortInc").json()["sip"]
    assert (sip["domain"], sip["port"]) == ("pbx.example.net", 5080)


def test_it_answers_304_when_the_etag_matches(app):
    etag = fetch("AcmeInc")["ETag"]
    response = fetch("AcmeInc", **{"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_it_answers_200_when_the_etag_is_stale(app):
    response = fetch("AcmeInc", **{"If-None-Match": '"stale"'})
    assert response.status_code == 200


def test_unknown_and_disabled_providers_get_the_same_404(org):
    make_app(org, "Hidden", enabled=False)
    unknown, disabled = fetch("Nobody"), fetch("Hidden")
    expected = {
        "error": {"code": "provider_not_found", "message": "No provider is known by that ProviderId."}
    }
    assert (unknown.status_code, unknown.json()) == (404, expected)
    assert (disabled.status_code, disabled.json()) == (404, expected)


@pytest.mark.parametrize("provider_id", ["x" * 300, "%00", "a b", "..", "💥"])
def test_it_answers_404_to_odd_provider_ids(db, provider_id):
    response = fetch(provider_id)
    assert response.status_code == 404
    assert response.json()["error"]["code"] in ("provider_not_found", "not_found")


def test_a_saved_change_shows_on_the_next_request(app):
    first = fetch("AcmeInc").json()
    app.theme_color = "#112233"
    app.save()
    second = fetch("AcmeInc").json()
    assert second["branding"]["themeColor"] == "#112233"
    assert second["version"] != first["version"]


def test_disabling_an_app_hides_it_at_once(app):
    assert fetch("AcmeInc").status_code == 200
    app.enabled = False
    app.save()
    assert fetch("AcmeInc").status_code == 404


def test_a_new_app_replaces_a_cached_miss(org):
    assert fetch("LateInc").status_code == 404
    make_app(org, "LateInc")
    assert fetch("LateInc").status_code == 200


def test_the_version_does_not_change_without_a_change(app):
    first = fetch("AcmeInc")["ETag"]
    App.objects.get(pk=app.pk).save()
    assert fetch("AcmeInc")["ETag"] == first


def test_it_serves_the_config_without_database_queries_once_cached(app, django_assert_num_queries):
    fetch("AcmeInc")
    with django_assert_num_queries(0):
        assert fetch("AcmeInc").status_code == 200
