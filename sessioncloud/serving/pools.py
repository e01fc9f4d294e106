"""The bounded thread pools that run blocking work for the event loop.

`run_blocking` is how asynchronous code reaches the database or the shared cache. Under the
event loop it hands the work to the phone pool, a fixed number of threads each holding at most
one database connection, which serves each App's requests in turn; a provider's service is never
waited on there. Code that was entered
from a thread that already holds a request (Django's test client, a sync view calling the phone
API's core) runs it on that thread instead, inside its transaction, as Django itself would.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

from sessioncloud.lib.fairpool import FairPool

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_PHONE_THREADS = 8
# Work not known to belong to a served App shares one queue (a flood of made-up ProviderIds
# gets one turn, not one per name).
UNKNOWN = "-"

_on_caller_thread: contextvars.ContextVar[bool] = contextvars.ContextVar("on_caller_thread", default=False)
_queue_key: contextvars.ContextVar[str] = contextvars.ContextVar("queue_key", default=UNKNOWN)
_phone_pool: FairPool | None = None


def phone_pool() -> FairPool:
    global _phone_pool
    if _phone_pool is None:
        _phone_pool = _new_phone_pool(DEFAULT_PHONE_THREADS)
    return _phone_pool


def _new_phone_pool(threads: int) -> FairPool:
    return FairPool(threads, name="sessioncloud-phone", per_key=threads_per_app(threads))


def threads_per_app(threads: int) -> int:
    """How many of the phone pool's threads one App's work may hold while other Apps have work:
    one in eight, so one with the default eight (lib/fairpool.py; an App alone may use them all).

    Measured beside a neighbour whose 1,000 phones' work arrives at once (docs/performance.md):
    with the burst on every thread, the other App's pieces of work waited for the interpreter
    lock behind all of them, and its provisioning kept 0.75 (embedded) and 0.72 (PostgreSQL) of
    its rate alone; with one thread each, 0.85 and 0.79-0.87 (two: 0.80; three or four: 0.79-0.80).
    Holding a lone App to its share as well cost PostgreSQL a quarter of its provisioning rate:
    its work waits on round trips, which need threads to overlap.
    """
    return max(1, threads // 8)


def start_pools(phone_threads: int) -> None:
    """Size the phone pool for this process (the server calls it once per worker)."""
    global _phone_pool
    if _phone_pool is not None:
        _phone_pool.shutdown(wait=False)
    _phone_pool = _new_phone_pool(phone_threads)


def stop_pools() -> None:
    global _phone_pool
    if _phone_pool is not None:
        _phone_pool.shutdown(wait=True)
        _phone_pool = None


def queue_as(key: str) -> None:
    """From here on in this request, its blocking work waits in `key`'s queue (its App's).

    The phone pool serves the queues in turn, so one App's burst of requests cannot hold up
    another App's (lib/fairpool.py).
    """
    _queue_key.set(key)


async def run_blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `function` in the phone pool, and wait for it without blocking the loop."""
    work = functools.partial(function, *args, **kwargs)
    if _on_caller_thread.get():  # inside a Django request: its cycle looks after connections
        return await sync_to_async(work, thread_sensitive=True)()
    return await phone_pool().submit_to_loop(_queue_key.get(), functools.partial(_unit_of_work, work))


async def run_in(pool: ThreadPoolExecutor, function: Callable[..., T], *args: object) -> T:
    """Run `function` on `pool` (or on the caller's thread, see blocking_on_caller_thread)."""
    if _on_caller_thread.get():
        return await sync_to_async(function, thread_sensitive=True)(*args)
    return await asyncio.get_running_loop().run_in_executor(pool, function, *args)


def _unit_of_work(work: Callable[[], T]) -> T:
    try:
        return work()
    finally:
        _tidy_connections()


def _tidy_connections() -> None:
    """What Django does after a request, only when there is something to do.

    A phone-pool thread keeps its database connection from one piece of work to the next (the
    pool is small and fixed, so are the connections). It is dropped when it broke, was left
    outside autocommit, or outlived CONN_MAX_AGE. Asking Django to check on every piece of work
    would also re-run its health check query each time: a round trip per piece of work.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        obsolete = connection.close_at is not None and time.monotonic() >= connection.close_at
        left_open = connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]
        if connection.errors_occurred or obsolete or left_open:
            connection.close_if_unusable_or_obsolete()


@contextmanager
def blocking_on_caller_thread() -> Iterator[None]:
    """Inside this block, blocking work runs on the thread that entered it (Django's views)."""
    token = _on_caller_thread.set(True)
    try:
        yield
    finally:
        _on_caller_thread.reset(token)
