"""No text from a tenant or a phone reaches a regular expression that can backtrack for long.

Every pattern in the code base is found (each module's compiled patterns and validators, and
every literal pattern passed to an `re` function), checked for the shapes behind catastrophic
backtracking (tests/reliability/regexcheck.py), and run on hostile inputs built from its own
characters in a separate process with a deadline.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.validators import EmailValidator, RegexValidator

import sessioncloud
from tests.reliability.regexcheck import check

ROOT = Path(sessioncloud.__file__).parent
RE_FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer"}
HOSTILE_LENGTH = 5_000  # the longest text field a tenant fills (an e-mail body)
# Every pattern on every hostile input, all in one child process: a few seconds when each is
# linear; one of the shapes this guards against takes minutes on one input of this length.
DEADLINE_SECONDS = 60


def modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(ROOT)], prefix="sessioncloud."):
        if ".migrations." not in info.name and not info.name.endswith(".wsgi"):
            names.append(info.name)
    return names


def module_patterns() -> dict[str, tuple[str, int]]:
    """Every compiled pattern and regex validator a module of ours keeps, by where it lives."""
    found: dict[str, tuple[str, int]] = {}
    for name in modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if getattr(value, "__module__", name) != name and not isinstance(
                value, (re.Pattern, RegexValidator)
            ):
                continue
            pattern = value.regex if isinstance(value, RegexValidator) else value
            if isinstance(pattern, re.Pattern):
                found[f"{name}.{attribute}"] = as_text(pattern)
    return found


def as_text(pattern: re.Pattern) -> tuple[str, int]:
    """A pattern as text (a bytes pattern read as Latin-1, one character per byte), with its flags."""
    if isinstance(pattern.pattern, bytes):
        return pattern.pattern.decode("latin-1"), pattern.flags & ~re.ASCII
    return pattern.pattern, pattern.flags


def inline_patterns() -> dict[str, tuple[str, int]]:
    """Literal patterns passed straight to an `re` function (re.split(r"...", text) and the like)."""
    found: dict[str, tuple[str, int]] = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in RE_FUNCTIONS
                and node.func.attr != "compile"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found[f"{path.relative_to(ROOT.parent)}:{node.lineno}"] = (node.args[0].value, 0)
    return found


def compile_calls_outside_module_scope() -> list[str]:
    """re.compile calls the module scan cannot see: every pattern must be a module-level name."""
    hidden = []
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = {id(node.value) for node in tree.body if isinstance(node, ast.Assign)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr == "compile"
                and id(node) not in top_level
            ):
                hidden.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return hidden


def all_patterns() -> dict[str, tuple[str, int]]:
    return {**module_patterns(), **inline_patterns()}


def third_party_patterns() -> dict[str, tuple[str, int]]:
    """Django's e-mail and URL validators, which our models apply to tenant input."""
    from django.core.validators import URLValidator

    email = EmailValidator()
    found = {
        f"EmailValidator.{name}": (getattr(email, name).pattern, getattr(email, name).flags)
        for name in ("user_regex", "domain_regex", "literal_regex")
    }
    url = URLValidator()
    found["URLValidator.regex"] = (url.regex.pattern, url.regex.flags)
    return found


def test_every_pattern_is_found():
    found = all_patterns()
    assert compile_calls_outside_module_scope() == []
    # The ones this check was written for, so a broken scan cannot pass by finding nothing.
    for where in (
        "sessioncloud.onboarding.mailtemplate._TAG",
        "sessioncloud.providers.validators.HOST_PORT_RE",
        "sessioncloud.provisioning.guard._HOSTNAME",
        "sessioncloud.codes.formats._DESKTOP_ACTIVATION_RE",
        "sessioncloud.lib.jsonlog._INLINE_SECRET",
        "sessioncloud.accounts.models.SLUG_VALIDATOR",
        "sessioncloud.api.edge._LONG_DIGITS",
    ):
        assert where in found
    assert any(where.startswith("sessioncloud/portal/views/bulk.py:") for where in found)
    assert len(found) >= 35


def test_no_pattern_has_nested_or_overlapping_quantifiers():
    findings = {
        where: [str(f) for f in check(pattern, flags)] for where, (pattern, flags) in all_patterns().items()
    }
    assert {where: found for where, found in findings.items() if found} == {}


@pytest.mark.parametrize(
    ("pattern", "flags", "shape"),
    [
        (r"\{\{\s*(.*?)\s*\}\}", re.DOTALL, "overlapping quantifiers"),  # the old placeholder pattern
        (r"^(a+)+$", 0, "nested quantifiers"),
        (r"^(\w+\s?)*$", 0, "nested quantifiers"),
        (r"^(a|aa)*$", 0, "overlapping quantifiers"),
        (r"^\d*0?\d*$", 0, "overlapping quantifiers"),
    ],
)
def test_the_check_finds_each_dangerous_shape(pattern, flags, shape):
    assert shape in {finding.shape for finding in check(pattern, flags)}


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z]+(\.[a-z]+)*$",
        r"\A[A-Za-z][A-Za-z0-9]{2,31}\Z",
        r"[\s,;]+",
        r"\A\?username=(.*?)&password=(.*)\Z",
        r"^#(?:[0-9A-Fa-f]{3}){1,2}$",
    ],
)
def test_the_check_passes_patterns_with_one_way_to_match(pattern):
    assert check(pattern) == []


# Run in a child process: a pattern that backtracks holds the interpreter lock, so a thread
# could not stop it, and the deadline must hold whatever the pattern does.
HOSTILE_RUN = """
import json, re, sys
patterns = json.load(sys.stdin)
length = int(sys.argv[1])
fillers = [chr(c) for c in range(32, 127)] + ["\\t", "\\n", "\\u00e9", "\\u3000"]
for where, (pattern, flags) in patterns.items():
    compiled = re.compile(pattern, flags)
    for filler in fillers:
        texts = (
            filler * length,
            filler * length + "\\x00",
            "{{" + filler * length,
            "a" + filler * length + "!",
            (filler + ".") * (length // 2) + "-",
            ("a" + filler) * (length // 2) + "\\x00",
        )
        for text in texts:
            compiled.search(text)
            compiled.match(text)
print("done")
"""


def run_hostile(
    patterns: dict[str, tuple[str, int]], deadline: float = DEADLINE_SECONDS
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HOSTILE_RUN, str(HOSTILE_LENGTH)],
        input=json.dumps(patterns),
        capture_output=True,
        text=True,
        timeout=deadline,
        check=True,
    )


def test_every_pattern_is_quick_on_hostile_input():
    assert run_hostile({**all_patterns(), **third_party_patterns()}).stdout == "done\n"


def test_the_hostile_run_would_catch_a_backtracking_pattern():
    with pytest.raises(subprocess.TimeoutExpired):
        run_hostile({"old placeholder": (r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)}, deadline=5)
