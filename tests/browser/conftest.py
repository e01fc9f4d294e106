"""A real browser (Debian's Chromium, driven by Playwright) against a live portal server.

The server runs in this process (pytest-django's live_server), so the tests read the e-mails it
sends from django.core.mail.outbox and change its settings with the settings fixture. Playwright
downloads no browser: it launches the system Chromium that `make test` installs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from tests.providerstub import ProviderStub, start_stub, stop_stub

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API keeps an event loop running on this thread, which Django
    # would take for async code and refuse its ORM; the tests' own database reads are plain
    # synchronous calls. Module scope: the loop ends with these tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def provider(settings: Any) -> Iterator[ProviderStub]:
    """A provider's provisioning service on loopback, which this server may call over HTTP."""
    settings.OUTBOUND_ALLOW_NETS = (ip_network("127.0.0.0/8"),)
    settings.OUTBOUND_ALLOW_HTTP = True
    stub = start_stub()
    yield stub
    stop_stub(stub)


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(autouse=True)
def public_url_is_the_live_server(settings: Any, live_server: Any) -> None:
    """Links in e-mails use the public address: here, the live server the browser talks to."""
    settings.PUBLIC_URL = live_server.url
