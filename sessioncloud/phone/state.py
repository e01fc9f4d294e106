"""What the phone remembers between runs, in one small JSON file.

The file may hold SIP passwords and provisioning credentials, so it is only ever readable by
its owner (0600) and replaced atomically: a crash mid-write leaves the old file, not half of
a new one.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessioncloud.phone.client import PhoneApiError, check_account, check_config

FORMAT = 1
# How the stored accounts came to be; it decides what `resume` does (docs/phone-api.md, flow F).
SETUPS = ("config", "local", "external", "token")
FILE_MODE = 0o600


class StateError(Exception):
    """The state file cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class Credentials:
    """Provisioning credentials, kept only so `resume` can re-provision (flows D and E)."""

    username: str
    password: str
    provider_id: str | None  # None: sent as `username:ProviderId` in one field


@dataclass
class PhoneState:
    device_id: str
    server: str | None = None
    provider_id: str | None = None
    setup: str | None = None
    config: dict[str, Any] | None = None
    etag: str | None = None
    # The accounts a QR code carried, before merging: re-merged when the config changes.
    local_accounts: list[dict[str, Any]] = field(default_factory=list)
    sipaccounts: list[dict[str, Any]] = field(default_factory=list)
    xmppaccounts: list[dict[str, Any]] = field(default_factory=list)
    credentials: Credentials | None = None

    @property
    def config_version(self) -> str | None:
        return self.config["version"] if self.config else None

    @property
    def whitelabel(self) -> bool:
        """A whitelabel app has its ProviderId built in, so codes and logins may omit it."""
        return bool(self.provider_id and self.config and self.config["kind"] == "whitelabel")

    def start_setup(self, setup: str, provider_id: str, config: dict[str, Any], etag: str | None) -> None:
        """Forget the previous setup (accounts, credentials), keeping the device identity."""
        self.setup, self.provider_id = setup, provider_id
        self.set_config(config, etag)
        self.local_accounts, self.sipaccounts, self.xmppaccounts = [], [], []
        self.credentials = None

    def set_config(self, config: dict[str, Any], etag: str | None) -> None:
        self.config, self.etag = config, etag

    def clear_accounts(self) -> None:
        self.local_accounts, self.sipaccounts, self.xmppaccounts = [], [], []
        self.credentials = None


def new_device_id() -> str:
    # 96 random bits: unique per installation without saying anything about the machine.
    return secrets.token_hex(12)


def default_state_path() -> Path:
    configured = os.environ.get("SESSIONCLOUD_PHONE_STATE")
    return Path(configured).expanduser() if configured else Path.home() / ".sessioncloud-phone.json"


class StateStore:
    def __init__(self, path: Path):
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> PhoneState:
        """The saved state, or a fresh one with a new deviceId when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return PhoneState(device_id=new_device_id())
        except (OSError, UnicodeDecodeError) as error:
            raise StateError(f"cannot read the state file {self.path}: {_reason(error)}") from None
        try:
            return state_from_json(json.loads(text))
        except (ValueError, TypeError, KeyError) as error:
            raise StateError(
                f"the state file {self.path} is not valid ({error}); delete it to start over"
            ) from None

    def save(self, state: PhoneState) -> None:
        data = json.dumps(state_to_json(state), indent=2, ensure_ascii=False) + "\n"
        try:
            write_private_file(self.path, data)
        except OSError as error:
            raise StateError(f"cannot write the state file {self.path}: {_reason(error)}") from None


def write_private_file(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only."""
    directory = path.parent if str(path.parent) else Path(".")
    # mkstemp creates the file 0600 before anything is written into it, so the secret is
    # never readable by others, not even for a moment.
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def state_to_json(state: PhoneState) -> dict[str, Any]:
    credentials = None
    if state.credentials is not None:
        credentials = {
            "username": state.credentials.username,
            "password": state.credentials.password,
            "providerId": state.credentials.provider_id,
        }
    return {
        "format": FORMAT,
        "deviceId": state.device_id,
        "server": state.server,
        "providerId": state.provider_id,
        "setup": state.setup,
        "configVersion": state.config_version,
        "etag": state.etag,
        "config": state.config,
        "localAccounts": state.local_accounts,
        "sipaccounts": state.sipaccounts,
        "xmppaccounts": state.xmppaccounts,
        "provisioning": credentials,
    }


def state_from_json(data: Any) -> PhoneState:
    """Rebuild the state, checking every field: a hand-edited file must not crash a command."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown format {data.get('format')!r}")
    device_id = _text(data, "deviceId")
    if not device_id:
        raise ValueError("deviceId is missing")
    setup = _text(data, "setup")
    if setup is not None and setup not in SETUPS:
        raise ValueError(f"unknown setup {setup!r}")
    return PhoneState(
        device_id=device_id,
        server=_text(data, "server"),
        provider_id=_text(data, "providerId"),
        setup=setup,
        config=_config(data.get("config")),
        etag=_text(data, "etag"),
        local_accounts=_objects(data, "localAccounts"),
        sipaccounts=[_account(item) for item in _objects(data, "sipaccounts")],
        xmppaccounts=_objects(data, "xmppaccounts"),
        credentials=_credentials(data.get("provisioning")),
    )


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be text")
    return value


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{key} must be a list of objects")
    return value


def _config(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return check_config(value)
    except PhoneApiError as error:
        raise ValueError(f"config: {error.message}") from None


def _account(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_account(value)
    except PhoneApiError as error:
        raise ValueError(f"sipaccounts: {error.message}") from None


def _credentials(value: Any) -> Credentials | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("provisioning must be an object")
    username, password = _text(value, "username"), _text(value, "password")
    if username is None or password is None:
        raise ValueError("provisioning needs username and password")
    return Credentials(username, password, _text(value, "providerId"))


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
