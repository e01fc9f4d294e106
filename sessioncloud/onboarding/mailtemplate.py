"""The setup e-mail a provider writes: plain text with a few {{ placeholders }}, nothing more.

Framework-free and deliberately not a template engine: a provider's text can name the values
below and nothing else, so it can neither run template tags nor reach other data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

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

OPEN, CLOSE = "{{", "}}"
# No text longer than this reaches the scanner (the longest field, MAX_BODY, is well below).
MAX_SCANNED = 20_000
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
        return (
            "Must not contain line breaks or control characters."
            if single_line
            else "Must not contain control characters."
        )
    if _TAG.search(text):
        return f"Template tags and comments are not supported; use only the placeholders {_KNOWN}."
    for placeholder in placeholders(text):
        if placeholder.name not in PLACEHOLDERS:
            return f"Unknown placeholder {placeholder.text}; use {_KNOWN}."
    return None


@dataclass(frozen=True)
class Placeholder:
    start: int
    end: int
    name: str  # what stands between the braces, without the spaces around it
    text: str  # as written, braces included


def placeholders(text: str) -> Iterator[Placeholder]:
    """Each `{{ ... }}` of the text, left to right, in one pass.

    A placeholder runs from a `{{` to the first `}}` after it. Plain string searches, never a
    regular expression: every character is looked at a bounded number of times, so a hostile
    text (`{{` and thousands of spaces, or of unclosed braces) costs as much as a friendly one.
    """
    if len(text) > MAX_SCANNED:
        raise ValueError(f"A template is at most {MAX_SCANNED} characters long.")
    position = 0
    while (start := text.find(OPEN, position)) != -1:
        end = text.find(CLOSE, start + len(OPEN))
        if end == -1:
            return  # no `}}` after this `{{`, so none after a later one either
        end += len(CLOSE)
        yield Placeholder(start, end, text[start + len(OPEN) : end - len(CLOSE)].strip(), text[start:end])
        position = end


def render(text: str, values: Mapping[str, str]) -> str:
    """Put the values in; the text must have passed template_errors."""
    parts, position = [], 0
    for placeholder in placeholders(text):
        parts += [text[position : placeholder.start], values.get(placeholder.name, placeholder.text)]
        position = placeholder.end
    parts.append(text[position:])
    return "".join(parts)


def one_line(text: str) -> str:
    """A rendered subject as one header line: a display name cannot smuggle in a line break."""
    return " ".join(_CONTROL.sub(" ", text).split())
