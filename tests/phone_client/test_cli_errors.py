"""`sessioncloud phone` without a live server: bad input, unreachable or hostile servers, and
the offline commands. Every failure is one `error:` line and a status, never a traceback."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from sessioncloud.phone import cli
from sessioncloud.phone.client import PhoneApi
from sessioncloud.phone.state import PhoneState, StateStore
from tests.livesrv import free_port
from tests.phone_client.acme import acme_account, acme_config

ACCOUNT = acme_account("2001", "secret", "Alice")
CONFIG = acme_config("portal")


def phone(state: Path, *args: str, server: str = "http://127.0.0.1:9") -> int:
    return cli.main(["--server", server, "--state", str(state), *args])


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "phone.json"


@pytest.fixture
def saved_accounts(state_file: Path) -> Path:
    state = PhoneState(device_id="d" * 24)
    state.start_setup("token", "AcmeInc", CONFIG, '"v1"')
    state.sipaccounts = [ACCOUNT]
    StateStore(state_file).save(state)
    return state_file


def fake_server(monkeypatch: pytest.MonkeyPatch, status: int, body: Any) -> None:
    """Every PhoneApi the command makes talks to a server answering `body`."""
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, json=body))
    monkeypatch.setattr(cli, "PhoneApi", lambda url: PhoneApi(url, transport=transport))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("hello", "the code does not start with scloc: or scsc:"),
        (
            "scloc:AcmeInc|{",
            "the account JSON is not valid: Expecting property name enclosed in "
            "double quotes at character 16",
        ),
        ("scsc:1000", "the scsc: code has no password; expected scsc:<username>:<password>[:<ProviderId>]"),
    ],
)
def test_a_bad_code_prints_what_is_wrong_and_exits_2(state_file, capsys, code, message):
    assert phone(state_file, "scan", code) == 2

    assert capsys.readouterr().err == f"error: {message}\n"
    assert not state_file.exists()


def test_an_image_without_a_qr_code_exits_2(state_file, tmp_path, capsys):
    image = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(image)

    assert phone(state_file, "scan", str(image)) == 2

    assert capsys.readouterr().err == "error: no QR code was found in the image\n"


def test_a_missing_image_is_named(state_file, capsys):
    assert phone(state_file, "scan", "missing.png") == 2

    assert capsys.readouterr().err == "error: no such image file: missing.png\n"


def test_code_text_longer_than_a_file_name_is_still_parsed_as_a_code(state_file, capsys):
    assert phone(state_file, "scan", "scloc:" + "x" * 5000) == 2

    assert capsys.readouterr().err == "error: the code is longer than 4096 bytes (UTF-8)\n"


def test_a_code_can_come_from_stdin(state_file, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("scsc:1000\n"))

    assert phone(state_file, "scan", "-") == 2

    assert capsys.readouterr().err.startswith("error: the scsc: code has no password")


def test_a_code_for_another_provider_is_refused(state_file, capsys):
    assert phone(state_file, "scan", "scsc:1000:1234:OtherInc", "--provider-id", "AcmeInc") == 2

    assert capsys.readouterr().err == "error: this code is for ProviderId OtherInc, not AcmeInc\n"


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        (
            "short",
            "the setup token is not valid: it must be 16 to 128 characters of A-Z, a-z, 0-9, '-' and '_'",
        ),
        ("scsc:1000:1234:AcmeInc", "this code holds no setup token; use `scan` for it"),
    ],
)
def test_redeem_checks_the_token_before_calling(state_file, capsys, argument, message):
    assert phone(state_file, "redeem", argument) == 2

    assert capsys.readouterr().err == f"error: {message}\n"


def test_config_checks_the_provider_id_before_calling(state_file, capsys):
    assert phone(state_file, "config", "1bad") == 2

    assert capsys.readouterr().err == (
        "error: the ProviderId '1bad' is not valid: it must be 3 "
        "to 32 ASCII letters and digits, starting with a letter\n"
    )


def test_login_needs_a_provider_id_on_a_fresh_phone(state_file, capsys):
    assert phone(state_file, "login", "1000", "1234") == 2

    assert capsys.readouterr().err == (
        "error: type the username as USERNAME:PROVIDER_ID, or give --provider-id\n"
    )


def test_resume_needs_a_setup_first(state_file, capsys):
    assert phone(state_file, "resume") == 2

    assert capsys.readouterr().err == (
        "error: nothing to resume: set the phone up first with config, scan, login or redeem\n"
    )


def test_an_unreachable_server_is_reported_and_the_device_id_kept(state_file, capsys):
    port = free_port()

    assert phone(state_file, "config", "AcmeInc", server=f"http://127.0.0.1:{port}") == 1

    assert capsys.readouterr().err == (
        f"error: cannot reach the server at http://127.0.0.1:{port}: connection refused\n"
    )
    first = json.loads(state_file.read_text())["deviceId"]
    assert phone(state_file, "config", "AcmeInc", server=f"http://127.0.0.1:{port}") == 1
    assert json.loads(state_file.read_text())["deviceId"] == first


def test_a_bad_server_url_exits_2(state_file, capsys):
    assert phone(state_file, "config", "AcmeInc", server="sc.example") == 2

    assert capsys.readouterr().err == (
        "error: the server URL 'sc.example' must start with http:// or https:// and name a host\n"
    )


def test_usage_errors_and_help_give_a_status(state_file, capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
    assert cli.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: sessioncloud phone")


def test_control_characters_from_the_server_never_reach_the_terminal(state_file, monkeypatch, capsys):
    fake_server(monkeypatch, 404, {"error": {"code": "x\x1b[2J", "message": "gone\n\x1b]0;pwned\x07"}})

    assert phone(state_file, "config", "AcmeInc") == 1

    assert capsys.readouterr().err == "error: x\\x1b[2J: gone\\x0a\\x1b]0;pwned\\x07\n"


def test_a_refused_setup_code_prints_the_reason(state_file, monkeypatch, capsys):
    fake_server(
        monkeypatch,
        200,
        {
            "update": True,
            "errmsg": "This device was deactivated by your provider.",
            "configVersion": "v1",
            "sipaccounts": [],
            "xmppaccounts": [],
            "providerId": "AcmeInc",
            "config": CONFIG,
        },
    )

    assert phone(state_file, "redeem", "q1W2e3R4t5Y6u7I8o9P0-_") == 1

    assert capsys.readouterr().err == (
        "error: the setup code gave this phone no accounts: This device was deactivated by your provider.\n"
    )


def test_an_account_baresip_cannot_carry_stops_the_export_but_not_the_setup(
    state_file, tmp_path, monkeypatch, capsys
):
    hostile = {**ACCOUNT, "sippassword": "pw;mediaenc=zrtp"}
    fake_server(
        monkeypatch,
        200,
        {
            "update": True,
            "errmsg": "",
            "configVersion": "v1",
            "sipaccounts": [hostile],
            "xmppaccounts": [],
            "providerId": "AcmeInc",
            "config": CONFIG,
        },
    )
    accounts = tmp_path / "accounts"

    assert phone(state_file, "redeem", "q1W2e3R4t5Y6u7I8o9P0-_", "--baresip", str(accounts)) == 1

    assert capsys.readouterr().err == (
        "error: cannot write the accounts for baresip: account 1: the password holds a character "
        'that a baresip accounts line cannot carry (; " \\ or a control character)\n'
    )
    assert not accounts.exists()
    assert json.loads(state_file.read_text())["sipaccounts"] == [hostile]


def test_accounts_prints_nothing_stored_without_creating_a_file(state_file, capsys):
    assert phone(state_file, "accounts") == 0

    assert capsys.readouterr().out == "SIP accounts: none\n"
    assert not state_file.exists()


def test_accounts_prints_json_with_passwords_masked(saved_accounts, capsys):
    assert phone(saved_accounts, "accounts", "--format", "json") == 0

    assert json.loads(capsys.readouterr().out) == {
        "providerId": "AcmeInc",
        "sipaccounts": [{**ACCOUNT, "sippassword": "********"}],
        "xmppaccounts": [],
    }


def test_accounts_prints_json_with_the_turn_password_masked_too(state_file, capsys):
    state = PhoneState(device_id="d" * 24)
    state.start_setup("token", "AcmeInc", CONFIG, '"v1"')
    state.sipaccounts = [
        {**ACCOUNT, "turnServer": "turn.acme.example", "turnUsername": "relay", "turnPassword": "turn-s3cret"}
    ]
    StateStore(state_file).save(state)

    assert phone(state_file, "accounts", "--format", "json") == 0

    [account] = json.loads(capsys.readouterr().out)["sipaccounts"]
    assert (account["sippassword"], account["turnUsername"], account["turnPassword"]) == (
        "********",
        "relay",
        "********",
    )


def test_accounts_prints_baresip_lines_with_passwords_only_when_asked(saved_accounts, capsys):
    assert phone(saved_accounts, "accounts", "--format", "baresip") == 0
    assert capsys.readouterr().out == (
        '"Alice" <sip:2001@sip.acme.example;transport=tls>;auth_user=2001;auth_pass=********;regint=600\n'
    )

    assert phone(saved_accounts, "accounts", "--format", "baresip", "--show-passwords") == 0
    assert capsys.readouterr().out == (
        '"Alice" <sip:2001@sip.acme.example;transport=tls>;auth_user=2001;auth_pass=secret;regint=600\n'
    )


def test_export_writes_a_private_baresip_file(saved_accounts, tmp_path, capsys):
    target = tmp_path / "baresip" / "accounts"
    target.parent.mkdir()

    assert phone(saved_accounts, "export", str(target)) == 0

    assert target.read_text() == (
        "# SIP accounts written by `sessioncloud phone`; one account per line.\n"
        '"Alice" <sip:2001@sip.acme.example;transport=tls>;auth_user=2001;auth_pass=secret;'
        "regint=600\n"
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert capsys.readouterr().out == f"Wrote 1 account(s) to {target} (baresip accounts format).\n"


def test_export_into_a_missing_directory_is_a_clear_error(saved_accounts, tmp_path, capsys):
    target = tmp_path / "nowhere" / "accounts"

    assert phone(saved_accounts, "export", str(target)) == 1

    assert capsys.readouterr().err == f"error: cannot write {target}: No such file or directory\n"
