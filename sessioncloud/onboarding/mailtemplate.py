"""The setup e-mail a provider writes: plain text with a few {{ placeholders }}, nothing more.

Framework-free and deliberately not a template engine: a provider's text can name the values
below and nothing else, so it can neither run template tags nor reach other data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDERS = {
    "name": "the end user's display name (else their external id)",
    "link": "the end user's setup page (https://<host>/setup/...): it names the app to install and "
            "sets it up; opening it uses nothing up",
    "provider": "the App's name",
    "expires": "when the setup link stops working (UTC)",
    "app": "the app to install (Linphone, or the App's Sessiontalk app)",
}
DEFAULT_SUBJECT = "Set up {{ provider }} on your phone"
DEFAULT_BODY = """Hello {{ name }},

your {{ provider }} phone line is ready. Open this page on your phone: it tells you to install
{{ app }} and sets it up with your account. On a computer, scan the attached QR code with your
phone's camera instead.

{{ link }}

The setup works once and stops working on {{ expires }}. Please do not forward this e-mail.
"""
MAX_SENDER_NAME = 100
MAX_SUBJECT = 200
MAX_BODY = 5000

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
_TAG = re.compile(r"\{%|\{#")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_KNOWN = ", ".join("{{ " + name + " }}" for name in PLACEHOLDERS)


def template_errors(sender_name: str, subject: str, body: str) -> dict[str, str]:
    """Every problem of a provider's e-mail settings, by field name (senderName, subject, body)."""
    errors: dict[str, str] = {}
    if len(sender_name) > MAX_SENDER_NAME:
        errors["senderName"] = f"Use at most {MAX_SENDER_NAME} characters."
    elif _CONTROL.search(sender_name):
        errors["senderName"] = "Must not contain line breaks or control characters."
    for field, text, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_BODY)):
        problem = _text_error(text, limit, single_line=field == "subject")
        if problem:
            errors[field] = problem
    return errors


def _text_error(text: str, limit: int, *, single_line: bool) -> str | None:
    if not text.strip():
        return "This field is required."
    if len(text) > limit:
        return f"Use at most {limit} characters."
    if (_CONTROL if single_line else _BODY_CONTROL).search(text):
        return "Must not contain line breaks or control characters." if single_line else \
            "Must not contain control characters."
    if _TAG.search(text):
        return f"Template tags and comments are not supported; use only the placeholders {_KNOWN}."
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in PLACEHOLDERS:
            return f"Unknown placeholder {match.group(0)}; use {_KNOWN}."
    return None


def render(text: str, values: Mapping[str, str]) -> str:
    """Put the values in; the text must have passed template_errors."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def one_line(text: str) -> str:
    """A rendered subject as one header line: a display name cannot smuggle in a line break."""
    return " ".join(_CONTROL.sub(" ", text).split())
