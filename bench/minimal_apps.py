"""The ceiling for Python here: the config answer from a dict, as a WSGI, an ASGI and an RSGI app.

    BENCH_MINIMAL_ANSWER=answer.json granian --interface wsgi bench.minimal_apps:wsgi_app
    BENCH_MINIMAL_ANSWER=answer.json granian --interface asgi bench.minimal_apps:asgi_app
    BENCH_MINIMAL_ANSWER=answer.json granian --interface rsgi bench.minimal_apps:rsgi_app

bench/config_fetch.py writes answer.json from what SessionCloud answered: the path, the body,
and the headers of its 200 and of its 304 (Content-Type, ETag, Cache-Control and the security
headers of Django's middleware; not Date, Server, Content-Length and the connection's headers,
which the server adds). Each app answers that path with exactly those bytes and headers, 304 when
If-None-Match is the ETag, 404 for anything else: the least an application can do for the same
answer, so what is left is the cost of the server and of the interface.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Response:
    """One answer, ready in each interface's own form, so no request pays for converting it."""

    status: int
    headers: Headers  # RSGI: granian adds Content-Length
    body: bytes
    wsgi_status: str
    wsgi_headers: Headers
    asgi_start: dict[str, Any]
    asgi_body: dict[str, Any]


def response(status: int, headers: Headers, body: bytes) -> Response:
    # WSGI and ASGI servers send a body of unknown length chunked; SessionCloud's is not.
    sized = [*headers, ("Content-Length", str(len(body)))] if body else headers
    return Response(
        status,
        headers,
        body,
        f"{status} {HTTPStatus(status).phrase}",
        sized,
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sized],
        },
        {"type": "http.response.body", "body": body},
    )


@dataclass(frozen=True)
class Answer:
    etag: str
    ok: Response
    not_modified: Response


NOT_FOUND = response(404, [("Content-Type", "text/plain")], b"not found")


def write_answer(file: Path, path: str, body: bytes, headers: Headers, not_modified_headers: Headers) -> None:
    """What the apps will answer, as bench/config_fetch.py captured it from SessionCloud."""
    own = {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"}
    file.write_text(
        json.dumps(
            {
                "path": path,
                "body": base64.b64encode(body).decode(),
                "headers": [(k, v) for k, v in headers if k.lower() not in own],
                "not_modified_headers": [(k, v) for k, v in not_modified_headers if k.lower() not in own],
            }
        )
    )


def load_answers() -> dict[str, Answer]:
    file = os.environ.get("BENCH_MINIMAL_ANSWER")
    if not file:
        return {}
    data = json.loads(Path(file).read_text())
    headers = [(k, v) for k, v in data["headers"]]
    etag = next(v for k, v in headers if k.lower() == "etag")
    return {
        data["path"]: Answer(
            etag,
            response(200, headers, base64.b64decode(data["body"])),
            response(304, [(k, v) for k, v in data["not_modified_headers"]], b""),
        )
    }


ANSWERS = load_answers()


def answer(path: str, if_none_match: str) -> Response:
    found = ANSWERS.get(path)
    if found is None:
        return NOT_FOUND
    return found.not_modified if if_none_match == found.etag else found.ok


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    found = answer(environ["PATH_INFO"], environ.get("HTTP_IF_NONE_MATCH", ""))
    start_response(found.wsgi_status, found.wsgi_headers)
    return [found.body]


async def asgi_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if_none_match = next(
        (value.decode("latin-1") for name, value in scope["headers"] if name == b"if-none-match"), ""
    )
    found = answer(scope["path"], if_none_match)
    await send(found.asgi_start)
    await send(found.asgi_body)


async def lifespan(receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def rsgi_app(scope: Any, proto: Any) -> None:
    found = answer(scope.path, scope.headers.get("if-none-match") or "")
    if found.body:
        proto.response_bytes(found.status, found.headers, found.body)
    else:
        proto.response_empty(found.status, found.headers)
