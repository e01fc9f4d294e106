"""A minimal Redis client for the few commands where the client's cost is the cost.

redis-py spends 40-100 µs of CPU on one command (connection pool, retries, instrumentation,
response callbacks); a plain socket speaking RESP spends 9-25 µs (docs/performance.md). So the
commands every phone request runs go through this: the cached config's read, and on each
provisioning call the rate-limit counters (EVALSHA) and the breaker's check (MGET), sent
together. One
connection per thread, RESP2, a timeout on every operation; on any error the connection is
dropped and RedisReadError raised, so the caller can fall back to the ordinary client: for a
read, or a script Redis does not know yet, at no price; for a counter whose reply was lost, at
the price of counting that hit twice (lib/rediscount.py). Every other command stays with
redis-py. The same connection code serves the one subscription whose losses must be noticed
(`Subscriber`, lib/leases.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 2.0


class RedisReadError(Exception):
    pass


def _bulk(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def command(*parts: bytes) -> bytes:
    """A Redis command in RESP, ready to send."""
    return _bulk(*parts)


class RedisEndpoint:
    """Where a plain `redis://` or `unix://` URL points, and how to open a ready connection to it."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            raise ValueError(f"{parts.scheme}:// is not supported here")
        self._unix_path = parts.path if parts.scheme == "unix" else None
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
        db = query.get("db") or (parts.path.lstrip("/") if parts.scheme == "redis" else "") or "0"
        self.db = int(db)
        setup = []
        if parts.password is not None:
            # AUTH <password> alone when no user is named, as redis-py does (Redis before 6).
            user = [unquote(parts.username).encode()] if parts.username else []
            setup.append(_bulk(b"AUTH", *user, unquote(parts.password).encode()))
        if self.db:
            setup.append(_bulk(b"SELECT", db.encode()))
        self._setup = setup
        self.timeout = timeout

    def connect(self) -> _Connection:
        if self._unix_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(self._unix_path)
        else:
            sock = socket.create_connection(self._address, timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock)
        try:
            if self._setup:
                sock.sendall(b"".join(self._setup))
                for _ in self._setup:
                    conn.read_simple()
        except BaseException:
            sock.close()
            raise
        return conn


class RedisReader:
    """GET and GETRANGE on plain `redis://` and `unix://` URLs (TLS URLs are not supported)."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self._endpoint = RedisEndpoint(url, timeout)
        self._local = threading.local()

    def get(self, key: str) -> bytes | None:
        return self._call(_bulk(b"GET", key.encode()))

    def getrange(self, key: str, start: int, end: int) -> bytes | None:
        return self._call(_bulk(b"GETRANGE", key.encode(), b"%d" % start, b"%d" % end))

    def call(self, *parts: bytes) -> Any:
        """Any other command and its whole reply: an integer, a string, None or a list of them.

        An error reply raises RedisReadError with Redis's own message (`NOSCRIPT ...`).
        """
        return self._call(_bulk(*parts), _Connection.read_one)

    def call_many(self, *commands: tuple[bytes, ...]) -> list[Any]:
        """Several commands sent together and their replies, in order: one round trip.

        An error reply to any of them raises RedisReadError and drops the connection with the
        replies still unread; the caller then sends the commands one by one.
        """
        return self._call(
            b"".join(_bulk(*parts) for parts in commands),
            lambda conn: [conn.read_one() for _ in commands],
        )

    def _call(self, command: bytes, read: Callable[[_Connection], Any] | None = None) -> Any:
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = self._endpoint.connect()
            conn.sock.sendall(command)
            return conn.read_bulk() if read is None else read(conn)
        except (OSError, RedisReadError, ValueError) as error:
            self._drop()
            raise RedisReadError(str(error) or type(error).__name__) from None

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.sock.close()


class Subscriber:
    """One publish/subscribe connection that never reconnects by itself.

    Whoever relies on having seen every message must know when the connection was lost (a
    client that quietly reconnects and subscribes again loses what was published meanwhile):
    here every failure raises RedisReadError and the connection is closed for good.
    """

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self._conn = RedisEndpoint(url, timeout).connect()
        self._timeout = timeout

    def subscribe(self, channel: str, name: str = "") -> None:
        if name:  # so that CLIENT LIST tells what the connection is for
            self._send(_bulk(b"CLIENT", b"SETNAME", name.encode()))
            if self.read(self._timeout) != b"OK":
                self.close()
                raise RedisReadError("CLIENT SETNAME failed")
        self._send(_bulk(b"SUBSCRIBE", channel.encode()))
        reply = self.read(self._timeout)
        if not (isinstance(reply, list) and reply[:2] == [b"subscribe", channel.encode()]):
            self.close()
            raise RedisReadError(f"unexpected reply to SUBSCRIBE: {reply!r}"[:200])

    def ping(self, payload: bytes) -> None:
        """Its answer, [b"pong", payload], comes after every message published before it."""
        self._send(_bulk(b"PING", payload))

    def read(self, timeout: float) -> Any:
        """The next reply or message (a RESP array), or None when nothing came within `timeout` seconds."""
        try:
            return self._conn.read_reply(max(timeout, 0.0))
        except (OSError, ValueError) as error:
            self.close()
            raise RedisReadError(str(error) or type(error).__name__) from None
        except RedisReadError:
            self.close()
            raise

    def close(self) -> None:
        self._conn.sock.close()

    def _send(self, command: bytes) -> None:
        try:
            self._conn.sock.sendall(command)
        except OSError as error:
            self.close()
            raise RedisReadError(str(error) or type(error).__name__) from None


class _Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def _line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
                return line
            self._fill()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RedisReadError("connection closed")
        self.buffer += chunk

    def read_simple(self) -> bytes:
        line = self._line()
        if line[:1] == b"-":
            raise RedisReadError(line[1:].decode("utf-8", "replace"))
        return line[1:]

    def read_bulk(self) -> bytes | None:
        line = self._line()
        kind = line[:1]
        if kind == b"-":
            raise RedisReadError(line[1:].decode("utf-8", "replace"))
        if kind != b"$":
            raise RedisReadError(f"unexpected reply {line[:20]!r}")
        length = int(line[1:])
        if length < 0:
            return None
        while len(self.buffer) < length + 2:
            self._fill()
        value, self.buffer = self.buffer[:length], self.buffer[length + 2 :]
        return value

    def read_one(self) -> Any:
        """One whole reply of any kind, waiting as long as the socket's timeout allows."""
        while True:
            try:
                value, end = _parse(self.buffer, 0)
            except _Incomplete:
                self._fill()
                continue
            self.buffer = self.buffer[end:]
            return value

    def read_reply(self, timeout: float) -> Any:
        """One whole reply of any kind, or None when none completed within `timeout` seconds.

        A reply split by the timeout stays buffered and is completed by the next call.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                value, end = _parse(self.buffer, 0)
            except _Incomplete:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.sock.settimeout(remaining)
                try:
                    self._fill()
                except TimeoutError:
                    return None
                continue
            self.buffer = self.buffer[end:]
            return value


class _Incomplete(Exception):
    pass


def _parse(buffer: bytes, start: int) -> tuple[Any, int]:
    """One RESP2 value from `buffer` at `start`, and where it ends."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line = buffer[start : start + 1], buffer[start + 1 : end]
    if kind == b"+":
        return line, end + 2
    if kind == b"-":
        raise RedisReadError(line.decode("utf-8", "replace"))
    if kind == b":":
        return int(line), end + 2
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, end + 2
        if len(buffer) < end + 2 + length + 2:
            raise _Incomplete
        return buffer[end + 2 : end + 2 + length], end + 2 + length + 2
    if kind == b"*":
        count = int(line)
        items: list[Any] = []
        position = end + 2
        for _ in range(max(count, 0)):
            item, position = _parse(buffer, position)
            items.append(item)
        return (items if count >= 0 else None), position
    raise RedisReadError(f"unexpected reply {buffer[start : start + 20]!r}")
