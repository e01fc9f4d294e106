"""Logging helpers: a last line of defence that keeps secrets out of log lines.

Code never logs secrets on purpose; this filter masks anything that looks like one anyway, so a
mistake in a log call does not leak a SIP password into an operator's log store.
"""

from __future__ import annotations

import logging
import re

_SECRET_NAMES = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "auth_header",
    "api_key",
    "apikey",
    "signature",
)
_INLINE_SECRET = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|authorization|api_key|signature)(=|:\s*|\"\s*:\s*\")([^&\s\"',]+)"
)
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def mask_inline_secrets(text: str) -> str:
    return _INLINE_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAMES)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_inline_secrets(record.msg)
        if record.args:
            record.args = tuple(
                mask_inline_secrets(arg) if isinstance(arg, str) else arg
                for arg in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        for name in list(vars(record)):
            if name not in _STANDARD_ATTRS and is_secret_name(name):
                setattr(record, name, "***")
        return True
