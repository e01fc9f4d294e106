"""The minimal Redis client behind the phone paths' hot commands, against the real Redis."""

from __future__ import annotations

import os

import pytest
import redis

from sessioncloud.lib.rediscount import count_lean, counts_and_flags, window_counter
from sessioncloud.lib.redisread import RedisReader, RedisReadError
from sessioncloud.provisioning.breaker import RedisBreakerStore

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


def test_any_command_gives_its_whole_reply(client):
    client.set("reader:a", b"1", ex=60)
    reader = RedisReader(os.environ["REDIS_URL"])
    assert reader.call(b"MGET", b"reader:a", b"reader:absent") == [b"1", None]
    assert reader.call(b"INCR", b"reader:a") == 2
    assert reader.call(b"PING") == b"PONG"
    with pytest.raises(RedisReadError, match="NOSCRIPT"):
        reader.call(b"EVALSHA", b"0" * 40, b"0")
    assert reader.call(b"GET", b"reader:a") == b"2"  # a new connection after the error


def test_the_window_counter_counts_through_either_client_alike(client):
    reader = RedisReader(os.environ["REDIS_URL"])
    client.delete("reader:count")
    client.script_flush()  # as after a restart: Redis knows no script

    assert count_lean(reader, "reader:count", 60_000) is None  # nothing ran
    assert client.get("reader:count") is None
    assert int(window_counter(client)(keys=["reader:count"], args=[60_000])) == 1  # loads it
    assert [count_lean(reader, "reader:count", 60_000) for _ in range(2)] == [2, 3]
    assert 0 < client.pttl("reader:count") <= 60_000


def test_the_breaker_check_answers_as_redis_py_does_and_survives_a_lost_connection(client):
    store = RedisBreakerStore(client, RedisReader(os.environ["REDIS_URL"]))
    client.delete("reader:open", "reader:trial")
    client.set("reader:open", 1, ex=60)

    assert store.has_flags("reader:open", "reader:trial") == (True, False)
    host, port = store._lean._local.conn.sock.getsockname()[:2]
    client.client_kill_filter(addr=f"{host}:{port}")
    assert store.has_flags("reader:open", "reader:trial") == (True, False)  # redis-py asked
    assert store.has_flags("reader:trial") == (False,)


def test_commands_sent_together_give_their_replies_in_order(client):
    client.set("reader:a", b"1", ex=60)
    reader = RedisReader(os.environ["REDIS_URL"])
    assert reader.call_many((b"INCR", b"reader:a"), (b"MGET", b"reader:a", b"reader:absent"), (b"PING",)) == [
        2,
        [b"2", None],
        b"PONG",
    ]
    with pytest.raises(RedisReadError, match="NOSCRIPT"):
        reader.call_many((b"EVALSHA", b"0" * 40, b"0"), (b"INCR", b"reader:a"))
    # The error dropped the connection with the second reply unread: nothing is left over.
    assert reader.call(b"GET", b"reader:a") == b"3"


def test_counters_and_flags_travel_together_or_not_at_all(client):
    reader = RedisReader(os.environ["REDIS_URL"])
    client.delete("reader:c1", "reader:c2", "reader:flag")
    client.set("reader:flag", 1, ex=60)
    int(window_counter(client)(keys=["reader:c1"], args=[60_000]))  # Redis knows the script

    counters = [("reader:c1", 60_000), ("reader:c2", 30_000)]
    assert counts_and_flags(reader, counters, ["reader:flag", "reader:absent"]) == ([2, 1], (True, False))
    assert 0 < client.pttl("reader:c2") <= 30_000
    assert counts_and_flags(reader, counters, []) == ([3, 2], ())

    client.script_flush()  # as after a restart: the caller goes one by one
    assert counts_and_flags(reader, counters, ["reader:flag"]) is None
    assert client.get("reader:c1") == b"3"
