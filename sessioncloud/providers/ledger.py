"""The device ledger and the provisioning log, written with one plain statement each.

Every provisioning call reads its device's state, then records the result and one log row. A
device enters the ledger only when it received accounts: a refused or failed attempt is a log
row, and updates a device only if the ledger knows it already (anyone can send made-up logins;
they must not fill a provider's device list).
Through the ORM those three statements cost about 1.3 ms of CPU per call, most of it compiling
the same SQL again (docs/performance.md, section 2); prepared once here from the models'
metadata they cost about a third of that. The statements are standard SQL that SQLite (3.35+)
and PostgreSQL both run: an upsert keyed by the ledger's unique constraint (app, deviceId).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from dataclasses import dataclass
from functools import cache

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from sessioncloud.providers.models import Device, DeviceStatus, ProvisioningLogEntry
from sessioncloud.providers.statements import current_database, defer, driver_cursor, driver_sql, execute


@dataclass(frozen=True)
class DeviceState:
    """What the ledger knew of a device before this call (nothing yet for a new one)."""

    status: str = DeviceStatus.ACTIVE
    accounts_hash: str = ""

    @property
    def deactivated(self) -> bool:
        return self.status == DeviceStatus.DEACTIVATED


@dataclass(frozen=True)
class DeviceVisit:
    """What one call tells the ledger about a device."""

    device_id: str
    username: str
    platform: str
    app_version: str
    end_user_id: int | None
    result: str
    # The digest of the accounts handed out; None when the call handed out none (the device is
    # then only updated if known, and keeps the digest it has).
    accounts_hash: str | None = None


# Only quoted names from the models' metadata are put into the SQL text; every value is a
# query parameter.
def _column(model: type, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# Built on first use, when the database backend (and its quoting) is known.
@cache
def _state_sql() -> str:
    return (
        f"SELECT {_column(Device, 'status')}, {_column(Device, 'accounts_hash')} FROM {_table(Device)} "  # noqa: S608
        f"WHERE {_column(Device, 'app')} = %s AND {_column(Device, 'device_id')} = %s"
    )


_VISIT_FIELDS = (
    "app",
    "device_id",
    "username",
    "end_user",
    "platform",
    "app_version",
    "first_seen",
    "last_seen",
    "last_result",
    "status",
    "accounts_hash",
)


@cache
def _visit_sql() -> str:
    table = _table(Device)
    col = {name: _column(Device, name) for name in _VISIT_FIELDS}

    def keep_unless_empty(name: str) -> str:
        # A phone that leaves a field out does not erase what an earlier call recorded.
        new, old = f"excluded.{col[name]}", f"{table}.{col[name]}"
        return f"{col[name]} = CASE WHEN {new} <> '' THEN {new} ELSE {old} END"

    updates = [
        keep_unless_empty("username"),
        keep_unless_empty("platform"),
        keep_unless_empty("app_version"),
        f"{col['end_user']} = COALESCE(excluded.{col['end_user']}, {table}.{col['end_user']})",
        f"{col['last_seen']} = excluded.{col['last_seen']}",
        f"{col['last_result']} = excluded.{col['last_result']}",
        # The status is the provider's decision (deactivation); a phone's call never changes it.
        f"{col['accounts_hash']} = excluded.{col['accounts_hash']}",
    ]
    columns = ", ".join(col[name] for name in _VISIT_FIELDS)
    placeholders = ", ".join(["%s"] * len(_VISIT_FIELDS))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({col['app']}, {col['device_id']}) DO UPDATE SET {', '.join(updates)}"
    )


_LOG_FIELDS = (
    "app",
    "created",
    "device_id",
    "username",
    "flow",
    "outcome",
    "error_code",
    "detail",
    "upstream_status",
    "upstream_latency_ms",
    "accounts",
)


@cache
def _log_sql() -> str:
    columns = ", ".join(_column(ProvisioningLogEntry, name) for name in _LOG_FIELDS)
    placeholders = ", ".join(["%s"] * len(_LOG_FIELDS))
    return f"INSERT INTO {_table(ProvisioningLogEntry)} ({columns}) VALUES ({placeholders})"  # noqa: S608


_sqlite_writer = threading.Lock()


def _now() -> object:
    # The value the ORM would send for a DateTimeField (naive UTC text on SQLite).
    return current_database().ops.adapt_datetimefield_value(timezone.now())


def device_state(app_id: int, device_id: str) -> DeviceState:
    with driver_cursor() as cursor:
        execute(cursor, _state_sql(), [app_id, device_id])
        row = cursor.fetchone()
    return DeviceState() if row is None else DeviceState(status=row[0], accounts_hash=row[1] or "")


def _visit_values(app_id: int, visit: DeviceVisit, now: object) -> list[object]:
    return [
        app_id,
        visit.device_id,
        visit.username[:256],
        visit.end_user_id,
        visit.platform[:20],
        visit.app_version[:40],
        now,
        now,
        visit.result[:40],
        DeviceStatus.ACTIVE.value,
        visit.accounts_hash or "",
    ]


@cache
def _touch_sql() -> str:
    """A call that handed out nothing: update the device if the ledger knows it, else nothing."""
    col = {name: _column(Device, name) for name in _VISIT_FIELDS}

    def keep_unless_empty(name: str) -> str:
        return f"{col[name]} = COALESCE(NULLIF(%s, ''), {col[name]})"

    updates = [
        keep_unless_empty("username"),
        keep_unless_empty("platform"),
        keep_unless_empty("app_version"),
        f"{col['end_user']} = COALESCE(%s, {col['end_user']})",
        f"{col['last_seen']} = %s",
        f"{col['last_result']} = %s",
    ]
    return (
        f"UPDATE {_table(Device)} SET {', '.join(updates)} "  # noqa: S608
        f"WHERE {col['app']} = %s AND {col['device_id']} = %s"
    )


def _touch_values(app_id: int, visit: DeviceVisit, now: object) -> list[object]:
    return [
        visit.username[:256],
        visit.platform[:20],
        visit.app_version[:40],
        visit.end_user_id,
        now,
        visit.result[:40],
        app_id,
        visit.device_id,
    ]


@dataclass(frozen=True)
class LogLine:
    device_id: str
    username: str
    flow: str
    outcome: str
    error_code: str = ""
    detail: str = ""
    upstream_status: int | None = None
    upstream_latency_ms: int | None = None
    accounts: int = 0


def _log_values(app_id: int, line: LogLine, created: object) -> list[object]:
    return [
        app_id,
        created,
        line.device_id[:128],
        line.username[:256],
        line.flow[:20],
        line.outcome[:20],
        line.error_code[:40],
        line.detail[:500],
        line.upstream_status,
        line.upstream_latency_ms,
        line.accounts,
    ]


def append_log(app_id: int, line: LogLine) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_log_sql(), _log_values(app_id, line, _now()))


@cache
def _with_log_sql(ledger_sql: str) -> str:
    # PostgreSQL runs a data-modifying WITH once and to completion whether or not the main
    # statement reads it: the ledger row and the log row in one round trip, and atomically.
    return f"WITH visit AS ({ledger_sql} RETURNING 1) {_log_sql()}"


def record_call(app_id: int, visit: DeviceVisit, line: LogLine) -> None:
    """The ledger row and the log row of one call (one statement where the database allows)."""
    now = _now()
    if visit.accounts_hash is not None:
        ledger_sql, ledger_values = _visit_sql(), _visit_values(app_id, visit, now)
    else:
        ledger_sql, ledger_values = _touch_sql(), _touch_values(app_id, visit, now)
    log_values = _log_values(app_id, line, now)
    if current_database().vendor == "postgresql":
        with driver_cursor() as cursor:
            execute(cursor, _with_log_sql(ledger_sql), ledger_values + log_values)
        return
    write = SqliteWrite(((ledger_sql, ledger_values), (_log_sql(), log_values)))
    if not defer(write):
        write.later()


def checkpoint_sqlite() -> None:
    """Copy SQLite's write-ahead log into the database, with this process's writers held off.

    The log starts again from its beginning only at a write that finds it wholly copied; a
    checkpoint racing a stream of writes never finishes, and the log would grow without end
    (a gigabyte in 20 s under 100 phones). SQLite's own automatic checkpoint runs in the
    committing writer, inside the writers' lock: this does the same for the loop's writes.
    """
    with _sqlite_writer, connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


@dataclass(frozen=True)
class SqliteWrite:
    """Statements SQLite runs in one transaction (it allows no INSERT inside WITH).

    SQLite has one writer at a time, and makes the others wait by sleeping and retrying (1, 2,
    5, 10, ... ms); this process's writers queue on a lock instead, and take turns without
    sleeping. On the event loop (providers/statements.py) a write is made only when the lock
    and the database are free at once.
    """

    statements: tuple[tuple[str, list[object]], ...]

    def later(self) -> None:
        with _sqlite_writer, transaction.atomic(), driver_cursor() as cursor:
            for sql, values in self.statements:
                execute(cursor, sql, values)

    def now(self, database: BaseDatabaseWrapper) -> bool:
        if not _sqlite_writer.acquire(blocking=False):
            return False
        try:
            return self._in_one_transaction(database.connection)
        finally:
            _sqlite_writer.release()

    def _in_one_transaction(self, raw: sqlite3.Connection) -> bool:
        try:
            raw.execute("BEGIN IMMEDIATE")  # fails at once if another process writes
        except sqlite3.Error:
            return False
        try:
            for sql, values in self.statements:
                raw.execute(driver_sql(sql, "sqlite"), values)
            raw.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
            return False  # the pool's connection writes it, or says what is wrong
        return True
