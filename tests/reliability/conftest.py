"""Fixtures of the reliability suite, and the figures it prints at the end of a run."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.conf import settings as django_settings

from tests.reliability import figures


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    """Let this process call provider stubs on loopback over plain HTTP (never the default)."""
    settings.OUTBOUND_ALLOW_NETS = (ipaddress.ip_network("127.0.0.0/8"),)
    settings.OUTBOUND_ALLOW_HTTP = True


def database_name() -> str:
    engine = django_settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    path = django_settings.DATA_DIR / "reliability-figures.json"
    recorded = figures.write(path, database_name())
    if not recorded:
        return
    terminalreporter.section(f"reliability figures ({database_name()})")
    for part, entry in recorded.items():
        extra = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("tried", "passed"))
        line = f"{part}: {entry['passed']}/{entry['tried']} passed"
        terminalreporter.write_line(f"{line} ({extra})" if extra else line)
    terminalreporter.write_line(f"written to {path}")
