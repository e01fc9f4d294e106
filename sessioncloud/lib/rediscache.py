"""Django's Redis cache backend, keeping one client per connection pool.

Django's RedisCacheClient builds a new redis.Redis object for every cache operation, and
redis-py fills about 170 response callbacks into each new one: about 60 µs of CPU per call,
four calls per provisioning request for its rate limits alone (docs/performance.md). A
redis.Redis object is safe to share between threads (each command borrows a connection from
the pool), so one per pool is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
