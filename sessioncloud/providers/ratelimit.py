"""Fixed-window rate limits over the shared cache (Redis across processes, else in-process).

A small limiter of our own rather than a decorator library: the keys (App + username) are only
known after the body is parsed, and the answer must carry an exact Retry-After.
"""

from __future__ import annotations

import hashlib
import logging
import time
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


def hit(limit: str, identity: str) -> int | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    rate = configured_limits(settings.RATE_LIMITS)[limit]
    if rate is None:
        return None
    now = int(time.time())
    window = now // rate.seconds
    # Hash the identity: usernames may hold characters cache keys cannot.
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    key = f"rl:{limit}:{digest}:{window}"
    try:
        count = _count(key, rate.seconds + 1)
    except Exception:  # any cache client error
        # With the shared cache down, phones still get answers: limits fail open, loudly.
        security_log.error("rate limit store unavailable", extra={"limit": limit})
        return None
    if count <= rate.count:
        return None
    security_log.warning("rate limited", extra={"limit": limit})
    return (window + 1) * rate.seconds - now


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
