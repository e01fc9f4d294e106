"""The database driver's own cursor, for the few fixed statements every provisioning call runs.

Django's cursor wrapper rewrites each SQLite statement's `%s` placeholders with a regular
expression on every execution: for the App-and-device lookup (1.2 KB of SQL) that was half the
statement's cost, about 50 µs of a call's CPU (bench/provision_cpu.py). The statements here are
built once with the backend's own quoting (providers/lookup.py, providers/ledger.py) and need
nothing else of the wrapper, so they run on the driver's cursor of the same connection, with
the same transaction and adapters, and the driver's errors still become Django's.

On PostgreSQL the statements are prepared once per connection (settings.py), so that PostgreSQL
does not plan them again on every call. Two things can take a prepared statement away: a pooler
in transaction mode that hands the next statement to another server connection (this process
then stops preparing), and a migration that changes the type of a column a statement reads (the
connection then plans again). Either way the statement runs once more, unless it was inside a
transaction, which has failed; the provisioning calls run theirs outside one.

On the embedded database (SQLite, in this process) a provisioning call's statements may also
run on the event loop itself, on a connection of its own (`on_loop`, serving/pools.py): a
statement there never waits. A read that meets a lock raises `NotNow`, and the whole piece of
work goes to the phone pool instead; writes are handed over (`defer`) and made after the work,
on the loop when the database is free at once, else in the pool.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from django.db import DatabaseError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger("sessioncloud.providers")

# Whether this process's PostgreSQL connections may prepare statements (DATABASE_PREPARED_STATEMENTS
# sets them to), until a pooler shows they do not survive from one statement to the next.
_preparing_works = True

# What Django's SQLite backend rewrites: a `%s` not preceded by another `%`.
_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


class NotNow(Exception):
    """The event loop's connection cannot run a statement without waiting: use the phone pool."""


class DeferredWrite(Protocol):
    def now(self, database: BaseDatabaseWrapper) -> bool:
        """Write on the loop's connection if that needs no waiting; False when it would."""

    def later(self) -> None:
        """Write in the phone pool (blocking), as the work would have outside the loop."""


@dataclass
class LoopSession:
    """One piece of work running on the event loop: its connection and the writes it handed over."""

    database: BaseDatabaseWrapper
    writes: list[DeferredWrite] = field(default_factory=list)


_session: ContextVar[LoopSession | None] = ContextVar("loop_session", default=None)


@contextmanager
def on_loop(session: LoopSession) -> Iterator[None]:
    """Inside this block the fixed statements use the session's database, the loop's own."""
    token = _session.set(session)
    try:
        yield
    finally:
        _session.reset(token)


def running_on_loop() -> bool:
    return _session.get() is not None


def current_database() -> BaseDatabaseWrapper:
    """The connection the fixed statements use here: the loop's own, or Django's of this thread."""
    session = _session.get()
    return connection if session is None else session.database


def defer(write: DeferredWrite) -> bool:
    """Hand a write to the loop's session, to be made after the work; False outside one."""
    session = _session.get()
    if session is None:
        return False
    session.writes.append(write)
    return True


@lru_cache(maxsize=64)
def driver_sql(sql: str, vendor: str) -> str:
    """`sql`, written with Django's `%s` placeholders, in the form the driver of `vendor` takes."""
    if vendor == "sqlite":
        return _FORMAT_PLACEHOLDER.sub("?", sql).replace("%%", "%")
    return sql  # psycopg takes `%s` itself


@contextmanager
def driver_cursor() -> Iterator[Any]:
    """A cursor of the driver on Django's connection of this thread, errors wrapped as Django's."""
    session = _session.get()
    if session is not None:
        with _loop_cursor(session.database) as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        # psycopg: parameters sent apart from the statement (its C dumpers), not quoted into
        # the text in Python as Django's cursor does; prepared when the connection is set to
        # (DATABASE_PREPARED_STATEMENTS, settings.py).
        if connection.vendor == "postgresql":
            if not _preparing_works:
                raw.prepare_threshold = None
            cursor = psycopg.Cursor(raw)
        else:
            cursor = raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


@contextmanager
def _loop_cursor(database: BaseDatabaseWrapper) -> Iterator[Any]:
    cursor = database.connection.cursor()
    try:
        with database.wrap_database_errors:
            yield cursor
    except DatabaseError as error:
        # A lock (the connection never waits), or worse: the pool's connection will say which.
        raise NotNow from error
    finally:
        cursor.close()


def execute(cursor: Any, sql: str, params: list[Any]) -> None:
    statement = driver_sql(sql, current_database().vendor)
    try:
        cursor.execute(statement, params)
    except psycopg.errors.FeatureNotSupported:
        if not _forgot_outdated_plans(cursor):
            raise
        cursor.execute(statement, params)
    except (psycopg.errors.InvalidSqlStatementName, psycopg.errors.DuplicatePreparedStatement):
        if not _stopped_preparing(cursor):
            raise
        cursor.execute(statement, params)


def _stopped_preparing(cursor: Any) -> bool:
    """After "prepared statement ... does not exist" (or "already exists"): a pooler in
    transaction mode (PgBouncer before 1.21) sends each transaction to whichever of its server
    connections is free, where the statements prepared through another do not exist. This
    process prepares nothing from now on, and the caller may run its statement once more (False
    inside a transaction, which has failed)."""
    global _preparing_works
    if _preparing_works:
        _preparing_works = False
        log.warning(
            "PostgreSQL's prepared statements do not last between statements here (a pooler in "
            "transaction mode?): this process stops preparing them; set "
            "DATABASE_PREPARED_STATEMENTS=off to start without them"
        )
    connection = cursor.connection
    connection.prepare_threshold = None
    return connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def _forgot_outdated_plans(cursor: Any) -> bool:
    """After "cached plan must not change result type" (a migration changed the type of a column
    a statement prepared before it reads), the connection's prepared statements are dropped and
    the caller may run its statement once more; False inside a transaction, which has failed
    (its rollback drops them: psycopg watches for it)."""
    connection = cursor.connection
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    connection.execute("DEALLOCATE ALL")  # psycopg forgets its own record of them too
    return True
