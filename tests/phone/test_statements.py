"""The hot statements' cursor: the driver's own, with Django's errors and placeholders, and
prepared on PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest
from django.db import DatabaseError, connection

from sessioncloud.providers.lookup import enabled_app_and_device
from sessioncloud.providers.models import App
from sessioncloud.providers.statements import driver_cursor, driver_sql, execute
from sessioncloud.settings import _database
from tests.factories import make_app

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
