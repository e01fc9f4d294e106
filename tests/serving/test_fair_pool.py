"""The phone pool serves each App's queue in turn: one App's burst does not hold up another's."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from sessioncloud.api.errors import ApiError
from sessioncloud.api.phone import begin_provision, queue_for
from sessioncloud.api.schemas import ProvisionIn
from sessioncloud.lib.fairpool import FairPool
from sessioncloud.providers.config import forget_config, get_rendered_config
from sessioncloud.providers.provision import Client
from sessioncloud.serving import pools


@pytest.fixture
def pool() -> FairPool:
    pool = FairPool(1, name="test")
    yield pool
    pool.shutdown()


def blocked_pool(pool: FairPool) -> threading.Event:
    """The pool's one thread held until the returned event is set, so work queues up."""
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    pool.submit("holder", hold)
    started.wait(10)
    return release


def test_a_key_with_one_piece_of_work_is_served_between_another_keys_burst(pool):
    order: list[str] = []
    release = blocked_pool(pool)
    burst = [pool.submit("busy-app", lambda n=n: order.append(f"busy-{n}")) for n in range(5)]
    quiet = pool.submit("quiet-app", lambda: order.append("quiet"))
    release.set()

    quiet.result(10)
    for future in burst:
        future.result(10)

    assert order == ["busy-0", "quiet", "busy-1", "busy-2", "busy-3", "busy-4"]


def test_work_of_one_key_runs_in_the_order_it_came(pool):
    order: list[int] = []
    release = blocked_pool(pool)
    futures = [pool.submit("app", lambda n=n: order.append(n)) for n in range(4)]
    release.set()
    for future in futures:
        future.result(10)

    assert order == [0, 1, 2, 3]


def test_an_exception_reaches_whoever_waits_for_the_work(pool):
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        pool.submit("app", fail).result(10)
    assert pool.submit("app", lambda: 42).result(10) == 42


def test_shutting_down_finishes_what_is_queued_and_refuses_more():
    pool = FairPool(1, name="test")
    release = blocked_pool(pool)
    queued = pool.submit("app", lambda: "done")
    release.set()
    pool.shutdown()

    assert queued.result(0) == "done"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit("app", lambda: None)


class Holder:
    """Work that counts itself started and holds its thread until released."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self) -> bool:
        self.started.release()
        return self.release.wait(10)

    def count_started(self, expected: int) -> int:
        """How many started: waits for `expected`, then briefly for one more."""
        count = sum(1 for _ in range(expected) if self.started.acquire(timeout=5))
        return count + (1 if self.started.acquire(timeout=0.3) else 0)


def test_beside_another_apps_work_a_burst_holds_no_more_than_its_share_of_the_threads():
    pool = FairPool(5, name="test", per_key=2)
    quiet, busy = Holder(), Holder()
    try:
        pool.submit("quiet-app", quiet)
        assert quiet.count_started(1) == 1
        burst = [pool.submit("busy-app", busy) for _ in range(4)]
        assert busy.count_started(2) == 2  # two threads stay free while the quiet App has work
        # The quiet App's next piece takes one of them at once.
        assert pool.submit("quiet-app", lambda: "served").result(5) == "served"
    finally:
        quiet.release.set()
        busy.release.set()
        pool.shutdown()
    assert all(future.result(0) for future in burst)


def test_an_app_alone_may_use_every_thread():
    # Its work waits on database and Redis round trips: alone, it needs them all to overlap.
    pool = FairPool(4, name="test", per_key=1)
    busy = Holder()
    try:
        burst = [pool.submit("busy-app", busy) for _ in range(4)]
        assert busy.count_started(4) == 4
    finally:
        busy.release.set()
        pool.shutdown()
    assert all(future.result(0) for future in burst)


def test_shutting_down_finishes_the_queued_work_of_a_key_at_its_share():
    pool = FairPool(2, name="test", per_key=1)
    release = threading.Event()
    first = pool.submit("app", lambda: release.wait(10))
    queued = [pool.submit("app", lambda n=n: n) for n in range(3)]
    release.set()
    pool.shutdown()

    assert first.result(0) is True
    assert [future.result(0) for future in queued] == [0, 1, 2]


def key_for(provider_id: str) -> str:
    """The phone pool queue a request naming `provider_id` would wait in."""
    context = contextvars.copy_context()
    context.run(queue_for, provider_id)
    return context[pools._queue_key]


@pytest.mark.django_db
def test_a_request_queues_as_its_app_once_the_app_is_known_to_be_served(app):
    assert key_for("AcmeInc") == "-"  # not in memory yet: the shared queue
    get_rendered_config("AcmeInc")
    assert (key_for("AcmeInc"), key_for("ACMEINC"), key_for("Nobody"), key_for("no!")) == (
        "acmeinc",
        "acmeinc",
        "-",
        "-",
    )
    get_rendered_config("Nobody")  # remembered as unknown: still the shared queue
    assert key_for("Nobody") == "-"


@pytest.mark.django_db
def test_an_app_found_by_a_provisioning_lookup_gets_a_queue_of_its_own(app):
    def provision(provider_id: str) -> None:
        payload = ProvisionIn(providerId=provider_id, username="1", password="x", deviceId="dev-1")
        with pytest.raises(ApiError):  # not in external mode, or not found: found served all the same
            begin_provision(payload, Client(device_id="dev-1", ip="127.0.0.1"))

    assert key_for("AcmeInc") == "-"
    provision("AcmeInc")
    provision("Nobody")
    assert (key_for("AcmeInc"), key_for("Nobody")) == ("acmeinc", "-")
    forget_config("AcmeInc")  # a save or a delete: found again before it is trusted
    assert key_for("AcmeInc") == "-"


def test_work_handed_in_from_an_event_loop_is_awaited_there(pool):
    async def hand_in() -> tuple[int, str]:
        answer = await pool.submit_to_loop("app", lambda: 42)
        with pytest.raises(ValueError, match="boom"):
            await pool.submit_to_loop("app", lambda: (_ for _ in ()).throw(ValueError("boom")))
        return answer, threading.current_thread().name

    assert asyncio.run(hand_in()) == (42, threading.current_thread().name)


def test_work_its_caller_stopped_awaiting_before_it_began_is_not_run(pool):
    ran: list[str] = []

    async def give_up() -> None:
        release = blocked_pool(pool)
        waiting = pool.submit_to_loop("app", lambda: ran.append("ran"))
        waiting.cancel()
        release.set()
        await pool.submit_to_loop("app", lambda: None)  # after the cancelled piece's turn

    asyncio.run(give_up())
    assert ran == []
