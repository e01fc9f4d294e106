"""Django behind the event loop: each request runs Django's WSGI handler in a thread pool.

The portal, the management API and the admin are ordinary synchronous Django. Run through
Django's own ASGI handler they would all take turns on one thread per process (its sync views
are thread-sensitive); measured here, that halves their throughput (docs/performance.md). So
the RSGI request becomes a WSGI environ, the handler runs on one of a fixed number of threads,
and its answer goes back to the loop: in one piece, or chunk by chunk for streaming answers
(exports, downloads), each chunk read on a pool thread.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sessioncloud.serving.pools import run_in

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Larger bodies than any page accepts (Django's own limits are smaller) are refused unread.
MAX_BODY_BYTES = 32 * 1024 * 1024
TOO_LARGE = b"Request body too large."


class BodyTooLarge(Exception):
    pass


async def read_body(proto: Any, limit: int) -> bytes:
    """The whole request body, refusing one larger than `limit` without keeping it."""
    chunks, size = [], 0
    async for chunk in proto:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def split_address(text: str) -> tuple[str, str]:
    """`host:port` (IPv6 with or without brackets) as host and port."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), port


def wsgi_environ(scope: Any, body: bytes) -> dict[str, Any]:
    server_name, server_port = split_address(scope.server)
    remote_addr, remote_port = split_address(scope.client)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # WSGI carries the decoded path's bytes as latin-1 text (PEP 3333).
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": remote_addr,
        "REMOTE_PORT": remote_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        key = f"HTTP_{key}"
        if key in environ:  # repeated headers are joined, as HTTP allows
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


class Stream:
    """Sends a streaming answer from a pool thread through the loop, one chunk at a time.

    The whole streaming answer is produced on the thread that started the request, so Django
    queries made while iterating, and the end of the request, use that thread's connection.
    Each send waits until the loop has passed the chunk on: a slow client slows its thread only.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, proto: Any) -> None:
        self._loop = loop
        self._proto = proto
        self._transport: Any = None

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        async def start() -> None:
            self._transport = self._proto.response_stream(status, headers)

        asyncio.run_coroutine_threadsafe(start(), self._loop).result()

    def send(self, chunk: bytes) -> None:
        # The transport's methods belong to the loop's thread: called from here, even to make
        # the awaitable, the chunk could leave before the one ahead of it.
        async def send() -> None:
            await self._transport.send_bytes(chunk)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result()


def run_wsgi(
    app: WSGIApp, environ: dict[str, Any], stream: Stream
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """Call the WSGI app on a pool thread: a whole answer is returned, a streaming one sent."""
    captured: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        captured[:] = [int(status[:3]), headers]
        return _no_write

    response = app(environ, start_response)
    try:
        status, headers = captured
        if not getattr(response, "streaming", False):
            return status, headers, b"".join(response)
        stream.start(status, headers)
        for chunk in response:
            if chunk:
                stream.send(chunk)
        return None
    finally:
        # Django ends its request here (request_finished tidies the thread's database
        # connection), so it runs on the thread that served the request.
        close = getattr(response, "close", None)
        if close is not None:
            close()


def _no_write(data: bytes) -> None:
    raise RuntimeError("write() is not supported; return an iterable")


class DjangoBridge:
    """Serves RSGI requests with a WSGI application run on a fixed pool of threads."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="sessioncloud-django")

    async def __call__(self, scope: Any, proto: Any) -> None:
        try:
            body = await read_body(proto, MAX_BODY_BYTES)
        except BodyTooLarge:
            proto.response_bytes(413, [("content-type", "text/plain")], TOO_LARGE)
            return
        stream = Stream(asyncio.get_running_loop(), proto)
        whole = await run_in(self.pool, run_wsgi, self.app, wsgi_environ(scope, body), stream)
        if whole is not None:
            status, headers, content = whole
            proto.response_bytes(status, headers, content)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
