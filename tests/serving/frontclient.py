"""Calling the RSGI front in-process, as granian would, with the test's database connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from sessioncloud.serving.front import Front
from sessioncloud.serving.pools import blocking_on_caller_thread


class Headers:
    """RSGI's header mapping: lower-case names, repeated names allowed."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = [(name.lower(), value) for name, value in items]

    def get(self, name: str, default: Any = None) -> Any:
        return next((value for key, value in self._items if key == name), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self._items)


@dataclass
class Scope:
    method: str
    path: str
    headers: Headers
    query_string: str = ""
    proto: str = "http"
    scheme: str = "http"
    http_version: str = "1.1"
    server: str = "127.0.0.1:8000"
    client: str = "127.0.0.1:50000"


@dataclass
class Proto:
    """The connection side of one request: its body, and what the application answered."""

    body: bytes = b""
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    sent: bytes = b""

    async def __call__(self) -> bytes:
        return self.body

    def __aiter__(self) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(self.body), 4096):
                yield self.body[start : start + 4096]

        return chunks()

    async def client_disconnect(self) -> None:
        import asyncio

        await asyncio.Event().wait()  # this client never goes away

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.sent = status, headers, body

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Any:
        self.status, self.headers = status, headers
        proto = self

        class Transport:
            async def send_bytes(self, data: bytes) -> None:
                proto.sent += data

        return Transport()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Spy:
    """A WSGI application counting the requests that reach it."""

    def __init__(self, handler: Any = None) -> None:
        self.handler = handler or WSGIHandler()
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


@contextmanager
def connections_kept_for_the_test() -> Iterator[None]:
    # As Django's test client does: the test's database connection must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def headers_of(items: list[tuple[str, str]]) -> dict[str, str]:
    headers = {name.lower(): value for name, value in items}
    if "content-security-policy" in headers:  # the same directives, in any order
        headers["content-security-policy"] = "; ".join(sorted(headers["content-security-policy"].split("; ")))
    headers.pop("content-length", None)  # granian sets it from the body
    return headers


def front_call(front: Front, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """One request through the front; blocking work runs on this thread, in the test's transaction."""
    sent = {"host": "testserver", **{name.replace("_", "-"): value for name, value in headers.items()}}
    scope = Scope(method, path, Headers(list(sent.items())))
    proto = Proto(body)
    with connections_kept_for_the_test(), blocking_on_caller_thread():
        async_to_sync(front.__rsgi__)(scope, proto)
    assert proto.status is not None, "the front answered nothing"
    return Answer(proto.status, headers_of(proto.headers), proto.sent)


def django_call(app: Any, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """The same request straight to Django's WSGI handler."""
    environ = (
        getattr(RequestFactory(), method.lower())(
            path,
            data=body,
            content_type="application/json",
            **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
        ).environ
        if method != "GET"
        else RequestFactory().get(path, **{f"HTTP_{k.upper()}": v for k, v in headers.items()}).environ
    )
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = headers_of(response_headers)

    with connections_kept_for_the_test():
        result = app(environ, start_response)
        content = b"".join(result)
        getattr(result, "close", lambda: None)()
    return Answer(answer["status"], answer["headers"], content)
