"""The bounded thread pools that run blocking work for the event loop.

`run_blocking` is how asynchronous code reaches the database or the shared cache. Under the
event loop it hands the work to the phone pool, a fixed number of threads each holding at most
one database connection; a provider's service is never waited on there. Code that was entered
from a thread that already holds a request (Django's test client, a sync view calling the phone
API's core) runs it on that thread instead, inside its transaction, as Django itself would.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_PHONE_THREADS = 8

_on_caller_thread: contextvars.ContextVar[bool] = contextvars.ContextVar("on_caller_thread", default=False)
_phone_pool: ThreadPoolExecutor | None = None


def phone_pool() -> ThreadPoolExecutor:
    global _phone_pool
    if _phone_pool is None:
        _phone_pool = ThreadPoolExecutor(DEFAULT_PHONE_THREADS, thread_name_prefix="sessioncloud-phone")
    return _phone_pool


def start_pools(phone_threads: int) -> None:
    """Size the phone pool for this process (the server calls it once per worker)."""
    global _phone_pool
    if _phone_pool is not None:
        _phone_pool.shutdown(wait=False)
    _phone_pool = ThreadPoolExecutor(phone_threads, thread_name_prefix="sessioncloud-phone")


def stop_pools() -> None:
    global _phone_pool
    if _phone_pool is not None:
        _phone_pool.shutdown(wait=True)
        _phone_pool = None


async def run_blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `function` in the phone pool, and wait for it without blocking the loop."""
    work = functools.partial(function, *args, **kwargs)
    if _on_caller_thread.get():  # inside a Django request: its cycle looks after connections
        return await sync_to_async(work, thread_sensitive=True)()
    return await asyncio.get_running_loop().run_in_executor(phone_pool(), _unit_of_work, work)


async def run_in(pool: ThreadPoolExecutor, function: Callable[..., T], *args: object) -> T:
    """Run `function` on `pool` (or on the caller's thread, see blocking_on_caller_thread)."""
    if _on_caller_thread.get():
        return await sync_to_async(function, thread_sensitive=True)(*args)
    return await asyncio.get_running_loop().run_in_executor(pool, function, *args)


def _unit_of_work(work: Callable[[], T]) -> T:
    # What Django does around each request: drop connections that broke or aged, and give a
    # pooled one back afterwards.
    close_old_connections()
    try:
        return work()
    finally:
        close_old_connections()


@contextmanager
def blocking_on_caller_thread() -> Iterator[None]:
    """Inside this block, blocking work runs on the thread that entered it (Django's views)."""
    token = _on_caller_thread.set(True)
    try:
        yield
    finally:
        _on_caller_thread.reset(token)
