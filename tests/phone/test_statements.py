"""The hot statements' cursor: the driver's own, with Django's errors and placeholders, and
prepared on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

from sessioncloud.providers import statements
from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.models import App
from sessioncloud.providers.statements import driver_cursor, driver_sql, execute
from sessioncloud.settings import _database
from tests.factories import make_app
from tests.livesrv import free_port

pytestmark = pytest.mark.django_db


def test_placeholders_become_the_drivers_own() -> None:
    sql = "SELECT %s, '100%%' WHERE x LIKE '%%s' AND y = %s"

    assert driver_sql(sql, "sqlite") == "SELECT ?, '100%' WHERE x LIKE '%s' AND y = ?"
    assert driver_sql(sql, "postgresql") == sql


def test_a_statement_runs_with_its_parameters_on_this_connection() -> None:
    with driver_cursor() as cursor:
        execute(cursor, "SELECT %s + %s", [2, 3])
        assert cursor.fetchone()[0] == 5


def test_a_driver_error_is_djangos_database_error() -> None:
    with pytest.raises(DatabaseError) as caught, driver_cursor() as cursor:
        execute(cursor, "SELECT * FROM no_such_table_here WHERE id = %s", [1])

    assert type(caught.value).__module__ == "django.db.utils"


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_on_postgresql_the_fixed_statements_are_prepared_and_djangos_queries_are_not(org) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_app(org, "PreparedInc")
    before = prepared_statements()

    for _ in range(3):
        assert enabled_app_and_device("PreparedInc", "device-1") is not None
    assert App.objects.filter(provider_id="PreparedInc").count() == 1

    added = [statement for statement in prepared_statements() if statement not in before]
    assert len(added) == 1  # the lookup, once for the connection, however often it runs
    assert "providers_device" in added[0] and "COUNT" not in added[0]


@pytest.mark.parametrize("setting, threshold", [(None, 0), ("on", 0), ("off", None)])
def test_prepared_statements_are_on_for_postgresql_unless_turned_off(monkeypatch, setting, threshold) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://sessioncloud@db.example:5432/sessioncloud")
    if setting is None:
        monkeypatch.delenv("DATABASE_PREPARED_STATEMENTS", raising=False)
    else:
        monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", setting)

    assert _database().get("OPTIONS", {}).get("prepare_threshold") == threshold


def test_the_embedded_database_has_no_prepare_setting(monkeypatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", "on")

    assert "prepare_threshold" not in _database()["OPTIONS"]


@pytest.mark.django_db(transaction=True)
def test_a_column_type_changed_under_a_prepared_statement_costs_no_call(org) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_app(org, "MigratedInc")
    assert enabled_app_and_device("MigratedInc", "device-1") is not None  # prepared now
    length = App._meta.get_field("name").max_length
    # A migration run from another machine while this one serves.
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute(f"ALTER TABLE providers_app ALTER COLUMN name TYPE varchar({length + 1})")
        try:
            found = enabled_app_and_device("MigratedInc", "device-1")
            again = enabled_app_and_device("MigratedInc", "device-1")
        finally:
            other.execute(f"ALTER TABLE providers_app ALTER COLUMN name TYPE varchar({length})")

    assert found is not None and found[0].provider_id == "MigratedInc"
    assert again is not None


PGBOUNCER = "/usr/sbin/pgbouncer"
PGBOUNCER_CONFIG = """
[databases]
* = host={host} port={port} user={user}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = any
pool_mode = transaction
; Each transaction may find another server connection: here always a reset one.
server_reset_query = DISCARD ALL
server_reset_query_always = 1
"""


@pytest.fixture
def through_pgbouncer(monkeypatch) -> Iterator[Any]:
    """Django's connection to the test database through PgBouncer 1.18 (Debian's) in transaction
    mode, where prepared statements do not last: the statements' module uses it meanwhile."""
    if connection.vendor != "postgresql":
        pytest.skip("PgBouncer pools PostgreSQL connections")
    if not Path(PGBOUNCER).exists():
        pytest.skip("PgBouncer is not installed (make services installs it)")
    listen, settings_dict = free_port(), connection.settings_dict
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    config = folder / "pgbouncer.ini"
    config.write_text(
        PGBOUNCER_CONFIG.format(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"] or "postgres",
            listen=listen,
        )
    )
    folder.chmod(0o755)
    # PgBouncer refuses to run as root: it takes PostgreSQL's user then.
    user = ["-u", "postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen([PGBOUNCER, *user, str(config)], stderr=subprocess.PIPE)
    pooled = type(connections[DEFAULT_DB_ALIAS])({**settings_dict, "PORT": listen}, alias="pgbouncer")
    try:
        wait_for_port(listen, process)
        monkeypatch.setattr(statements, "connection", pooled)
        monkeypatch.setattr(statements, "_preparing_works", True)
        yield pooled
    finally:
        process.terminate()
        process.communicate(timeout=10)
        pooled.close()
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("PgBouncer did not start listening")


@pytest.mark.django_db(transaction=True)
def test_behind_a_pooler_that_drops_prepared_statements_calls_go_on_unprepared(
    org, through_pgbouncer, caplog
) -> None:
    make_app(org, "PooledInc")

    found = [enabled_app_and_device("PooledInc", f"device-{n}") for n in range(4)]

    assert all(each is not None and each[0].provider_id == "PooledInc" for each in found)
    assert through_pgbouncer.connection.prepare_threshold is None
    warnings = [record for record in caplog.records if "prepared statements" in record.getMessage()]
    assert len(warnings) == 1
    assert "DATABASE_PREPARED_STATEMENTS=off" in warnings[0].getMessage()
