"""A small static check for regular expressions that can backtrack for a very long time.

It reads a pattern's parse tree (the `re` module's own parser) and reports the two shapes behind
catastrophic backtracking:

- nested quantifiers: a repeated group that itself holds a repeat of variable length (`(a+)+`,
  `(\\w+\\s?)*`; `(?:[0-9a-f]{3}){1,2}` is fine),
  unless every pass of the outer group must start with a character the inner repeat cannot
  match (`(\\.[a-z]+)*`: the dot marks where each pass begins, so there is one way to split);
- overlapping neighbours: two unbounded repeats one after the other (optional parts between them
  do not separate them) where the second can start with a character the first can match
  (`\\s*(.*?)\\s*`), and repeated alternatives that can start alike (`(a|aa)*`).

It is deliberately conservative: a pattern it passes has none of these shapes; a pattern it
flags is rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

# The characters the sets are compared on: ASCII, Latin-1 and a few wide spaces and letters.
SAMPLE = [chr(code) for code in range(0x180)] + ["\u2000", "\u2028", "\u3000", "\u0660", "\u4e00"]
REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}
ZERO_WIDTH = {sre.AT, sre.ASSERT, sre.ASSERT_NOT}
Chars = frozenset[str]


@dataclass(frozen=True)
class Finding:
    shape: str  # "nested quantifiers" or "overlapping quantifiers"
    detail: str

    def __str__(self) -> str:
        return f"{self.shape}: {self.detail}"


def check(pattern: str, flags: int = 0) -> list[Finding]:
    """Every dangerous shape of `pattern` (empty when it has none)."""
    tree = sre_parse.parse(pattern, flags)
    ignore_case = bool(tree.state.flags & re.IGNORECASE)
    return list(_check_sequence(list(tree), ignore_case, inside_repeat=False))


def _check_sequence(items: list, ignore_case: bool, *, inside_repeat: bool) -> Iterator[Finding]:
    yield from _overlapping_neighbours(items, ignore_case)
    for op, av in items:
        if op in REPEATS:
            low, high, body = av
            yield from _check_repeat(list(body), high, ignore_case)
            yield from _check_sequence(list(body), ignore_case, inside_repeat=True)
        elif op == sre.SUBPATTERN:
            yield from _check_sequence(list(av[-1]), ignore_case, inside_repeat=inside_repeat)
        elif op == sre.BRANCH:
            for branch in av[1]:
                yield from _check_sequence(list(branch), ignore_case, inside_repeat=inside_repeat)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            yield from _check_sequence(list(av[1]), ignore_case, inside_repeat=inside_repeat)


def _check_repeat(body: list, high: int, ignore_case: bool) -> Iterator[Finding]:
    if high <= 1:
        return
    # An inner repeat of a fixed count (`[0-9a-f]{3}`) matches in one way only: no ambiguity.
    inner = [node for node in _repeats_within(body) if node[1][1] > 1 and node[1][0] != node[1][1]]
    if inner:
        lead = _leading_mandatory_chars(body, ignore_case)
        inner_chars = frozenset().union(*(_chars(node[1][2], ignore_case) for node in inner))
        if lead is None or lead & inner_chars:
            yield Finding("nested quantifiers", f"a repeat inside a repeat ({_describe(body)})")
    for branches in _alternatives(body):
        firsts = [_first_chars(list(branch), ignore_case) for branch in branches]
        if any(first & other for index, first in enumerate(firsts) for other in firsts[index + 1 :]):
            yield Finding("overlapping quantifiers", "repeated alternatives that start alike")


def _overlapping_neighbours(items: list, ignore_case: bool) -> Iterator[Finding]:
    """Unbounded repeats in a row (with only optional or zero-width parts between) that overlap."""
    previous: Chars | None = None
    for op, av in _flatten(items):
        if op in REPEATS and av[1] == sre.MAXREPEAT:
            # Where one ends and the next begins is ambiguous when the next can start with a
            # character the one before could have taken too.
            shared = (
                previous & _first_chars(list(av[2]), ignore_case) if previous is not None else frozenset()
            )
            if shared:
                yield Finding(
                    "overlapping quantifiers", f"two unbounded repeats in a row share {_sample(shared)}"
                )
            chars = _chars(av[2], ignore_case)
            previous = chars if av[0] > 0 or previous is None else previous | chars
        elif op in ZERO_WIDTH or (op in REPEATS and av[0] == 0):
            continue  # matches nothing, or may match nothing: the repeats around it still meet
        else:
            previous = None


def _flatten(items: list) -> Iterator[tuple]:
    """The sequence with groups opened up, so `\\s*(.*?)\\s*` reads as three neighbours."""
    for op, av in items:
        if op == sre.SUBPATTERN:
            yield from _flatten(list(av[-1]))
        else:
            yield op, av


def _repeats_within(body: Iterable) -> Iterator[tuple]:
    for op, av in body:
        if op in REPEATS:
            yield op, av
            yield from _repeats_within(av[2])
        elif op == sre.SUBPATTERN:
            yield from _repeats_within(av[-1])
        elif op == sre.BRANCH:
            for branch in av[1]:
                yield from _repeats_within(branch)


def _alternatives(body: list) -> Iterator[list]:
    """The alternatives of each choice a pass of the body makes (`a|ab` is read as `a(?:|b)`)."""
    for op, av in _flatten(body):
        if op == sre.BRANCH:
            yield list(av[1])


def _leading_mandatory_chars(body: list, ignore_case: bool) -> Chars | None:
    """The characters a pass of the body must start with, if its first step is one character."""
    for op, av in _flatten(body):
        if op in ZERO_WIDTH:
            continue
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            return _chars([(op, av)], ignore_case)
        return None
    return None


def _first_chars(items: list, ignore_case: bool) -> Chars:
    for op, av in _flatten(items):
        if op in ZERO_WIDTH:
            continue
        if op in REPEATS:
            first = _first_chars(list(av[2]), ignore_case)
            return first if av[0] > 0 else frozenset(SAMPLE)  # optional: anything may follow
        if op == sre.BRANCH:
            return frozenset().union(*(_first_chars(list(b), ignore_case) for b in av[1]))
        return _chars([(op, av)], ignore_case)
    return frozenset(SAMPLE)


def _chars(items: Iterable, ignore_case: bool) -> Chars:
    """Every sample character some single step of `items` can match."""
    found: set[str] = set()
    for op, av in items:
        if op == sre.LITERAL:
            found |= _cased(chr(av), ignore_case)
        elif op == sre.NOT_LITERAL:
            found |= {c for c in SAMPLE if c not in _cased(chr(av), ignore_case)}
        elif op == sre.ANY:
            found |= set(SAMPLE)
        elif op == sre.IN:
            found |= {c for c in SAMPLE if _in_set(av, c, ignore_case)}
        elif op in REPEATS:
            found |= _chars(av[2], ignore_case)
        elif op == sre.SUBPATTERN:
            found |= _chars(av[-1], ignore_case)
        elif op == sre.BRANCH:
            for branch in av[1]:
                found |= _chars(branch, ignore_case)
    return frozenset(found)


_CATEGORIES: dict[object, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdecimal,
    sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _in_set(items: list, char: str, ignore_case: bool) -> bool:
    negate = bool(items) and items[0][0] == sre.NEGATE
    hit = False
    for candidate in _cased(char, ignore_case):
        for op, av in items:
            if op == sre.LITERAL and candidate == chr(av):
                hit = True
            elif op == sre.RANGE and av[0] <= ord(candidate) <= av[1]:
                hit = True
            elif op == sre.CATEGORY and _CATEGORIES[av](candidate):
                hit = True
    return hit != negate


def _cased(char: str, ignore_case: bool) -> set[str]:
    return {char, char.lower(), char.upper()} if ignore_case else {char}


def _sample(chars: Chars) -> str:
    return repr("".join(sorted(chars)[:8]))


def _describe(body: list) -> str:
    return f"{len(list(_repeats_within(body)))} inner repeat(s)"
