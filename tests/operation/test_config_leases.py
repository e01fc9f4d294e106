"""Acknowledged invalidation with leases (lib/leases.py), against the real Redis.

Each test uses its own names in Redis, and short leases so that it stays quick; the processes
are LocalTier objects of this process, and one real process killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sessioncloud.lib.leases import ALL, LeaseNames, LocalTier, _restart_until, invalidate

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the real Redis (REDIS_URL)")

LEASE = 0.6


@pytest.fixture
def url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture
def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


@pytest.fixture
def names(client: redis.Redis) -> Iterator[LeaseNames]:
    names = LeaseNames(f"leasetest:{uuid.uuid4().hex[:12]}")
    yield names
    client.delete(names.leases)


@pytest.fixture
def tiers(url: str, client: redis.Redis, names: LeaseNames) -> Iterator[list[LocalTier]]:
    made: list[LocalTier] = []
    yield made
    for tier in made:
        tier.stop()


def live(tier: LocalTier, seconds: float = 5) -> LocalTier:
    tier.start()
    deadline = time.monotonic() + seconds
    while not tier.serving():
        assert time.monotonic() < deadline, "the tier never held a lease"
        time.sleep(0.005)
    return tier


def forget(client: redis.Redis, names: LeaseNames, *ids: str) -> float:
    """Invalidate `ids`; how long it took."""
    started = time.monotonic()
    invalidate(client, names, [], list(ids), LEASE, 60)
    return time.monotonic() - started


class SlowToAcknowledge(LocalTier):
    """A process that takes a while to handle each message (a busy interpreter)."""

    delay = 0.3

    def _handle(self, message: list) -> None:
        time.sleep(self.delay)
        super()._handle(message)


class Frozen(LocalTier):
    """A process whose lease thread stops at the first message: no acknowledgement, no renewal."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def _handle(self, message: list) -> None:
        if message[:1] == [b"message"]:
            self.release.wait(10)
        super()._handle(message)


def test_a_save_returns_once_every_process_has_dropped_the_entry(url, client, names, tiers):
    quick = [live(LocalTier(url, client, names, LEASE)) for _ in range(2)]
    slow = live(SlowToAcknowledge(url, client, names, LEASE))
    tiers += [*quick, slow]
    for tier in tiers:
        tier.keep("acmeinc", b"old", tier.epoch)
        tier.keep("other", b"kept", tier.epoch)
    took = forget(client, names, "acmeinc")
    assert took >= SlowToAcknowledge.delay  # it waited for the slow one
    assert took < LEASE  # which acknowledged before its lease ran out
    assert [tier.lookup("acmeinc") for tier in tiers] == [None] * 3
    assert [tier.lookup("other") for tier in tiers] == [b"kept"] * 3  # only what was named


def test_with_every_process_quick_a_save_waits_milliseconds(url, client, names, tiers):
    tiers += [live(LocalTier(url, client, names, LEASE)) for _ in range(3)]
    took = sorted(forget(client, names, "acmeinc") for _ in range(20))
    assert took[10] < 0.05


def test_a_process_that_stops_renewing_stops_answering_before_the_saver_gives_up(url, client, names, tiers):
    frozen = live(Frozen(url, client, names, LEASE))
    tiers.append(frozen)
    frozen.keep("acmeinc", b"old", frozen.epoch)
    returned: list[float] = []
    saver = threading.Thread(
        target=lambda: returned.append(forget(client, names, "acmeinc") and time.monotonic())
    )
    started = time.monotonic()
    saver.start()
    stopped_serving = None
    while saver.is_alive():
        if stopped_serving is None and not frozen.serving():
            stopped_serving = time.monotonic()
        if stopped_serving is None:
            assert frozen.lookup("acmeinc") in (b"old", None)
        time.sleep(0.001)
    saver.join()
    assert stopped_serving is not None and stopped_serving <= returned[0]
    assert frozen.lookup("acmeinc") is None  # it no longer answers from memory at all
    assert returned[0] - started <= LEASE + 0.15  # the saver waited no longer than one lease
    frozen.release.set()


def test_a_killed_process_delays_a_save_by_at_most_one_lease(url, client, names):
    code = (
        "import sys, time, redis\n"
        "from sessioncloud.lib.leases import LeaseNames, LocalTier\n"
        f"tier = LocalTier({url!r}, redis.Redis.from_url({url!r}), LeaseNames({names.base!r}), {LEASE})\n"
        "tier.start()\n"
        "while not tier.serving(): time.sleep(0.005)\n"
        "print('live', flush=True)\n"
        "time.sleep(30)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "live"
        time.sleep(LEASE / 3 + 0.05)  # let it renew once more: its lease is then nearly whole
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)
        expiry = max(int(value) for value in client.hgetall(names.leases).values())
        took = forget(client, names, "acmeinc")
        seconds, micros = client.time()
        assert seconds * 1000 + micros // 1000 >= expiry  # it waited for the lease to run out...
        assert took <= LEASE + 0.1  # ...and no longer
        assert forget(client, names, "acmeinc") < 0.05  # the next save does not wait for it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_lost_subscription_stops_answering_from_memory_and_starts_over_empty(url, client, names, tiers):
    tier = live(LocalTier(url, client, names, LEASE))
    tiers.append(tier)
    tier.keep("acmeinc", b"old", tier.epoch)
    (connection,) = [c for c in client.client_list() if c.get("name") == tier.connection_name]
    client.client_kill_filter(_id=connection["id"])
    deadline = time.monotonic() + 0.5
    while tier.serving():
        assert time.monotonic() < deadline, "still answering from memory without its subscription"
        time.sleep(0.001)
    assert tier.lookup("acmeinc") is None
    live(tier)  # it subscribes again, renews its lease...
    assert tier.lookup("acmeinc") is None  # ...and keeps nothing from before: it may have missed messages


def test_an_entry_read_before_an_invalidation_is_not_kept_after_it(url, client, names, tiers):
    tier = live(LocalTier(url, client, names, LEASE))
    tiers.append(tier)
    epoch = tier.epoch  # a request reads the old entry from Redis...
    forget(client, names, "acmeinc")  # ...a save is handled meanwhile...
    tier.keep("acmeinc", b"old", epoch)  # ...and the request tries to keep what it read
    assert tier.lookup("acmeinc") is None
    tier.keep("acmeinc", b"new", tier.epoch)  # read after the save: kept
    assert tier.lookup("acmeinc") == b"new"


def test_the_registry_lost_is_no_stale_answer(url, client, names, tiers):
    # FLUSHDB (cache.clear()) or any loss of the registry: every subscriber still acknowledges.
    tier = live(SlowToAcknowledge(url, client, names, LEASE))
    tiers.append(tier)
    client.delete(names.leases)
    tier.keep("acmeinc", b"old", tier.epoch)
    assert forget(client, names, "acmeinc") >= SlowToAcknowledge.delay
    assert tier.lookup("acmeinc") is None
    # And at its next renewal it notices it was not registered: it starts over empty.
    tier.keep("other", b"kept", tier.epoch)
    client.delete(names.leases)
    time.sleep(LEASE / 3 + SlowToAcknowledge.delay + 0.1)
    assert tier.lookup("other") is None
    assert live(tier) and client.hexists(names.leases, tier._token)


def test_forgetting_everything_empties_every_process(url, client, names, tiers):
    tiers += [live(LocalTier(url, client, names, LEASE)) for _ in range(2)]
    for tier in tiers:
        tier.keep("acmeinc", b"old", tier.epoch)
    forget(client, names, ALL)
    assert [tier.entries for tier in tiers] == [{}, {}]


def test_a_clean_exit_deregisters(url, client, names):
    tier = live(LocalTier(url, client, names, LEASE))
    assert client.hexists(names.leases, tier._token)
    tier.stop()
    assert not tier.serving()
    assert not client.hexists(names.leases, tier._token)
    assert forget(client, names, "acmeinc") < 0.05


def test_a_forked_child_answers_nothing_from_memory(url, client, names, tiers):
    tier = live(LocalTier(url, client, names, LEASE))
    tiers.append(tier)
    tier.keep("acmeinc", b"old", tier.epoch)
    pid = os.fork()
    if pid == 0:  # the child: no lease thread, no subscription of its own
        os._exit(0 if not tier.serving() and tier.lookup("acmeinc") is None and tier.entries == {} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert tier.lookup("acmeinc") == b"old"  # the parent is unaffected


def test_a_save_without_any_process_does_not_wait(client, names):
    assert forget(client, names, "acmeinc") < 0.05


def test_after_a_redis_restart_a_save_waits_until_one_lease_after_it():
    # Registry and subscriptions are gone; processes connected before hold leases for at most
    # one lease after Redis stopped, and Redis stopped before it started.
    assert _restart_until(now=10_000, uptime_seconds=1, lease_ms=2000) == 11_000
    assert _restart_until(now=10_000, uptime_seconds=3, lease_ms=2000) == 0
