"""Django's Redis cache backend, keeping one client per connection pool.

Django's RedisCacheClient builds a new redis.Redis object for every cache operation, and
redis-py fills about 170 response callbacks into each new one: about 60 µs of CPU per call,
four calls per provisioning request for its rate limits alone (docs/performance.md). A
redis.Redis object is safe to share between threads (each command borrows a connection from
the pool), so one per pool is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from sessioncloud.lib.rediscount import count_lean, counts_and_flags, window_counter, window_ms
from sessioncloud.lib.redisread import RedisReader

SOCKET_SECONDS = 2


def redis_client(url: str) -> redis.Redis:
    """A client that gives up quickly when Redis is away: one retry, at once, then the error.

    redis-py's default retries ten times with growing pauses (about 3 s for a refused
    connection, far more for one that times out), and every caller here has a fallback that is
    better than waiting: the database for configs, an open breaker store for calls.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_SECONDS,
        socket_timeout=SOCKET_SECONDS,
        retry=Retry(NoBackoff(), 1),
    )


@lru_cache(maxsize=8)
def lean_client(url: str) -> RedisReader | None:
    """The minimal client for the commands every request runs, where the URL allows one.

    One per URL in a process: the cache and the breakers share its connections, so their
    commands can travel together (RedisCache.counts_and_flags)."""
    try:
        return RedisReader(url, timeout=SOCKET_SECONDS)
    except ValueError:  # rediss:// and the like: redis-py alone
        return None


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
        self._window_scripts: dict[int, Any] = {}
        self._lean = lean_client(self._servers[0])

    def count_in_window(self, key: str, ttl: int) -> int:
        """Add one to a counter that lives `ttl` seconds from its first hit, in one round trip.

        Django's cache needs three (add, incr, and a set when the key expired between them); a
        MULTI pipeline needs one but costs twice the CPU of a single command in redis-py. The
        counter is a plain Redis integer, which Django's own get() reads back as an int.
        """
        full_key = self.make_and_validate_key(key)
        if self._lean is not None:
            count = count_lean(self._lean, full_key, window_ms(ttl))
            if count is not None:
                return count
        client = self._cache.get_client(full_key, write=True)
        script = self._window_scripts.get(id(client))
        if script is None:
            script = self._window_scripts[id(client)] = window_counter(client)
        return int(script(keys=[full_key], args=[window_ms(ttl)]))

    def counts_and_flags(
        self, counters: Sequence[tuple[str, int]], flags: Sequence[str]
    ) -> tuple[list[int], tuple[bool, ...]] | None:
        """count_in_window of each (key, ttl) and whether each of `flags` exists, in one round trip.

        `flags` are whole Redis keys outside the cache's naming (a breaker's). None when the
        minimal client cannot send them or sending failed: the caller then goes one by one.
        """
        if self._lean is None:
            return None
        keys = [(self.make_and_validate_key(key), window_ms(ttl)) for key, ttl in counters]
        return counts_and_flags(self._lean, keys, flags)
