"""The Redis cache backend, whose clear() also empties every app process's copies of configs.

`cache.clear()` empties the Redis database, but app processes may hold phone configs in their
own memory (providers/config.py, lib/leases.py): after a clear, and before any save, they would
still answer what the cleared cache held. So a clear is followed by an invalidation of every
config, acknowledged by every process, as a save would be.
"""

from __future__ import annotations

from sessioncloud.lib.rediscache import RedisCache as SharedClientRedisCache


class RedisCache(SharedClientRedisCache):
    def clear(self) -> None:
        super().clear()
        from sessioncloud.providers.config import forget_every_config  # needs the apps loaded

        forget_every_config()
