"""The hot statements' cursor: the driver's own, with Django's errors and placeholders."""

from __future__ import annotations

import pytest
from django.db import DatabaseError

from sessioncloud.providers.statements import driver_cursor, driver_sql, execute

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
