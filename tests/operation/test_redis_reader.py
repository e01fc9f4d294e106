"""The minimal Redis reader behind the config fast path, against the real Redis."""

from __future__ import annotations

import os

import pytest
import redis

from sessioncloud.lib.redisread import RedisReader, RedisReadError

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the real Redis (REDIS_URL)")


@pytest.fixture
def client() -> redis.Redis:
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def test_it_reads_values_and_ranges_as_redis_py_does(client):
    client.set("reader:test", b'0123456789\n{"body": true}', ex=60)
    reader = RedisReader(os.environ["REDIS_URL"])
    assert reader.get("reader:test") == client.get("reader:test")
    assert reader.getrange("reader:test", 0, 9) == b"0123456789"
    assert reader.get("reader:absent") is None
    assert reader.getrange("reader:absent", 0, 9) == b""


def test_it_reads_a_value_larger_than_one_socket_read(client):
    value = os.urandom(300_000)
    client.set("reader:large", value, ex=60)
    assert RedisReader(os.environ["REDIS_URL"]).get("reader:large") == value


def test_it_reconnects_after_losing_its_connection(client):
    client.set("reader:test", b"value", ex=60)
    reader = RedisReader(os.environ["REDIS_URL"])
    assert reader.get("reader:test") == b"value"
    host, port = reader._local.conn.sock.getsockname()[:2]
    client.client_kill_filter(addr=f"{host}:{port}")  # only the reader's connection
    with pytest.raises(RedisReadError):
        reader.get("reader:test")
    assert reader.get("reader:test") == b"value"


def test_it_reports_a_server_error(client):
    client.rpush("reader:list", b"x")
    client.expire("reader:list", 60)
    with pytest.raises(RedisReadError, match="WRONGTYPE"):
        RedisReader(os.environ["REDIS_URL"]).get("reader:list")


def test_it_refuses_urls_it_cannot_serve():
    with pytest.raises(ValueError, match="rediss"):
        RedisReader("rediss://cache.example:6380/0")
