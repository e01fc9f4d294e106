"""Cache backends whose clear() also empties every copy of phone configs kept in memory.

Phone configs are kept outside Django's cache: in this process's memory for the embedded
default, and in each app process's memory under a lease with Redis (providers/config.py,
lib/leases.py). After a clear, and before any save, those copies would still answer what the
cleared cache held. So a clear is followed by forgetting every config, acknowledged by every
process in the Redis case, as a save would be.
"""

from __future__ import annotations

import pickle

from django.core.cache.backends.locmem import LocMemCache as DjangoLocMemCache

from sessioncloud.lib.rediscache import RedisCache as SharedClientRedisCache


def _forget_every_config() -> None:
    from sessioncloud.providers.config import forget_every_config  # needs the apps loaded

    forget_every_config()


class RedisCache(SharedClientRedisCache):
    def clear(self) -> None:
        super().clear()
        _forget_every_config()


class LocMemCache(DjangoLocMemCache):
    def clear(self) -> None:
        super().clear()
        _forget_every_config()

    def count_in_window(self, key: str, ttl: int) -> int:
        """Add one to a counter that lives `ttl` seconds from its first hit, in one locked step.

        The rate limiter's counter, as the Redis backend has it (lib/rediscache.py): Django's add
        then incr take the lock, check the key and pickle twice, about 30 µs per limit checked.
        The counter stays an ordinary cache value, readable with get().
        """
        full_key = self.make_key(key)  # the limiter's keys are hex digests: nothing to validate
        with self._lock:
            # Only this process wrote these bytes (the cache is in-process memory).
            count = 1 if self._has_expired(full_key) else pickle.loads(self._cache[full_key]) + 1  # noqa: S301
            if count == 1:
                self._set(full_key, pickle.dumps(count, self.pickle_protocol), ttl)
            else:
                self._cache[full_key] = pickle.dumps(count, self.pickle_protocol)
            return int(count)
