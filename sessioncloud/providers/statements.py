"""The database driver's own cursor, for the few fixed statements every provisioning call runs.

Django's cursor wrapper rewrites each SQLite statement's `%s` placeholders with a regular
expression on every execution: for the App-and-device lookup (1.2 KB of SQL) that was half the
statement's cost, about 50 µs of a call's CPU (bench/provision_cpu.py). The statements here are
built once with the backend's own quoting (providers/lookup.py, providers/ledger.py) and need
nothing else of the wrapper, so they run on the driver's cursor of the same connection, with
the same transaction and adapters, and the driver's errors still become Django's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from django.db import connection

# What Django's SQLite backend rewrites: a `%s` not preceded by another `%`.
_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


@lru_cache(maxsize=64)
def driver_sql(sql: str, vendor: str) -> str:
    """`sql`, written with Django's `%s` placeholders, in the form the driver of `vendor` takes."""
    if vendor == "sqlite":
        return _FORMAT_PLACEHOLDER.sub("?", sql).replace("%%", "%")
    return sql  # psycopg takes `%s` itself


@contextmanager
def driver_cursor() -> Iterator[Any]:
    """A cursor of the driver on Django's connection of this thread, errors wrapped as Django's."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        # psycopg: parameters sent apart from the statement (its C dumpers), not quoted into
        # the text in Python as Django's cursor does; prepared only if the connection is set to.
        cursor = psycopg.Cursor(raw) if connection.vendor == "postgresql" else raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


def execute(cursor: Any, sql: str, params: list[Any]) -> None:
    cursor.execute(driver_sql(sql, connection.vendor), params)
