"""JSON decoding for text that comes from outside (QR codes, providers' answers).

`json.loads` accepts things no other party would agree on: duplicate keys (which copy wins
differs between parsers), NaN and Infinity, numbers of any length (int() of a huge string is
slow), lone surrogate escapes (text no UTF-8 consumer can store) and nesting deep enough to
exhaust the stack. This module refuses all of them with a short, readable reason.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

DEFAULT_MAX_DEPTH = 20
DEFAULT_MAX_NUMBER_LENGTH = 32


# A JSON string: an escape takes the character after the backslash, so `\\"` does not end it.
# The closing quote is optional: an unterminated string runs to the end of the text (the
# decoder says what is wrong), so no match is ever abandoned and tried again further on.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


class StrictJsonError(ValueError):
    """`problem` completes a sentence about the JSON ("has the key "a" twice"); `pos` is the
    character index in the decoded text where a syntax error was found, if any."""

    def __init__(self, problem: str, text: str = "", pos: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.pos = pos
        self.lineno = text.count("\n", 0, pos) + 1 if pos is not None else None
        self.colno = pos - text.rfind("\n", 0, pos) if pos is not None else None


class _Refused(Exception):
    """Raised inside json.loads hooks to stop at the first limit breached."""


def loads_strict(
    text: str, *, max_depth: int = DEFAULT_MAX_DEPTH, max_number_length: int = DEFAULT_MAX_NUMBER_LENGTH
) -> Any:
    check_depth(text, max_depth)
    try:
        data = json.loads(
            text,
            object_pairs_hook=_without_duplicates,
            parse_int=lambda s: _bounded(s, int, max_number_length),
            parse_float=lambda s: _bounded(s, float, max_number_length),
            parse_constant=_no_constants,
        )
    except json.JSONDecodeError as error:
        # Some of json's messages end in "at" and expect a position to follow.
        raise StrictJsonError(f"is not valid: {error.msg.removesuffix(' at')}", text, error.pos) from None
    except _Refused as refused:
        raise StrictJsonError(str(refused)) from None
    # Plain ASCII without a \u escape cannot hold a lone surrogate; anything else is checked.
    if "\\u" in text or not text.isascii():
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJsonError("holds an invalid \\u escape (a lone surrogate)") from None
    return data


def check_depth(text: str, max_depth: int) -> None:
    """Refuse deep nesting before decoding, without recursion (so no RecursionError).

    The work over the whole text is done in C (counting, splitting, one regular expression),
    and only the brackets outside strings are walked in Python: a provider's answer may be
    256 KiB, and a walk over every character spent 10-20 ms of the event loop on it.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return  # too few openers to nest that deep, wherever they stand
    if '\\"' in text:
        outside_strings = _STRING.sub("", text)
    else:  # no quote is escaped: every other piece between quotes is outside the strings
        outside_strings = "".join(text.split('"')[::2])
    brackets = _NOT_A_BRACKET.sub("", outside_strings)
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise StrictJsonError(f"nests deeper than {max_depth} levels")
        else:
            depth -= 1


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            shown = key if len(key) <= 40 else key[:40] + "…"
            raise _Refused(f"has the key {json.dumps(shown, ensure_ascii=False)} twice")
        result[key] = value
    return result


def _bounded(text: str, kind: type, limit: int) -> Any:
    if len(text) > limit:
        raise _Refused(f"holds a number longer than {limit} characters")
    return kind(text)


def _no_constants(name: str) -> NoReturn:
    raise _Refused(f"holds {name}, which is not valid JSON")
