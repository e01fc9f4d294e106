"""The phone pool serves each App's queue in turn: one App's burst does not hold up another's."""

from __future__ import annotations

import threading

import pytest

from sessioncloud.lib.fairpool import FairPool


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


@pytest.mark.django_db
def test_a_request_queues_as_its_app_once_the_app_is_known_to_be_served(app):
    import contextvars

    from sessioncloud.api.phone import queue_for
    from sessioncloud.providers.config import get_rendered_config
    from sessioncloud.serving import pools

    def key_for(provider_id: str) -> str:
        context = contextvars.copy_context()
        context.run(queue_for, provider_id)
        return context[pools._queue_key]

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
