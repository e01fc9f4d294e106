"""The strict JSON reader shared by codes and providers' answers, at the edges of its shortcuts."""

from __future__ import annotations

import pytest

from sessioncloud.lib.strictjson import StrictJsonError, check_depth, loads_strict


@pytest.mark.parametrize(
    "text",
    [
        '{"a":"' + "[" * 100 + '"}',  # no escaped quote anywhere
        '{"a":"\\"' + "{" * 100 + '\\"","b":"\\\\"}',  # escaped quotes, and a string ending in \\
        '["' + "[" * 30 + '", "' + "{" * 30 + '"]',
    ],
    ids=["plain-string", "escaped-quotes", "two-strings"],
)
def test_brackets_inside_strings_are_not_nesting(text: str) -> None:
    check_depth(text, 5)
    assert loads_strict(text, max_depth=5)


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ('{"a":"x","b":' + "[" * 6 + "]" * 6 + "}", True),
        ('{"a":"\\"x","b":' + "[" * 6 + "]" * 6 + "}", True),
        ("[" * 6 + '"' + "]" * 6, True),  # opened before a string that never ends
        ('["unterminated' + "[" * 40, False),  # the string runs to the end: nothing nests
        ('{"a":"x","b":' + "[" * 4 + "]" * 4 + "}", False),  # five levels with the object
    ],
    ids=[
        "after-a-string",
        "after-an-escaped-quote",
        "before-an-open-string",
        "in-an-open-string",
        "at-the-limit",
    ],
)
def test_nesting_outside_strings_is_counted(text: str, deep: bool) -> None:
    if deep:
        with pytest.raises(StrictJsonError, match="nests deeper than 5 levels"):
            check_depth(text, 5)
    else:
        check_depth(text, 5)


def test_a_deep_text_of_many_strings_is_refused() -> None:
    text = '{"x":' + '["a",' * 40 + '"b"' + "]" * 40 + "}"
    with pytest.raises(StrictJsonError, match="nests deeper than 32 levels"):
        loads_strict(text, max_depth=32)


@pytest.mark.parametrize(
    "text",
    ['{"a":"\\ud800"}', '{"a":"\ud800"}', '{"a":"é\\udc00"}'],
    ids=["escaped", "raw", "escaped-after-non-ascii"],
)
def test_a_lone_surrogate_is_refused_however_it_came(text: str) -> None:
    with pytest.raises(StrictJsonError, match="lone surrogate"):
        loads_strict(text)


def test_non_ascii_text_without_escapes_is_accepted() -> None:
    assert loads_strict('{"name":"Zoë 日本"}') == {"name": "Zoë 日本"}
