"""The rate limiter's counters in the configured cache: counted once per hit, always expiring."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache

from sessioncloud.providers import ratelimit


def test_each_hit_counts_once_and_stays_readable_through_the_cache():
    assert [ratelimit._count("rl:test:a", 61) for _ in range(3)] == [1, 2, 3]
    assert cache.get("rl:test:a") == 3  # the counter stays readable through Django's cache


def test_the_limit_is_enforced_within_its_window(settings):
    settings.RATE_LIMITS = "parse_ip=2/m"
    results = [ratelimit.hit("parse_ip", "203.0.113.9") for _ in range(3)]
    assert results[:2] == [None, None]
    assert results[2] is not None and 1 <= results[2] <= 60
    assert ratelimit.hit("parse_ip", "203.0.113.10") is None


def test_a_shared_counter_always_carries_its_expiry():
    if not settings.REDIS_URL:
        pytest.skip("the shared store is Redis; this pass uses the in-process cache")
    ratelimit._count("rl:test:ttl", 61)
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_key("rl:test:ttl"))
    assert 0 < ttl <= 61
    ratelimit._count("rl:test:ttl", 61)
    assert client.ttl(cache.make_key("rl:test:ttl")) <= ttl  # a later hit does not extend the window


def test_a_shared_counter_keeps_counting_when_redis_forgets_its_script_or_the_connection():
    if not settings.REDIS_URL:
        pytest.skip("the shared store is Redis; this pass uses the in-process cache")
    client = cache._cache.get_client(write=True)
    assert [ratelimit._count("rl:test:restart", 61) for _ in range(2)] == [1, 2]
    client.script_flush()
    assert ratelimit._count("rl:test:restart", 61) == 3
    for connection in client.client_list():
        if connection["cmd"] in ("evalsha", "eval"):
            client.client_kill_filter(_id=connection["id"])
    assert [ratelimit._count("rl:test:restart", 61) for _ in range(2)] == [4, 5]
