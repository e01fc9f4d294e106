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


def test_two_limits_and_a_breakers_state_are_read_in_one_round_trip(settings):
    if not settings.REDIS_URL:
        assert ratelimit.hits_and_flags([("parse_ip", "a")], ["x"]) is None  # each on its own
        return
    settings.RATE_LIMITS = "provision_ip=3/m,provision_user=1/m,parse_ip=off"
    client = cache._cache.get_client(write=True)
    client.set("test:breaker:open", 1, ex=60)
    client.delete("test:breaker:trial")
    sent = []
    lean = cache._lean
    original = lean.call_many
    lean.call_many = lambda *commands: sent.append(commands) or original(*commands)
    try:
        checks = [("provision_ip", "198.51.100.4"), ("provision_user", "7:alice"), ("parse_ip", "x")]
        flags = ["test:breaker:open", "test:breaker:trial"]
        first = ratelimit.hits_and_flags(checks, flags)
        second = ratelimit.hits_and_flags(checks, flags)
    finally:
        del lean.call_many
    assert first == ([None, None, None], (True, False))
    waits, read = second
    assert waits[0] is None and waits[2] is None  # the address is within 3/m; parse_ip is off
    assert waits[1] is not None and 1 <= waits[1] <= 60  # the user's second call in a minute
    assert read == (True, False)
    assert len(sent) == 2 and [command[0] for command in sent[0]] == [b"EVALSHA", b"EVALSHA", b"MGET"]
    assert ratelimit.hit("provision_ip", "198.51.100.4") is None  # the same counter: third of 3
    assert ratelimit.hit("provision_ip", "198.51.100.4") is not None
