"""Sentence case for texts written in Title Case elsewhere (allauth's headings and subjects)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z]+")
_TITLE_WORD = re.compile(r"(?<![A-Za-z])[A-Z][a-z]+(?![A-Za-z])")


def sentence_case(text: str) -> str:
    """ "Add Email Address" -> "Add email address".

    Only capitalised words of letters after the first word are lowered, so names with inner
    capitals (SessionCloud), acronyms (TOTP) and the first word keep their case.
    """
    first = _WORD.search(text)
    if first is None:
        return text
    rest = _TITLE_WORD.sub(lambda word: word.group(0).lower(), text[first.end() :])
    return text[: first.end()] + rest
