"""The per-provider circuit breaker, with the in-process store and the shared Redis store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from sessioncloud.lib import rediscache
from sessioncloud.provisioning.breaker import (
    BreakerStore,
    CircuitBreaker,
    MemoryBreakerStore,
    RedisBreakerStore,
)

OPEN_SECONDS = 0.2


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield client
    client.close()


@pytest.fixture
def namespace(redis_client: redis.Redis) -> Iterator[str]:
    name = f"test-sessioncloud:{uuid.uuid4().hex}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}:*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def make_breaker(request: pytest.FixtureRequest) -> Callable[..., CircuitBreaker]:
    """Breakers of several Apps (and, for Redis, of several processes) over one shared store."""
    if request.param == "memory":
        store: BreakerStore = MemoryBreakerStore()
        namespace = "sessioncloud:breaker"

        def new_store() -> BreakerStore:
            return store
    else:
        client = request.getfixturevalue("redis_client")
        namespace = request.getfixturevalue("namespace")

        def new_store() -> BreakerStore:
            # A new client per breaker, as each app process would have its own connection.
            return RedisBreakerStore(redis.Redis(connection_pool=client.connection_pool))

    def make(app_id: str = "app-1", **options: float) -> CircuitBreaker:
        settings: dict[str, Any] = {"threshold": 3, "window": 30.0, "open_seconds": OPEN_SECONDS, **options}
        return CircuitBreaker(new_store(), app_id, namespace=namespace, **settings)

    return make


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow() is True
        breaker.record_failure()


def test_a_new_breaker_is_closed_and_allows_calls(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()

    assert breaker.state() == "closed"
    assert breaker.allow() is True


def test_it_stays_closed_below_the_threshold(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()

    fail(breaker, 2)

    assert breaker.state() == "closed"
    assert breaker.allow() is True


def test_it_opens_after_threshold_consecutive_failures(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()

    fail(breaker, 3)

    assert breaker.state() == "open"
    assert breaker.allow() is False


def test_one_caller_counts_once_per_window_however_often_it_fails(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker = make_breaker()

    for _ in range(10):
        assert breaker.allow() is True
        breaker.record_failure(caller="203.0.113.9")

    assert breaker.state() == "closed"


def test_failures_of_as_many_callers_as_the_threshold_open_it(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker = make_breaker()

    for caller in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        breaker.record_failure(caller=caller)

    assert breaker.state() == "open"


def test_a_failed_trial_opens_it_again_whoever_made_it(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()
    for caller in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        breaker.record_failure(caller=caller)
    time.sleep(OPEN_SECONDS + 0.05)

    assert breaker.allow() is True  # the trial
    breaker.record_failure(caller="203.0.113.1")

    assert breaker.state() == "open"


def test_a_success_resets_the_failure_count(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()

    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)

    assert breaker.state() == "closed"


def test_failures_older_than_the_window_are_forgotten(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker(window=0.2)

    fail(breaker, 2)
    time.sleep(0.25)
    fail(breaker, 2)

    assert breaker.state() == "closed"


def test_after_the_open_period_exactly_one_trial_call_goes_through(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker, other_process = make_breaker(), make_breaker()
    fail(breaker, 3)

    time.sleep(OPEN_SECONDS + 0.05)

    assert breaker.state() == "half-open"
    assert breaker.allow() is True
    assert other_process.allow() is False
    assert breaker.allow() is False


def test_a_successful_trial_closes_the_breaker(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()
    fail(breaker, 3)
    time.sleep(OPEN_SECONDS + 0.05)

    assert breaker.allow() is True
    breaker.record_success()

    assert breaker.state() == "closed"
    assert [breaker.allow() for _ in range(3)] == [True, True, True]


def test_a_failed_trial_opens_the_breaker_again(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()
    fail(breaker, 3)
    time.sleep(OPEN_SECONDS + 0.05)

    assert breaker.allow() is True
    breaker.record_failure()

    assert breaker.state() == "open"
    assert breaker.allow() is False


def test_a_trial_whose_caller_vanished_is_retried_after_its_lease(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker = make_breaker(trial_lease=0.2)
    fail(breaker, 3)
    time.sleep(OPEN_SECONDS + 0.05)
    assert breaker.allow() is True  # this caller never records an outcome

    time.sleep(0.25)

    assert breaker.allow() is True


def test_each_app_has_its_own_breaker(make_breaker: Callable[..., CircuitBreaker]) -> None:
    failing, healthy = make_breaker("app-1"), make_breaker("app-2")

    fail(failing, 3)

    assert failing.allow() is False
    assert healthy.allow() is True
    assert healthy.state() == "closed"


def test_the_redis_store_namespaces_its_keys_per_app(redis_client: redis.Redis, namespace: str) -> None:
    breaker = CircuitBreaker(RedisBreakerStore(redis_client), "app-42", threshold=3, namespace=namespace)

    breaker.record_failure()

    assert [key.decode() for key in redis_client.scan_iter(match=f"{namespace}:*")] == [
        f"{namespace}:app-42:failures"
    ]
    assert 0 < redis_client.pttl(f"{namespace}:app-42:failures") <= 30_000


def test_the_memory_store_counts_with_expiry() -> None:
    now = [100.0]
    store = MemoryBreakerStore(clock=lambda: now[0])

    assert [store.increment("k", ttl=10) for _ in range(3)] == [1, 2, 3]
    now[0] = 110.0
    assert store.increment("k", ttl=10) == 1
    assert store.set_flag("f", ttl=5, only_if_absent=True) is True
    assert store.set_flag("f", ttl=5, only_if_absent=True) is False
    now[0] = 115.0
    assert store.has_flag("f") is False


def test_an_unreachable_redis_leaves_the_breaker_closed(caplog: pytest.LogCaptureFixture) -> None:
    breaker = CircuitBreaker(
        RedisBreakerStore(rediscache.redis_client("redis://127.0.0.1:1/0")), "app-1", threshold=1
    )

    breaker.record_failure()

    assert breaker.allow() is True
    assert breaker.state() == "closed"
    assert "circuit breaker store unavailable" in caplog.text


def test_a_redis_that_refuses_connections_is_given_up_on_at_once() -> None:
    # redis-py's own default retries ten times with pauses: about 3 s for every call a phone makes.
    client = rediscache.redis_client("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.get("breaker")
    assert time.monotonic() - started < 1.0


def test_a_success_seen_by_a_new_breaker_object_still_resets_counted_failures(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    # Every provisioning call builds its own breaker object, so what one call counted must be
    # reset by the next call's success, not only by the object that counted it.
    fail(make_breaker(), 2)
    succeeding = make_breaker()
    assert succeeding.allow() is True
    succeeding.record_success()
    fail(make_breaker(), 2)

    assert make_breaker().state() == "closed"


def test_a_healthy_call_writes_nothing_to_the_shared_store(redis_client: redis.Redis, namespace: str) -> None:
    breaker = CircuitBreaker(RedisBreakerStore(redis_client), "app-7", threshold=3, namespace=namespace)

    for _ in range(5):
        assert breaker.allow() is True
        breaker.record_success()

    assert list(redis_client.scan_iter(match=f"{namespace}:*")) == []


def test_a_breaker_object_reused_after_a_failure_still_resets_on_success(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker = make_breaker()
    assert breaker.allow() is True  # nothing counted yet
    breaker.record_failure()
    breaker.record_success()  # must not take the earlier clean look as still true
    fail(breaker, 2)

    assert breaker.state() == "closed"


def test_has_flags_reads_several_keys_in_order(make_breaker: Callable[..., CircuitBreaker]) -> None:
    breaker = make_breaker()
    store = breaker._store
    store.set_flag("x:one", 5)
    store.set_flag("x:three", 5)

    assert store.has_flags("x:one", "x:two", "x:three") == (True, False, True)
    store.delete("x:one", "x:three")


def test_a_state_read_along_with_other_keys_decides_without_reading_again(
    make_breaker: Callable[..., CircuitBreaker],
) -> None:
    breaker = make_breaker()
    reads = []
    store = breaker._store
    original = store.has_flags
    store.has_flags = lambda *keys: reads.append(keys) or original(*keys)  # type: ignore[method-assign]

    state = original(*breaker.flag_keys)
    assert breaker.allow(state) is True and reads == []
    open_now = (True, False, False, False)
    assert breaker.allow(open_now) is False and reads == []  # as the caller read it, not the store
    half_open = (False, True, False, False)
    assert breaker.allow(half_open) is True  # takes the trial lease
    assert breaker.allow(half_open) is False  # the lease is held: one trial at a time
    assert breaker.allow() is True and len(reads) == 1  # no state given: it reads its own
