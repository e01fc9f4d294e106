"""The bounded thread pools that run blocking work for the event loop.

`run_blocking` is how asynchronous code reaches the database or the shared cache. Under the
event loop it hands the work to the phone pool, a fixed number of threads each holding at most
one database connection, which serves each App's requests in turn; a provider's service is never
waited on there. Code that was entered
from a thread that already holds a request (Django's test client, a sync view calling the phone
API's core) runs it on that thread instead, inside its transaction, as Django itself would.

`run_quick` is for the provisioning call's own pieces: with the embedded database (SQLite, in
this process) they run on the loop itself, on a connection that never waits, taking turns per
App (`LoopTurns`); anything that would wait goes to the phone pool as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import dj_database_url
from asgiref.sync import sync_to_async
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from sessioncloud.lib.fairpool import FairPool
from sessioncloud.providers.statements import LoopSession, NotNow, on_loop

log = logging.getLogger("sessioncloud.serving")
P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_PHONE_THREADS = 8
# With PostgreSQL on this machine (docs/deployment.md, docs/performance.md): its round trips are
# short, so two threads keep up, and every further thread's connection is a backend process
# competing for the same cores when a wave of calls comes back at once.
LOCAL_POSTGRESQL_PHONE_THREADS = 2
_LOOPBACK_HOSTS = {"", "localhost", "::1"}  # "": the default Unix socket
# Work not known to belong to a served App shares one queue (a flood of made-up ProviderIds
# gets one turn, not one per name).
UNKNOWN = "-"

_on_caller_thread: contextvars.ContextVar[bool] = contextvars.ContextVar("on_caller_thread", default=False)
_queue_key: contextvars.ContextVar[str] = contextvars.ContextVar("queue_key", default=UNKNOWN)
_phone_pool: FairPool | None = None
# The event loop's own SQLite connection (start_loop_database), and how often its writes are
# followed by a checkpoint in the pool: about what SQLite's own automatic checkpoint would do
# (every 1,000 pages, about 4 MB; a provisioning call's rows and their indexes are some ten).
_loop_database: BaseDatabaseWrapper | None = None
CHECKPOINT_EVERY = 100
_writes_since_checkpoint = 0
_checkpoints: set[asyncio.Future[None]] = set()


def default_phone_threads(database_url: str | None) -> int:
    """The phone pool's threads per worker when not set: fewer with PostgreSQL on this machine
    (on loopback or a Unix socket), the default with a database across a network, where a
    thread waits out its work's round trips, and with the embedded database."""
    if not database_url:
        return DEFAULT_PHONE_THREADS
    database = dj_database_url.parse(database_url)  # as settings.py reads it
    host = database.get("HOST") or ""
    local = host in _LOOPBACK_HOSTS or host.startswith(("127.", "/"))
    on_this_machine = database["ENGINE"] == "django.db.backends.postgresql" and local
    return LOCAL_POSTGRESQL_PHONE_THREADS if on_this_machine else DEFAULT_PHONE_THREADS


def configured_phone_threads() -> int:
    """SESSIONCLOUD_PHONE_THREADS (`serve --phone-threads` sets it for its workers), else the
    default for DATABASE_URL."""
    return int(
        os.environ.get("SESSIONCLOUD_PHONE_THREADS") or default_phone_threads(os.environ.get("DATABASE_URL"))
    )


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


async def run_quick(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """run_blocking for work whose only waits could be the provisioning call's fixed statements
    (providers/statements.py): with the embedded database it runs on the loop itself.

    SQLite lives in this process: a statement costs tens of microseconds of CPU and no waiting,
    less than handing the work to a thread and back (measured in docs/performance.md). The work
    runs on the loop's own connection, which never waits for a lock: a read that would is
    `NotNow`, and the whole work goes to the phone pool instead; its writes are made after it,
    on the loop when the database is free at once, else in the pool.
    """
    database = _loop_database
    if database is None or _on_caller_thread.get():
        return await run_blocking(function, *args, **kwargs)
    await loop_turns().turn(_queue_key.get())
    session = LoopSession(database)
    try:
        with on_loop(session):
            result = function(*args, **kwargs)
    except (NotNow, SynchronousOnlyOperation):  # the latter: work that needs Django's connection
        return await run_blocking(function, *args, **kwargs)  # which makes its own writes
    except BaseException:
        await _make_writes(session)
        raise
    await _make_writes(session)
    return result


class LoopTurns:
    """Pieces of work on the loop, a few per turn of the loop, each App's in turn when they queue.

    A burst of one App's calls (1,000 phones whose slow provider answers all at once) would
    otherwise run its pieces back to back, and every other request on the loop, another App's
    config fetch included, would wait for all of them. Up to PER_ITERATION pieces run in one
    turn of the loop (where the loop has time for nothing else); past that they wait, in a queue
    per App, and each later turn takes one piece from each App with work waiting, in rotation,
    as the phone pool's threads do (lib/fairpool.py).
    """

    PER_ITERATION = 8

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._ran = 0  # pieces let run in this turn of the loop
        self._turn_ends = False  # whether the end of this turn is scheduled
        self._waiting: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    async def turn(self, key: str) -> None:
        """Return when a piece of `key`'s work may run (at once, unless the loop is busy)."""
        if not self._waiting and self._ran < self.PER_ITERATION:
            self._count()
            return
        waiter = self._loop.create_future()
        self._waiting.setdefault(key, deque()).append(waiter)
        self._end_turn_soon()
        await waiter

    def _count(self) -> None:
        self._ran += 1
        self._end_turn_soon()

    def _end_turn_soon(self) -> None:
        if not self._turn_ends:
            self._turn_ends = True
            self._loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._turn_ends = False
        self._ran = 0
        while self._waiting and self._ran < self.PER_ITERATION:
            key, queue = next(iter(self._waiting.items()))
            waiter = queue.popleft()
            if queue:
                self._waiting.move_to_end(key)
            else:
                del self._waiting[key]
            if not waiter.done():  # a phone that went away no longer waits
                waiter.set_result(None)
                self._count()


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopTurns] = weakref.WeakKeyDictionary()


def loop_turns() -> LoopTurns:
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = LoopTurns(loop)
    return turns


async def _make_writes(session: LoopSession) -> None:
    global _writes_since_checkpoint
    for write in session.writes:
        await _checkpoint_done()
        if write.now(session.database):
            _writes_since_checkpoint += 1
        else:
            await run_blocking(write.later)
    if _writes_since_checkpoint >= CHECKPOINT_EVERY and not _checkpoints:
        _writes_since_checkpoint = 0
        _start_checkpoint()


async def _checkpoint_done() -> None:
    """Wait for a checkpoint under way: it holds the writers' lock, and a write handed to the
    pool meanwhile would only wait there for the same lock, at the price of two hand-offs."""
    for running in list(_checkpoints):
        with contextlib.suppress(Exception):  # a failed checkpoint is logged where it ran
            await asyncio.shield(running)


def _start_checkpoint() -> None:
    """Copy the write-ahead log into the database in the pool: the loop's connection never does
    (it could wait on the disk), and it writes most of what the log holds."""
    task = asyncio.ensure_future(run_blocking(_checkpoint))
    _checkpoints.add(task)
    task.add_done_callback(_checkpoints.discard)


def _checkpoint() -> None:
    # Imported here: this module is loaded before Django is set up (the server sizes the pools).
    from sessioncloud.providers.ledger import checkpoint_sqlite

    try:
        checkpoint_sqlite()
    except Exception:
        log.exception("checkpoint of the write-ahead log failed")
        raise


def start_loop_database() -> None:
    """Give this process's event loop a SQLite connection of its own (nothing with another database)."""
    global _loop_database
    if connection.vendor != "sqlite" or _loop_database is not None:
        return
    database = connections.create_connection(DEFAULT_DB_ALIAS)
    # Django opens connections only where no event loop runs.
    with ThreadPoolExecutor(1) as opener:
        opener.submit(_open_for_loop, database).result()
    _loop_database = database


def _open_for_loop(database: BaseDatabaseWrapper) -> None:
    database.connect()
    raw = database.connection
    raw.execute("PRAGMA busy_timeout = 0")  # a lock is NotNow, never a wait
    raw.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run in the pool (_checkpoint)


def stop_loop_database() -> None:
    global _loop_database
    _turns.clear()
    database, _loop_database = _loop_database, None
    if database is not None and database.connection is not None:
        database.connection.close()


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
    for database in connections.all(initialized_only=True):
        if database.connection is None:
            continue
        obsolete = database.close_at is not None and time.monotonic() >= database.close_at
        left_open = database.get_autocommit() != database.settings_dict["AUTOCOMMIT"]
        if database.errors_occurred or obsolete or left_open:
            database.close_if_unusable_or_obsolete()


@contextmanager
def blocking_on_caller_thread() -> Iterator[None]:
    """Inside this block, blocking work runs on the thread that entered it (Django's views)."""
    token = _on_caller_thread.set(True)
    try:
        yield
    finally:
        _on_caller_thread.reset(token)
