"""A counter in Redis that lives a fixed time from its first hit: one round trip per hit.

Used by the rate limits (lib/rediscache.py) and the circuit breakers (provisioning/breaker.py).
INCR and PEXPIRE run in one script, so a crash between them can never leave a counter without
its expiry (a limit that never resets, a breaker half-way to open for ever).
"""

from __future__ import annotations

from typing import Any

COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def window_counter(client: Any) -> Any:
    """The registered script for `client` (a redis.Redis); call it as counter(keys=[key], args=[ms])."""
    return client.register_script(COUNT_IN_WINDOW)


def window_ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
