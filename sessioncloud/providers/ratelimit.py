"""Fixed-window rate limits over the shared cache (Redis across processes, else in-process).

A small limiter of our own rather than a decorator library: the keys (App + username) are only
known after the body is parsed, and the answer must carry an exact Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

security_log = logging.getLogger("sessioncloud.security")

DEFAULT_LIMITS = {
    "provision_user": "30/m",
    "provision_ip": "600/m",
    "redeem_ip": "60/m",
    "login_ip": "20/m",
    "parse_ip": "600/m",
}
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


class RateLimitConfigError(ValueError):
    pass


def parse_rate(text: str) -> Rate | None:
    if text.strip().lower() == "off":
        return None
    count, _, period = text.strip().partition("/")
    if not count.isdigit() or period not in _PERIODS or int(count) < 1:
        raise RateLimitConfigError(f"A rate looks like 30/m (per s, m, h or d) or off, not {text!r}.")
    return Rate(int(count), _PERIODS[period])


@lru_cache(maxsize=4)
def configured_limits(overrides: str) -> dict[str, Rate | None]:
    limits = {name: parse_rate(rate) for name, rate in DEFAULT_LIMITS.items()}
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        name, sep, rate = item.partition("=")
        if not sep or name.strip() not in DEFAULT_LIMITS:
            raise RateLimitConfigError(f"SESSIONCLOUD_RATE_LIMITS: unknown limit {name.strip()!r}.")
        limits[name.strip()] = parse_rate(rate)
    return limits


@dataclass(frozen=True)
class _Hit:
    """One request to count against one limit: its counter's key and when the window ends."""

    limit: str
    rate: Rate
    key: str
    resets_in: int  # seconds


def _prepare(limit: str, identity: str) -> _Hit | None:
    rate = configured_limits(settings.RATE_LIMITS)[limit]
    if rate is None:
        return None
    now = int(time.time())
    window = now // rate.seconds
    # Hash the identity: usernames may hold characters cache keys cannot.
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return _Hit(limit, rate, f"rl:{limit}:{digest}:{window}", (window + 1) * rate.seconds - now)


def _verdict(hit: _Hit, count: int) -> int | None:
    if count <= hit.rate.count:
        return None
    security_log.warning("rate limited", extra={"limit": hit.limit})
    return hit.resets_in


def hit(limit: str, identity: str) -> int | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    prepared = _prepare(limit, identity)
    if prepared is None:
        return None
    try:
        count = _count(prepared.key, prepared.rate.seconds + 1)
    except Exception:  # any cache client error
        # With the shared cache down, phones still get answers: limits fail open, loudly.
        security_log.error("rate limit store unavailable", extra={"limit": limit})
        return None
    return _verdict(prepared, count)


def hits_and_flags(
    checks: Sequence[tuple[str, str]], flags: Sequence[str]
) -> tuple[list[int | None], tuple[bool, ...]] | None:
    """hit() of each (limit, identity) and whether each Redis key of `flags` exists (a breaker's
    state), in one round trip to the shared Redis cache.

    None when the cache is not Redis reached by the minimal client, or that round trip failed:
    the caller then makes each check on its own, which handles a store that is down.
    """
    counts_and_flags = getattr(cache, "counts_and_flags", None)
    if counts_and_flags is None:
        return None
    prepared = [_prepare(limit, identity) for limit, identity in checks]
    counted = [each for each in prepared if each is not None]
    together = counts_and_flags([(each.key, each.rate.seconds + 1) for each in counted], flags)
    if together is None:
        return None
    counts = iter(together[0])
    return [None if each is None else _verdict(each, next(counts)) for each in prepared], together[1]


def _count(key: str, ttl: int) -> int:
    count_in_window = getattr(cache, "count_in_window", None)
    if count_in_window is not None:  # the shared Redis cache: one round trip
        return int(count_in_window(key, ttl))
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)
        return 1
