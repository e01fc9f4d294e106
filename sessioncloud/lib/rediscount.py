"""A counter in Redis that lives a fixed time from its first hit: one round trip per hit.

Used by the rate limits (lib/rediscache.py) and the circuit breakers (provisioning/breaker.py).
INCR and PEXPIRE run in one script, so a crash between them can never leave a counter without
its expiry (a limit that never resets, a breaker half-way to open for ever).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sessioncloud.lib.redisread import RedisReader, RedisReadError

COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# The name Redis knows the script by (SHA-1 of its text), for EVALSHA without redis-py.
COUNT_IN_WINDOW_SHA = hashlib.sha1(COUNT_IN_WINDOW.encode()).hexdigest().encode()  # noqa: S324


def window_counter(client: Any) -> Any:
    """The registered script for `client` (a redis.Redis); call it as counter(keys=[key], args=[ms])."""
    return client.register_script(COUNT_IN_WINDOW)


def count_lean(reader: RedisReader, key: str, ttl_ms: int) -> int | None:
    """The count through the minimal client (lib/redisread.py), or None when that failed.

    The caller then counts through redis-py, which also loads the script when Redis does not
    know it yet (a restart empties its cache). If the failure was a lost reply, that hit is
    counted twice: a limit reached one request early, once, is better than one not kept.
    """
    try:
        return int(reader.call(b"EVALSHA", COUNT_IN_WINDOW_SHA, b"1", key.encode(), b"%d" % ttl_ms))
    except RedisReadError:
        return None


def window_ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def counts_and_flags(
    reader: RedisReader, counters: Sequence[tuple[str, int]], flags: Sequence[str]
) -> tuple[list[int], tuple[bool, ...]] | None:
    """Each counter's count (key, ttl in ms) and whether each flag key exists, in one round trip;
    None when that failed, and the caller goes one by one (as count_lean, a lost reply's hits are
    then counted twice)."""
    commands = [(b"EVALSHA", COUNT_IN_WINDOW_SHA, b"1", key.encode(), b"%d" % ttl) for key, ttl in counters]
    if flags:
        commands.append((b"MGET", *(key.encode() for key in flags)))
    try:
        replies = reader.call_many(*commands)
    except RedisReadError:
        return None
    found = replies[len(counters)] if flags else []
    return [int(count) for count in replies[: len(counters)]], tuple(value is not None for value in found)
