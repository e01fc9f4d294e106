"""How many phone threads a worker gets when nobody says: fewer beside a local PostgreSQL."""

from __future__ import annotations

import pytest

from sessioncloud import server
from sessioncloud.serving.pools import (
    DEFAULT_PHONE_THREADS,
    LOCAL_POSTGRESQL_PHONE_THREADS,
    default_phone_threads,
)


@pytest.mark.parametrize(
    "database_url",
    [
        "postgres://sessioncloud@127.0.0.1:5432/sessioncloud",
        "postgresql://sessioncloud:secret@localhost/sessioncloud",
        "postgres://sessioncloud@[::1]:5432/sessioncloud",
        "postgres:///sessioncloud",  # the default Unix socket
        "postgres://%2Fvar%2Frun%2Fpostgresql/sessioncloud",
    ],
)
def test_postgresql_on_this_machine_gets_fewer_threads(database_url: str) -> None:
    assert default_phone_threads(database_url) == LOCAL_POSTGRESQL_PHONE_THREADS < DEFAULT_PHONE_THREADS


@pytest.mark.parametrize(
    "database_url",
    [
        None,  # the embedded database
        "sqlite:////var/lib/sessioncloud/db.sqlite3",
        "postgres://sessioncloud@db.internal:5432/sessioncloud",
        "postgres://sessioncloud@10.0.0.5/sessioncloud",
        "postgres://sessioncloud@[2001:db8::5]:5432/sessioncloud",
    ],
)
def test_the_embedded_database_or_one_across_a_network_gets_the_default(database_url: str | None) -> None:
    assert default_phone_threads(database_url) == DEFAULT_PHONE_THREADS


def test_serve_sizes_its_pool_from_the_database_unless_told(monkeypatch) -> None:
    monkeypatch.delenv("SESSIONCLOUD_PHONE_THREADS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://sessioncloud@127.0.0.1:5432/sessioncloud")
    assert server.parse_args([]).phone_threads == LOCAL_POSTGRESQL_PHONE_THREADS

    monkeypatch.setenv("DATABASE_URL", "postgres://sessioncloud@db.internal:5432/sessioncloud")
    assert server.parse_args([]).phone_threads == DEFAULT_PHONE_THREADS

    monkeypatch.setenv("SESSIONCLOUD_PHONE_THREADS", "5")
    assert server.parse_args([]).phone_threads == 5
    assert server.parse_args(["--phone-threads", "3"]).phone_threads == 3
