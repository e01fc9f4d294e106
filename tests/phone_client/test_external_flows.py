"""Flows D, E and F (external provisioning), end to end: phone client, real server, and the
example provider service of examples/ checking SessionCloud's signature."""

from __future__ import annotations

import io

import httpx2
import pytest

from sessioncloud.accounts.models import ApiKey
from sessioncloud.providers.config import render_config
from sessioncloud.providers.models import Device, DeviceStatus, ProvisioningLogEntry
from sessioncloud.providers.tokens import issue_token
from tests.factories import MEDIA_DEFAULTS, make_app, make_end_user
from tests.phone_client.conftest import read_state

pytestmark = pytest.mark.django_db(transaction=True)


def demo_account(username: str = "1000", **values: object) -> dict[str, object]:
    """What the example service's user gets once merged with make_app's SIP profile."""
    account: dict[str, object] = {
        "sipusername": username,
        "sippassword": f"demo-sip-secret-{username}",
        "authusername": username,
        "displayname": f"Demo {username}",
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


def test_flow_d_login_with_username_and_provider_id_gives_merged_accounts(
    external_app, phone, state_file, capsys
):
    app = external_app("FlowD", voicemail_number="*97")

    assert phone("login", "1000:FlowD", "1234") == 0

    version = render_config(app).version
    assert capsys.readouterr().out == (
        "Logged in: the provider sent these accounts.\n"
        "Provider: Acme Telecom (FlowD, generic)\n"
        "SIP server: sip.acme.example port 5061 over TLS\n"
        "Login: external (username_password)\n"
        f"Config version: {version}\n"
        "SIP accounts (1):\n"
        "  1. 1000@sip.acme.example:5061 over TLS\n"
        '     display name "Demo 1000", auth user "1000", password ********\n'
        "     proxy none, voicemail *97, registration every 600 s\n"
        "     srtp Disabled, messaging Enabled, video Disabled, callrecording Disabled\n"
    )
    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account(voicemailNumber="*97")]
    assert (state["providerId"], state["setup"], state["configVersion"]) == ("FlowD", "external", version)
    # Sent as typed, in one field, so `resume` sends it the same way.
    assert state["provisioning"] == {"username": "1000:FlowD", "password": "1234", "providerId": None}
    device = Device.objects.get(app=app)
    assert (device.device_id, device.username, device.platform) == (state["deviceId"], "1000", "cli")


def test_flow_d_shows_passwords_when_asked(external_app, phone, capsys):
    external_app("FlowDP")

    assert phone("login", "1001:FlowDP", "1234", "--show-passwords") == 0

    assert (
        '     display name "Demo 1001", auth user "1001", password "demo-sip-secret-1001"\n'
        in capsys.readouterr().out
    )


def test_flow_d_reads_the_password_from_stdin(external_app, phone, state_file, monkeypatch):
    external_app("FlowDIn")
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))

    assert phone("login", "1000:FlowDIn", "-") == 0

    assert read_state(state_file)["provisioning"]["password"] == "1234"


def test_flow_d_prints_the_providers_message_for_a_wrong_password(external_app, phone, state_file, capsys):
    app = external_app("FlowDW")

    assert phone("login", "1000:FlowDW", "wrong") == 1

    captured = capsys.readouterr()
    assert captured.err == "error: the provider refused the login: Wrong username or password.\n"
    assert captured.out == ""
    state = read_state(state_file)
    assert (state["sipaccounts"], state["provisioning"], state["setup"]) == ([], None, None)
    assert ProvisioningLogEntry.objects.get(app=app).outcome == "rejected"


def test_flow_d_whitelabel_login_sends_the_built_in_provider_id(external_app, phone, state_file, capsys):
    external_app("FlowDWL", kind="whitelabel")
    assert phone("config", "FlowDWL") == 0
    assert capsys.readouterr().out.endswith(
        "Login: external (username_password)\n"
        f"Config version: {read_state(state_file)['configVersion']}\n"
        "No accounts yet: log in with your provisioning credentials "
        "(sessioncloud phone login USERNAME PASSWORD).\n"
    )

    assert phone("login", "1001", "1234") == 0

    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account("1001")]
    assert state["provisioning"] == {"username": "1001", "password": "1234", "providerId": "FlowDWL"}


def test_flow_d_refuses_a_portal_mode_provider(org, phone, capsys):
    make_app(org, "FlowDPortal")

    assert phone("login", "1000:FlowDPortal", "1234") == 1

    assert capsys.readouterr().err == (
        "error: external_provisioning_disabled: This provider does not use login credentials. "
        "Scan your QR code or enter your SIP account.\n"
    )


def test_flow_e_scans_an_external_code(external_app, phone, state_file, capsys):
    external_app("FlowE")

    assert phone("scan", "scsc:1000:1234:FlowE") == 0

    assert capsys.readouterr().out.startswith("Logged in: the provider sent these accounts.\n")
    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account()]
    assert state["provisioning"] == {"username": "1000", "password": "1234", "providerId": "FlowE"}


def test_flow_e_scans_a_whitelabel_code_with_the_built_in_provider_id(external_app, phone, state_file):
    external_app("FlowEWL", kind="whitelabel")

    assert phone("scan", "scsc:1001:1234", "--provider-id", "FlowEWL") == 0

    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account("1001")]
    assert state["provisioning"] == {"username": "1001", "password": "1234", "providerId": "FlowEWL"}


def test_flow_e_scans_a_desktop_activation_link(external_app, phone, state_file):
    external_app("FlowEDesk")

    assert phone("scan", "scsc:?username=1001:FlowEDesk&password=1234") == 0

    assert read_state(state_file)["sipaccounts"] == [demo_account("1001")]


def test_flow_e_scans_a_windows_activation_link_whose_separator_is_percent_26(
    external_app, phone, state_file
):
    external_app("FlowEWin")

    assert phone("scan", "scsc:?username=1001:FlowEWin%26password=1234") == 0

    assert read_state(state_file)["sipaccounts"] == [demo_account("1001")]


def test_flow_e_scans_a_whitelabel_code_with_an_empty_provider_id(external_app, phone, state_file):
    external_app("FlowEWLE", kind="whitelabel")

    assert phone("scan", "scsc:1001:1234:", "--provider-id", "FlowEWLE") == 0

    assert read_state(state_file)["provisioning"] == {
        "username": "1001",
        "password": "1234",
        "providerId": "FlowEWLE",
    }


def test_flow_f_resume_keeps_accounts_when_nothing_changed(external_app, phone, state_file, capsys):
    external_app("FlowFE")
    assert phone("scan", "scsc:1000:1234:FlowFE") == 0
    before = read_state(state_file)
    capsys.readouterr()

    assert phone("resume") == 0

    assert capsys.readouterr().out.startswith(
        "No changes: the phone keeps its accounts.\nProvider: Acme Telecom (FlowFE, generic)\n"
    )
    assert read_state(state_file) == before


def test_flow_f_resume_takes_new_accounts_and_the_new_config(
    org, external_app, phone, state_file, sessioncloud_server, capsys
):
    app = external_app("FlowFN")
    assert phone("login", "1000:FlowFN", "1234") == 0
    # Changed through the server's own API, so the server's cached config is renewed.
    _, key = ApiKey.issue(org, "phone tests")
    response = httpx2.patch(
        f"{sessioncloud_server}/api/v1/manage/apps/FlowFN",
        json={"sip": {"transport": "UDP", "proxy": "proxy.acme.example"}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    app.refresh_from_db()
    version = render_config(app).version
    capsys.readouterr()

    assert phone("resume") == 0

    assert capsys.readouterr().out.startswith(
        f"The provider sent new accounts. Configuration updated to version {version}.\n"
    )
    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account(transport="UDP", port=5060, proxy="proxy.acme.example")]
    assert (state["configVersion"], state["config"]) == (version, render_config(app).document())


def test_flow_f_resume_after_deactivation_clears_the_accounts(
    external_app, phone, state_file, tmp_path, capsys
):
    app = external_app("FlowFD")
    assert phone("login", "1000:FlowFD", "1234") == 0
    Device.objects.filter(app=app).update(status=DeviceStatus.DEACTIVATED)
    accounts = tmp_path / "accounts"
    capsys.readouterr()

    assert phone("resume", "--baresip", str(accounts)) == 0

    assert capsys.readouterr().out == (
        "The provider removed this phone's accounts.\n"
        "Message from the provider: This device was deactivated by your provider.\n"
        "SIP accounts: none\n"
        f"Wrote 0 account(s) to {accounts} (baresip accounts format).\n"
    )
    state = read_state(state_file)
    assert (state["sipaccounts"], state["provisioning"]) == ([], None)
    assert accounts.read_text() == ("# SIP accounts written by `sessioncloud phone`; one account per line.\n")

    assert phone("resume") == 2
    assert capsys.readouterr().err == (
        "error: no provisioning login is stored (the provider removed this phone's accounts): log in again\n"
    )


def test_flow_g_redeems_a_token_wrapping_provisioning_credentials(external_app, phone, state_file):
    app = external_app("FlowGE")
    user = make_end_user(
        app,
        "bob",
        sip_username="",
        sip_password="",
        provisioning_username="1001",
        provisioning_password="1234",
    )

    assert phone("redeem", issue_token(user).plain) == 0

    state = read_state(state_file)
    assert state["sipaccounts"] == [demo_account("1001")]
    # The token stood for the credentials: the phone never learns them.
    assert (state["setup"], state["provisioning"]) == ("token", None)
