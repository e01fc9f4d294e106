"""Typed readers for configuration from the environment.

Every secret can come from `NAME` or from a file named by `NAME_FILE` (as container secrets are
mounted). The zero-config default generates missing secrets once and keeps them in the data
directory; production mode refuses to start without them instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


class ConfigError(RuntimeError):
    """A configuration problem an operator must fix before the service can start."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def read_secret(name: str) -> str | None:
    """The secret from `NAME`, else from the file `NAME_FILE` names, else None."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "").strip()
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise ConfigError(f"{name}_FILE names {path}, which cannot be read: {error.strerror}.") from None


def secret_or_generated(name: str, data_dir: Path, production: bool, generate: Callable[[], str]) -> str:
    """A secret from the environment; in the zero-config default, one kept in the data directory."""
    value = read_secret(name)
    if value:
        return value
    if production:
        raise ConfigError(
            f"{name} is not set. In production mode every secret must be given (set {name} or {name}_FILE)."
        )
    return _kept_secret(data_dir / "secrets" / name.lower(), generate)


def _kept_secret(path: Path, generate: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = generate()
    # O_EXCL: when two processes start together, one writes and the other reads its value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def random_secret_key() -> str:
    return secrets.token_urlsafe(50)
