"""The App a provisioning call is for (and its device's ledger state), read fresh on every call.

Provisioning must act on the App as it is now (a provider who changes the service URL or turns
external provisioning off expects the next call to follow), so the row is read on every call.
What is kept between calls is only the work of turning that row into an App: the ORM compiling
the query (about 1 ms of CPU), converting the columns and decrypting the secrets. Each process
remembers the App it built from a row's exact column values; a row that differs in any column
(`updated` moves on every save) is built anew. The logos' bytes are never read.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field

from sessioncloud.accounts.models import Organization
from sessioncloud.providers.ledger import DeviceState
from sessioncloud.providers.models import App, Device
from sessioncloud.providers.statements import current_database, driver_cursor, execute

# ProviderIds whose built App is kept (a few hundred bytes each); the oldest half goes beyond it.
MAX_REMEMBERED = 10_000

Converter = Callable[[Any, Any, Any], Any]

_remembered: dict[str, tuple[tuple[Any, ...], App]] = {}
_lock = threading.Lock()


@cache
def _fields() -> tuple[Field, ...]:
    return tuple(App._meta.concrete_fields)


@cache
def _select_sql() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"a.{quote(field.column)}" for field in _fields())
    provider_id = quote(App._meta.get_field("provider_id").column)
    enabled = quote(App._meta.get_field("enabled").column)
    device = {
        name: quote(Device._meta.get_field(name).column)
        for name in ("app", "device_id", "status", "accounts_hash")
    }
    organization = App._meta.get_field("organization")
    verified = quote(Organization._meta.get_field("verified").column)
    # LOWER(provider_id): the expression of the unique index, so this is an index lookup; the
    # device's ledger row comes along through the (app, deviceId) unique index, the organization
    # (served only when verified) through its primary key.
    # Only quoted names from the models' metadata go into the text; values are parameters.
    return (
        f"SELECT {columns}, d.{device['status']}, d.{device['accounts_hash']} "  # noqa: S608
        f"FROM {quote(App._meta.db_table)} a LEFT JOIN {quote(Device._meta.db_table)} d "
        f"ON d.{device['app']} = a.{quote(App._meta.pk.column)} AND d.{device['device_id']} = %s "
        f"JOIN {quote(Organization._meta.db_table)} o ON o.{quote(Organization._meta.pk.column)} = "
        f"a.{quote(organization.column)} "
        f"WHERE LOWER(a.{provider_id}) = %s AND a.{enabled} = %s AND o.{verified} = %s"
    )


@cache
def _converters() -> tuple[tuple[Any, tuple[Converter, ...]], ...]:
    # The same conversions the ORM applies to each column (backend's, then the field's own).
    result = []
    for field in _fields():
        column = field.get_col(App._meta.db_table)
        result.append(
            (
                column,
                tuple(connection.ops.get_db_converters(column)) + tuple(field.get_db_converters(connection)),
            )
        )
    return tuple(result)


def _build(row: Sequence[Any]) -> App:
    database = current_database()
    values = []
    for (column, converters), value in zip(_converters(), row, strict=True):
        for convert in converters:
            value = convert(value, column, database)
        values.append(value)
    return App.from_db(database.alias, [field.attname for field in _fields()], values)


def _remember(key: str, row: tuple[Any, ...], app: App) -> None:
    with _lock:
        if len(_remembered) >= MAX_REMEMBERED:
            for stale in list(_remembered)[: MAX_REMEMBERED // 2]:
                _remembered.pop(stale, None)
        _remembered[key] = (row, app)


def _select_params(key: str, device_id: str) -> list[Any]:
    """The values of `_select_sql`'s placeholders, in order: `key` is the lowered ProviderId."""
    return [device_id, key, True, True]


def enabled_app_and_device(provider_id: str, device_id: str) -> tuple[App, DeviceState] | None:
    """The enabled App with this ProviderId (any case), a private copy for the caller, and what its
    ledger knows of `device_id`, in one query; None for no such enabled App (or one of an
    unverified organization)."""
    key = provider_id.lower()
    with driver_cursor() as cursor:
        execute(cursor, _select_sql(), _select_params(key, device_id))
        found = cursor.fetchone()
    if found is None:
        return None
    *columns, status, accounts_hash = found
    device = (
        DeviceState() if status is None else DeviceState(status=status, accounts_hash=accounts_hash or "")
    )
    return _app_from(key, tuple(columns)), device


def _app_from(key: str, row: tuple[Any, ...]) -> App:
    remembered = _remembered.get(key)
    if remembered is not None and remembered[0] == row:
        app = remembered[1]
    else:
        app = _build(row)
        _remember(key, row, app)
    # Callers may set attributes on their App; the remembered one stays as it was read.
    return _private_copy(app)


def _private_copy(app: App) -> App:
    """What copy.copy(app) gives (a shallow copy, its own state), at a third of the cost."""
    clone = App.__new__(App)
    state = copy.copy(app._state)
    state.fields_cache = dict(app._state.fields_cache)
    clone.__dict__.update(app.__dict__)
    clone._state = state
    return clone
