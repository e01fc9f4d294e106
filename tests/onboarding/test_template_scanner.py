"""The setup e-mail's placeholder scanner: the same placeholders as always, in time linear in the text."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sessioncloud.onboarding.mailtemplate import (
    MAX_BODY,
    MAX_SCANNED,
    placeholders,
    render,
    template_errors,
)

# Texts that made the old pattern (`\{\{\s*(.*?)\s*\}\}`) backtrack for minutes at this length.
HOSTILE_BODIES = [
    "{{" + " " * (MAX_BODY - 2),
    "{{" * (MAX_BODY // 2),
    "{{ " * (MAX_BODY // 3),
    "{{" + "\n" * (MAX_BODY - 2),
    "{{ x" + " " * (MAX_BODY - 5) + "}",
]
# In a child process, so the deadline holds whatever the scanner does (a regex holds the GIL).
SCAN_ALL = """
import sys
from sessioncloud.onboarding.mailtemplate import render, template_errors
bodies = {bodies!r}
for body in bodies:
    assert template_errors("", "Subject", body) == {{}}, body[:10]
    assert render(body, {{"name": "Ann"}}) == body
print(len(bodies))
"""
# Each body takes well under a millisecond now; the first alone took 83 s with the old pattern.
DEADLINE_SECONDS = 20


def test_hostile_texts_are_scanned_at_once_in_a_process_with_a_deadline():
    result = subprocess.run(
        [sys.executable, "-c", SCAN_ALL.format(bodies=HOSTILE_BODIES)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=True,
    )
    assert result.stdout == "5\n"


def test_a_placeholder_runs_from_its_braces_to_the_first_closing_braces():
    found = [
        (p.start, p.end, p.name, p.text) for p in placeholders("Hi {{ name }}, {{link}} {{{ x }}} {{}} {{ a")
    ]
    assert found == [
        (3, 13, "name", "{{ name }}"),
        (15, 23, "link", "{{link}}"),
        (24, 32, "{ x", "{{{ x }}"),
        (34, 38, "", "{{}}"),
    ]


def test_spaces_and_line_breaks_inside_the_braces_do_not_count():
    assert render("{{\n  name \t}} and {{ provider}}", {"name": "Ann", "provider": "Acme"}) == "Ann and Acme"


def test_an_unknown_placeholder_is_named_as_written():
    assert template_errors("", "Subject", "Hi {{  user.password }}") == {
        "body": "Unknown placeholder {{  user.password }}; use {{ name }}, {{ link }}, {{ provider }}, {{ "
        "expires }}, "
        "{{ app }}."
    }


def test_unclosed_braces_are_plain_text():
    assert render("{{ name", {"name": "Ann"}) == "{{ name"


def test_the_scanner_refuses_a_text_beyond_its_bound():
    with pytest.raises(ValueError, match="A template is at most 20000 characters long."):
        list(placeholders("x" * (MAX_SCANNED + 1)))
