"""Flows A, B, C, F (local), G and H, end to end: the phone client against a real server."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx2
import pytest

from sessioncloud.accounts.models import ApiKey
from sessioncloud.codes.formats import encode_desktop_local
from sessioncloud.codes.qr import render_png
from sessioncloud.phone.cli import main
from sessioncloud.providers.config import render_config
from sessioncloud.providers.endusers import local_code, sip_account
from sessioncloud.providers.tokens import issue_token
from tests.factories import MEDIA_DEFAULTS, make_app, make_end_user
from tests.phone_client.conftest import read_state

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN_INVALID = (
    "error: token_invalid: This setup code is not valid. It may have expired or been "
    "used already; ask your provider for a new one.\n"
)


def merged(**values: object) -> dict[str, object]:
    """The account end user `alice` gets from the App of make_app, with `values` changed."""
    account: dict[str, object] = {
        "sipusername": "2001",
        "sippassword": "alice-secret",
        "authusername": "2001",
        "displayname": "Alice",
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
    account.update(values)
    return account


def test_flow_a_stores_the_config_and_asks_for_sip_credentials(org, phone, state_file, capsys):
    app = make_app(
        org,
        "FlowA",
        sip_domain="sip.flowa.example:5080",
        sip_transport="UDP",
        sip_proxy="proxy.flowa.example",
    )
    version = render_config(app).version

    assert phone("config", "flowa") == 0

    assert capsys.readouterr().out == (
        "Provider: Acme Telecom (FlowA, generic)\n"
        "SIP server: sip.flowa.example port 5080 over UDP, proxy proxy.flowa.example\n"
        "Login: portal (username_password)\n"
        f"Config version: {version}\n"
        "No accounts yet: the phone now asks the user to type their SIP username and password.\n"
    )
    state = read_state(state_file)
    assert (state["providerId"], state["setup"], state["sipaccounts"]) == ("FlowA", "config", [])
    assert (state["configVersion"], state["etag"]) == (version, f'"{version}"')
    assert state["config"] == render_config(app).document()
    assert len(state["deviceId"]) == 24
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_flow_a_reports_an_unknown_provider(org, phone, state_file, capsys):
    assert phone("config", "NoSuchProvider") == 1

    captured = capsys.readouterr()
    assert captured.err == "error: provider_not_found: No provider is known by that ProviderId.\n"
    assert captured.out == ""
    assert read_state(state_file)["providerId"] is None  # only the deviceId was kept


def test_flow_b_scans_a_qr_image_and_merges_its_accounts(org, phone, state_file, tmp_path, capsys):
    app = make_app(org, "FlowB", sip_proxy="proxy.acme.example", srtp="Enabled")
    user = make_end_user(app, "alice", subdomain="pbx", transport="UDP")
    image = tmp_path / "alice.png"
    image.write_bytes(render_png(local_code(user)))
    version = render_config(app).version

    assert phone("scan", str(image)) == 0

    assert capsys.readouterr().out == (
        "Set up from the accounts in the code.\n"
        "Provider: Acme Telecom (FlowB, generic)\n"
        "SIP server: sip.acme.example port 5061 over TLS, proxy proxy.acme.example\n"
        "Login: portal (username_password)\n"
        f"Config version: {version}\n"
        "SIP accounts (1):\n"
        "  1. 2001@sip.acme.example:5060 over UDP\n"
        '     display name "Alice", auth user "2001", password ********\n'
        "     proxy proxy.acme.example, voicemail none, registration every 600 s\n"
        "     srtp Enabled, messaging Enabled, video Disabled, callrecording Disabled\n"
    )
    state = read_state(state_file)
    # The account overrides the transport, so the port follows it, exactly as the server
    # merges the same account for a setup token.
    assert state["sipaccounts"] == [
        merged(port=5060, transport="UDP", subdomain="pbx", proxy="proxy.acme.example", srtp="Enabled")
    ]
    assert state["localAccounts"] == [
        {
            "sipusername": "2001",
            "sippassword": "alice-secret",
            "subdomain": "pbx",
            "transport": "UDP",
            "displayname": "Alice",
        }
    ]
    assert (state["providerId"], state["setup"], state["provisioning"]) == ("FlowB", "local", None)


def test_flow_b_merges_as_the_server_does_for_the_same_end_user(org, phone, state_file):
    app = make_app(
        org,
        "FlowBB",
        sip_domain="acme.example:5070",
        use_subdomains=True,
        voicemail_number="*97",
        registration_expires=300,
    )
    user = make_end_user(app, "alice", subdomain="pbx", transport="TCP", srtp="Enabled")

    assert phone("scan", local_code(user)) == 0
    scanned = read_state(state_file)["sipaccounts"]
    assert phone("redeem", issue_token(user).plain) == 0

    assert (
        scanned
        == read_state(state_file)["sipaccounts"]
        == [
            merged(
                domain="pbx.acme.example",
                port=5070,
                transport="TCP",
                subdomain="pbx",
                srtp="Enabled",
                voicemailNumber="*97",
                registrationExpires=300,
            )
        ]
    )


def test_flow_c_scans_a_whitelabel_code_with_the_built_in_provider_id(org, phone, state_file, capsys):
    app = make_app(org, "FlowC", kind="whitelabel", android_package="example.acme.phone")
    code = local_code(make_end_user(app, "alice"))
    assert code.startswith('scloc:{"sipaccounts"')

    assert phone("scan", code, "--provider-id", "FlowC") == 0

    assert "Provider: Acme Telecom (FlowC, whitelabel)\n" in capsys.readouterr().out
    state = read_state(state_file)
    assert (state["providerId"], state["setup"]) == ("FlowC", "local")
    assert state["sipaccounts"] == [merged()]


def test_flow_c_takes_the_provider_id_from_the_state_of_a_whitelabel_phone(org, phone, state_file):
    app = make_app(org, "FlowCC", kind="whitelabel")
    code = local_code(make_end_user(app, "alice"))
    assert phone("config", "FlowCC") == 0

    assert phone("scan", code) == 0

    assert read_state(state_file)["sipaccounts"] == [merged()]


def test_flow_c_needs_a_provider_id_on_a_fresh_phone(org, phone, state_file, capsys):
    app = make_app(org, "FlowCX", kind="whitelabel")

    assert phone("scan", local_code(make_end_user(app, "alice"))) == 2

    assert capsys.readouterr().err == (
        "error: this whitelabel code carries no ProviderId: give --provider-id, or run "
        "`config PROVIDER_ID` first\n"
    )
    assert not state_file.exists()


def test_flow_g_redeems_a_token_once(org, phone, state_file, capsys):
    app = make_app(org, "FlowG", voicemail_number="*97")
    issued = issue_token(make_end_user(app, "alice", display_name="Alice"))

    assert phone("redeem", issued.plain) == 0

    out = capsys.readouterr().out
    assert out.startswith("Set up by the one-time setup code.\nProvider: Acme Telecom (FlowG, generic)\n")
    state = read_state(state_file)
    assert (state["providerId"], state["setup"]) == ("FlowG", "token")
    assert state["config"] == render_config(app).document()
    assert state["etag"] == f'"{state["configVersion"]}"'
    assert state["sipaccounts"] == [merged(voicemailNumber="*97")]

    assert phone("redeem", issued.plain) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", TOKEN_INVALID)
    assert read_state(state_file)["sipaccounts"] == [merged(voicemailNumber="*97")]


def test_flow_g_redeems_a_scanned_setup_code(org, phone, state_file):
    app = make_app(org, "FlowGG")
    issued = issue_token(make_end_user(app, "alice"))

    assert phone("scan", issued.code) == 0

    assert read_state(state_file)["sipaccounts"] == [merged()]


def test_flow_h_opens_a_desktop_link(org, phone, state_file):
    app = make_app(org, "FlowH", sip_transport="UDP")
    user = make_end_user(app, "alice", subdomain="sip.other.example")
    link = encode_desktop_local("FlowH", [sip_account(user)])
    assert link.startswith("scloc:?providerId=FlowH&sipaccounts=")

    assert phone("scan", link) == 0

    state = read_state(state_file)
    assert (state["providerId"], state["setup"]) == ("FlowH", "local")
    assert state["sipaccounts"] == [
        merged(domain="sip.other.example", port=5060, transport="UDP", subdomain="sip.other.example")
    ]


def test_flow_f_resume_of_a_local_setup_answers_unchanged(org, phone, state_file, capsys):
    app = make_app(org, "FlowF")
    assert phone("scan", local_code(make_end_user(app, "alice"))) == 0
    before = read_state(state_file)
    capsys.readouterr()

    assert phone("resume") == 0

    version = render_config(app).version
    assert capsys.readouterr().out == (
        f"Configuration unchanged (version {version}).\n"
        "SIP accounts (1):\n"
        "  1. 2001@sip.acme.example:5061 over TLS\n"
        '     display name "Alice", auth user "2001", password ********\n'
        "     proxy none, voicemail none, registration every 600 s\n"
        "     srtp Disabled, messaging Enabled, video Disabled, callrecording Disabled\n"
    )
    assert read_state(state_file) == before


def test_flow_f_resume_merges_local_accounts_again_when_the_config_changed(
    org, phone, state_file, sessioncloud_server, capsys
):
    app = make_app(org, "FlowFF")
    assert phone("scan", local_code(make_end_user(app, "alice"))) == 0
    old_version = read_state(state_file)["configVersion"]
    # Changed through the server's own API, so the server's cached config is renewed.
    _, key = ApiKey.issue(org, "phone tests")
    response = httpx2.patch(
        f"{sessioncloud_server}/api/v1/manage/apps/FlowFF",
        json={"sip": {"srtp": "Enabled", "voicemailNumber": "*97"}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    app.refresh_from_db()
    new_version = render_config(app).version
    capsys.readouterr()

    assert phone("resume") == 0

    assert capsys.readouterr().out.startswith(
        f"Configuration changed (version {old_version} -> {new_version}). "
        "The accounts from the code were merged again.\n"
    )
    state = read_state(state_file)
    assert state["sipaccounts"] == [merged(srtp="Enabled", voicemailNumber="*97")]
    assert (state["configVersion"], state["etag"]) == (new_version, f'"{new_version}"')


def test_the_server_is_remembered_for_the_next_run(org, phone, state_file, sessioncloud_server):
    app = make_app(org, "FlowSrv")
    assert phone("scan", local_code(make_end_user(app, "alice"))) == 0

    assert main(["--state", str(state_file), "resume"]) == 0
    assert read_state(state_file)["server"] == sessioncloud_server


def test_a_baresip_file_is_written_beside_the_state(org, phone, tmp_path: Path, capsys):
    app = make_app(org, "FlowBare", sip_proxy="proxy.acme.example:5081", srtp="Enabled")
    accounts = tmp_path / "accounts"

    assert phone("scan", local_code(make_end_user(app, "alice")), "--baresip", str(accounts)) == 0

    assert accounts.read_text() == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# baresip must load these modules (module lines in its config): srtp.so\n"
        '"Alice" <sip:2001@sip.acme.example;transport=tls>;auth_user=2001;auth_pass=alice-secret;'
        'outbound="sip:proxy.acme.example:5081;transport=tls;lr";regint=600;mediaenc=srtp\n'
    )
    assert stat.S_IMODE(accounts.stat().st_mode) == 0o600
    assert capsys.readouterr().out.endswith(
        f"Wrote 1 account(s) to {accounts} (baresip accounts format).\n"
        "baresip must load these modules (module lines in its config): srtp.so.\n"
    )


def test_a_setup_code_gives_baresip_the_apps_nat_and_media_settings(org, phone, tmp_path: Path, capsys):
    app = make_app(
        org,
        "FlowNat",
        srtp="Enabled",
        srtp_mode="mandatory",
        ice_enabled=True,
        turn_server="turn.acme.example:3478",
        turn_username="relay",
        turn_password="turn-s3cret",
        audio_codecs=["opus", "PCMA"],
        dtmf_mode="info",
    )
    accounts = tmp_path / "accounts"

    assert phone("redeem", issue_token(make_end_user(app, "alice")).plain, "--baresip", str(accounts)) == 0

    assert accounts.read_text() == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        "# baresip must load these modules (module lines in its config): g711.so, ice.so, opus.so, srtp.so\n"
        "# account 1: dtmfmode=info needs baresip 1.1.0 or later; 1.0.0 sends RFC 2833 events\n"
        '"Alice" <sip:2001@sip.acme.example;transport=tls>;auth_user=2001;auth_pass=alice-secret;regint=600;'
        "mediaenc=srtp-mand;medianat=ice;stunserver=turn:turn.acme.example:3478;stunuser=relay;"
        "stunpass=turn-s3cret;audio_codecs=opus/48000/2,PCMA;dtmfmode=info\n"
    )
    assert capsys.readouterr().out.endswith(
        "baresip must load these modules (module lines in its config): g711.so, ice.so, opus.so, srtp.so.\n"
    )
