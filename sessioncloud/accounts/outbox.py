"""Where e-mails go when no mail server is configured: files in the data directory, never the log.

Password resets, sign-up confirmations and invitations carry secret links. The console backend
would print them where logs are collected; this keeps each message as a file only the service's
user can read, and logs one line saying where (never what) it wrote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend

log = logging.getLogger("sessioncloud.mail")


class OutboxBackend(EmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = super().send_messages(email_messages)
        if sent:
            log.warning(
                "e-mail kept in the outbox, not sent: no mail server is configured (EMAIL_URL)",
                extra={"file": self._get_filename(), "messages": sent},
            )
        return sent

    def open(self) -> bool:
        if self.stream is not None:
            return False
        # Created readable by the service's user only, from the first byte.
        descriptor = os.open(self._get_filename(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.stream = os.fdopen(descriptor, "ab")
        return True
