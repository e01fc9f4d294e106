"""A minimal Redis reader (GET, GETRANGE) for the one path where the client's cost is the cost.

The cached phone config is answered with a single Redis read. redis-py spends about 40 µs of
CPU on a GET (connection pool, retries, instrumentation); a plain socket speaking RESP spends
about 9 µs (docs/performance.md). So that read, and only that read, goes through this: one
connection per thread, RESP2, a timeout on every operation, and on any error the connection is
dropped and RedisReadError raised, so the caller can fall back to the ordinary client. Every
write stays with redis-py.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 2.0


class RedisReadError(Exception):
    pass


def _bulk(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class RedisReader:
    """GET and GETRANGE on plain `redis://` and `unix://` URLs (TLS URLs are not supported)."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "unix"):
            raise ValueError(f"{parts.scheme}:// is not supported here")
        self._unix_path = parts.path if parts.scheme == "unix" else None
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        query = dict(pair.partition("=")[::2] for pair in parts.query.split("&") if pair)
        db = query.get("db") or (parts.path.lstrip("/") if parts.scheme == "redis" else "") or "0"
        setup = []
        if parts.password is not None:
            # AUTH <password> alone when no user is named, as redis-py does (Redis before 6).
            user = [unquote(parts.username).encode()] if parts.username else []
            setup.append(_bulk(b"AUTH", *user, unquote(parts.password).encode()))
        if int(db):
            setup.append(_bulk(b"SELECT", db.encode()))
        self._setup = setup
        self._timeout = timeout
        self._local = threading.local()

    def get(self, key: str) -> bytes | None:
        return self._call(_bulk(b"GET", key.encode()))

    def getrange(self, key: str, start: int, end: int) -> bytes | None:
        return self._call(_bulk(b"GETRANGE", key.encode(), b"%d" % start, b"%d" % end))

    def _call(self, command: bytes) -> bytes | None:
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._local.conn = self._connect()
            conn.sock.sendall(command)
            return conn.read_bulk()
        except (OSError, RedisReadError, ValueError) as error:
            self._drop()
            raise RedisReadError(str(error) or type(error).__name__) from None

    def _connect(self) -> _Connection:
        if self._unix_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            sock.connect(self._unix_path)
        else:
            sock = socket.create_connection(self._address, timeout=self._timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock)
        if self._setup:
            sock.sendall(b"".join(self._setup))
            for _ in self._setup:
                conn.read_simple()
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.sock.close()


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
