"""Bulk onboarding fixtures: jobs run in the test's own transaction, a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from sessioncloud.onboarding.queue import huey
from tests.livesrv import free_port


@pytest.fixture(autouse=True)
def jobs_run_at_once() -> Iterator[None]:
    """Queued jobs run inside the call that queues them (tests of the runner itself turn this off)."""
    huey.immediate = True
    yield
    huey.immediate = False


@pytest.fixture
def real_queue(jobs_run_at_once: None) -> Iterator[None]:
    """The configured queue itself (SQLite file or Redis), empty before and after the test."""
    huey.immediate = False
    huey.flush()
    yield
    huey.flush()


@dataclass
class Inbox:
    """What a loopback SMTP server received; addresses in `refuse` get 550 at RCPT, messages to
    addresses in `reject` get 554 after DATA."""

    refuse: set[str] = field(default_factory=set)
    reject: set[str] = field(default_factory=set)
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject & set(envelope.rcpt_tos):
            return "554 5.6.0 Message rejected as spam"
        self.recipients.extend(envelope.rcpt_tos)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(settings: Any, smtp_port: int) -> Iterator[Inbox]:
    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    use_smtp(settings, smtp_port)
    yield received
    controller.stop()


def use_smtp(settings: Any, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "SessionCloud <noreply@sessioncloud.example>"
