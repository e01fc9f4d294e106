"""Figures of the reliability suite: how many cases each part tried and how many passed.

Each part records its counts here; the run writes them to `reliability-figures.json` in the
data directory and prints them at the end, so docs/security.md can quote real numbers.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_figures: dict[str, dict[str, Any]] = defaultdict(lambda: {"tried": 0, "passed": 0})


def record(part: str, tried: int, passed: int, **extra: Any) -> None:
    """Add `tried` cases, `passed` of which passed, to a part of the suite."""
    with _lock:
        entry = _figures[part]
        entry["tried"] += tried
        entry["passed"] += passed
        entry.update(extra)


def case(part: str, passed: bool) -> None:
    record(part, 1, 1 if passed else 0)


def snapshot() -> dict[str, dict[str, Any]]:
    with _lock:
        return {part: dict(entry) for part, entry in sorted(_figures.items())}


def write(path: Path, database: str) -> dict[str, dict[str, Any]]:
    figures = snapshot()
    if figures:
        path.write_text(json.dumps({"database": database, "parts": figures}, indent=2) + "\n")
    return figures
