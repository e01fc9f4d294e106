"""A bound on each App's provider calls in flight, so no App can take the capacity others need.

Counted per process: each app process enforces the bound for the calls it makes. Past the
bound a phone is told at once that its provider is busy, instead of joining a queue that its
provider's slowness would make long for everyone.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable


class CallsInFlight:
    """How many calls each key (App) has waiting on its provider; safe to share between threads."""

    def __init__(self) -> None:
        self._counts: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: Hashable, limit: int) -> bool:
        """Count one more call for `key`, unless it already has `limit` of them."""
        with self._lock:
            count = self._counts.get(key, 0)
            if count >= limit:
                return False
            self._counts[key] = count + 1
            return True

    def release(self, key: Hashable) -> None:
        with self._lock:
            count = self._counts.get(key, 0) - 1
            if count > 0:
                self._counts[key] = count
            else:
                self._counts.pop(key, None)

    def count(self, key: Hashable) -> int:
        return self._counts.get(key, 0)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
