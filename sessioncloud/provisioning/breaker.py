"""A per-provider circuit breaker: no dead upstream ties up every worker (docs/provider-service.md).

closed    -> calls go through; failures are counted in a window.
open      -> after `threshold` failures within `window` seconds, calls are short-circuited for
             `open_seconds`.
half-open -> after that, exactly one trial call goes through (whoever takes the trial lease);
             its success closes the breaker, its failure opens it again.

State lives in a small store so several app processes can share it through Redis; the
in-process store serves the single-process default.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import redis

from sessioncloud.lib.rediscount import window_counter, window_ms
from sessioncloud.lib.redisread import RedisReader, RedisReadError

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class BreakerStore(Protocol):
    """Expiring counters and flags; every key is already namespaced by the breaker."""

    def increment(self, key: str, ttl: float) -> int:
        """Add one to `key` and return the new value; a new counter expires after `ttl`."""

    def set_flag(self, key: str, ttl: float, only_if_absent: bool = False) -> bool:
        """Set `key` for `ttl` seconds; with `only_if_absent`, return False if it already exists."""

    def has_flag(self, key: str) -> bool: ...

    def has_flags(self, *keys: str) -> tuple[bool, ...]:
        """has_flag of several keys at once (one round trip to a shared store)."""
        ...

    def delete(self, *keys: str) -> None: ...


class MemoryBreakerStore:
    """Thread-safe in-process store, for one process (the embedded default and tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}  # key -> (value, expires at)

    def increment(self, key: str, ttl: float) -> int:
        with self._lock:
            value, expires = self._live(key) or (0, self._clock() + ttl)
            self._values[key] = (value + 1, expires)
            return value + 1

    def set_flag(self, key: str, ttl: float, only_if_absent: bool = False) -> bool:
        with self._lock:
            if only_if_absent and self._live(key):
                return False
            self._values[key] = (1, self._clock() + ttl)
            return True

    def has_flag(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    def has_flags(self, *keys: str) -> tuple[bool, ...]:
        with self._lock:
            return tuple(self._live(key) is not None for key in keys)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)

    def _live(self, key: str) -> tuple[int, float] | None:
        entry = self._values.get(key)
        if entry is not None and entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry


class RedisBreakerStore:
    """Store shared by every app process through Redis.

    When Redis fails, the store answers as a closed breaker would: the breaker protects
    workers, and must not itself stop provisioning while the cache is down.
    """

    def __init__(self, client: redis.Redis, lean: RedisReader | None = None) -> None:
        self._client = client
        self._lean = lean  # for the check every call makes (lib/redisread.py)
        self._increment = window_counter(client)

    def increment(self, key: str, ttl: float) -> int:
        try:
            return int(self._increment(keys=[key], args=[window_ms(ttl)]))
        except redis.RedisError as error:
            return _unavailable(error, 0)

    def set_flag(self, key: str, ttl: float, only_if_absent: bool = False) -> bool:
        try:
            return bool(self._client.set(key, 1, px=window_ms(ttl), nx=only_if_absent))
        except redis.RedisError as error:
            return _unavailable(error, True)

    def has_flag(self, key: str) -> bool:
        try:
            return bool(self._client.exists(key))
        except redis.RedisError as error:
            return _unavailable(error, False)

    def has_flags(self, *keys: str) -> tuple[bool, ...]:
        if self._lean is not None:
            try:
                values = self._lean.call(b"MGET", *(key.encode() for key in keys))
                return tuple(value is not None for value in values)
            except RedisReadError:
                pass  # a read: redis-py asks again
        try:
            # One MGET: a single command costs redis-py half the CPU of a pipeline of EXISTS.
            return tuple(value is not None for value in self._client.mget(keys))
        except redis.RedisError as error:
            return _unavailable(error, (False,) * len(keys))

    def delete(self, *keys: str) -> None:
        try:
            self._client.delete(*keys)
        except redis.RedisError as error:
            _unavailable(error, None)


def _unavailable(error: redis.RedisError, fallback: _T) -> _T:
    log.warning("circuit breaker store unavailable: %s", error)
    return fallback


class CircuitBreaker:
    """The breaker of one provider (one App); `key` is its App id."""

    def __init__(
        self,
        store: BreakerStore,
        key: str,
        *,
        threshold: int = 5,
        window: float = 30.0,
        open_seconds: float = 10.0,
        trial_lease: float = 20.0,
        namespace: str = "sessioncloud:breaker",
    ) -> None:
        self._store = store
        self._threshold = threshold
        self._window = window
        self._open_seconds = open_seconds
        # Longer than any call may take (15 s max timeout), so a trial is never run twice at once.
        self._trial_lease = trial_lease
        prefix = f"{namespace}:{key}"
        self._failures = f"{prefix}:failures"
        self._open = f"{prefix}:open"
        self._tripped = f"{prefix}:tripped"
        self._trial = f"{prefix}:trial"
        self._callers = f"{prefix}:caller"
        # Set by allow() when it saw no failure, no trip and no trial: a success then has
        # nothing to reset, and a healthy provider's call costs the store one round trip.
        self._seen_clean = False

    @property
    def flag_keys(self) -> tuple[str, str, str, str]:
        """What allow() reads from the store, for a caller that reads it along with other keys."""
        return self._open, self._tripped, self._failures, self._trial

    def allow(self, flags: tuple[bool, ...] | None = None) -> bool:
        """Whether a call may go out now; a True in half-open state holds the trial lease.

        `flags`: has_flags(*flag_keys) as the caller just read it from this breaker's store.
        """
        self._seen_clean = False
        is_open, tripped, failures, trial = flags or self._store.has_flags(*self.flag_keys)
        if is_open:
            return False
        if tripped:
            return self._store.set_flag(self._trial, self._trial_lease, only_if_absent=True)
        self._seen_clean = not (failures or trial)
        return True

    def record_success(self) -> None:
        if self._seen_clean:
            # Failures another process counts meanwhile stay counted, as they would have if
            # its call had come a moment later; skipping the reset only ever errs towards opening.
            return
        self._store.delete(self._failures, self._tripped, self._trial)

    def record_failure(self, caller: str | None = None) -> None:
        """Count a sign of an unhealthy service; `caller` names who caused the call.

        Each caller counts at most once per window, so one client sending inputs that make the
        service fail cannot open the breaker for every other user: that takes `threshold`
        different callers. A failed trial call opens it again whoever made it.
        """
        self._seen_clean = False
        if self._store.has_flag(self._tripped):
            self._trip()
            return
        if caller is not None and not self._store.set_flag(
            f"{self._callers}:{caller}", self._window, only_if_absent=True
        ):
            return
        if self._store.increment(self._failures, self._window) >= self._threshold:
            self._trip()

    def state(self) -> str:
        """ "closed", "open" or "half-open", for the portal and metrics."""
        if self._store.has_flag(self._open):
            return "open"
        return "half-open" if self._store.has_flag(self._tripped) else "closed"

    def _trip(self) -> None:
        self._store.set_flag(self._open, self._open_seconds)
        # `tripped` outlives `open`, marking the half-open period that follows it; it expires
        # on its own if no call comes for a whole window, so an idle breaker closes itself.
        self._store.set_flag(self._tripped, self._open_seconds + self._window)
        self._store.delete(self._failures, self._trial)
