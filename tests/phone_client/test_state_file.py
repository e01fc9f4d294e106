"""The phone's state file: created on first use, private, atomic, and checked when read."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sessioncloud.phone.cli import main
from sessioncloud.phone.state import (
    Credentials,
    PhoneState,
    StateError,
    StateStore,
    default_state_path,
    state_to_json,
)
from tests.phone_client.acme import acme_account, acme_config

CONFIG = acme_config(
    "external",
    kind="whitelabel",
    branding={"themeColor": "#0A7CFF"},
    login={
        "mode": "external",
        "fields": "username_password",
        "usernamePlaceholder": None,
        "passwordPlaceholder": None,
    },
)
ACCOUNT = acme_account("1000", "s3cret", "Demo 1000")


def full_state() -> PhoneState:
    state = PhoneState(device_id="a1b2c3d4e5f6a1b2c3d4e5f6", server="http://127.0.0.1:8000")
    state.start_setup("external", "AcmeInc", CONFIG, '"v1"')
    state.sipaccounts = [ACCOUNT]
    state.credentials = Credentials("1000", "1234", "AcmeInc")
    return state


def test_a_missing_file_gives_a_fresh_state_with_a_random_device_id(tmp_path):
    store = StateStore(tmp_path / "phone.json")

    first, second = store.load(), store.load()

    assert len(first.device_id) == 24 and int(first.device_id, 16) >= 0
    assert first.device_id != second.device_id
    assert (first.provider_id, first.setup, first.sipaccounts) == (None, None, [])
    assert not store.exists()


def test_saving_writes_every_field_readable_by_the_owner_only(tmp_path):
    path = tmp_path / "phone.json"

    StateStore(path).save(full_state())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "format": 1,
        "deviceId": "a1b2c3d4e5f6a1b2c3d4e5f6",
        "server": "http://127.0.0.1:8000",
        "providerId": "AcmeInc",
        "setup": "external",
        "configVersion": "v1",
        "etag": '"v1"',
        "config": CONFIG,
        "localAccounts": [],
        "sipaccounts": [ACCOUNT],
        "xmppaccounts": [],
        "provisioning": {"username": "1000", "password": "1234", "providerId": "AcmeInc"},
    }


def test_a_saved_state_loads_back_unchanged(tmp_path):
    store = StateStore(tmp_path / "phone.json")
    store.save(full_state())

    loaded = store.load()

    assert loaded == full_state()
    assert loaded.whitelabel is True
    assert loaded.config_version == "v1"


def test_saving_replaces_a_readable_file_with_a_private_one_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "phone.json"
    path.write_text("{}")
    os.chmod(path, 0o644)

    StateStore(path).save(full_state())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phone.json"]


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "phone.json"
    store = StateStore(path)
    store.save(full_state())
    before = path.read_text()

    def broken_replace(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StateError) as caught:
        store.save(PhoneState(device_id="other"))

    assert str(caught.value) == f"cannot write the state file {path}: No space left on device"
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phone.json"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ("[]", "expected a JSON object"),
        ('{"format": 2, "deviceId": "x"}', "unknown format 2"),
        ('{"format": 1}', "deviceId is missing"),
        ('{"format": 1, "deviceId": "x", "setup": "magic"}', "unknown setup 'magic'"),
        ('{"format": 1, "deviceId": "x", "sipaccounts": {}}', "sipaccounts must be a list of objects"),
        (
            '{"format": 1, "deviceId": "x", "provisioning": {"username": "u"}}',
            "provisioning needs username and password",
        ),
    ],
)
def test_a_damaged_file_is_a_clear_error(tmp_path, content, reason):
    path = tmp_path / "phone.json"
    path.write_text(content)

    with pytest.raises(StateError) as caught:
        StateStore(path).load()

    assert str(caught.value) == f"the state file {path} is not valid ({reason}); delete it to start over"


def test_an_account_of_the_wrong_shape_is_refused_when_loading(tmp_path):
    data = state_to_json(full_state())
    data["sipaccounts"][0]["port"] = "5061"
    path = tmp_path / "phone.json"
    path.write_text(json.dumps(data))

    with pytest.raises(StateError) as caught:
        StateStore(path).load()

    assert "sipaccounts: The server's account is not valid: port: Input should be a valid integer" in str(
        caught.value
    )


def test_the_command_reports_a_damaged_file_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "phone.json"
    path.write_text("{")

    assert main(["--state", str(path), "accounts"]) == 1

    assert capsys.readouterr().err == (
        f"error: the state file {path} is not valid (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)); delete it to start over\n"
    )


def test_the_default_path_comes_from_the_environment_or_the_home_directory(monkeypatch):
    monkeypatch.setenv("SESSIONCLOUD_PHONE_STATE", "~/phones/desk.json")
    assert default_state_path() == Path.home() / "phones" / "desk.json"

    monkeypatch.delenv("SESSIONCLOUD_PHONE_STATE")
    assert default_state_path() == Path.home() / ".sessioncloud-phone.json"
