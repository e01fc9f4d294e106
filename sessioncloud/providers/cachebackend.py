"""Cache backends whose clear() also empties every copy of phone configs kept in memory.

Phone configs are kept outside Django's cache: in this process's memory for the embedded
default, and in each app process's memory under a lease with Redis (providers/config.py,
lib/leases.py). After a clear, and before any save, those copies would still answer what the
cleared cache held. So a clear is followed by forgetting every config, acknowledged by every
process in the Redis case, as a save would be.
"""

from __future__ import annotations

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
