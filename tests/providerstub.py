"""Real HTTP servers on loopback that play a provider's provisioning service."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

from sessioncloud.provisioning.guard import OutboundPolicy

LOOPBACK_POLICY = OutboundPolicy(allow_nets=(ip_network("127.0.0.0/8"),), allow_http=True)

Behaviour = Callable[["StubHandler"], None]


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]


@dataclass
class ProviderStub:
    """A provider service whose behaviour each test sets; it records every request it gets."""

    server: ThreadingHTTPServer
    stop: threading.Event
    requests: list[ReceivedRequest] = field(default_factory=list)
    behaviour: Behaviour | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        return str(self.server.server_address[0])

    def url(self, path: str = "/provisioning") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def answer(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.behaviour = reply_with(status, body, headers)

    def answer_json(self, data: Any, status: int = 200) -> None:
        self.behaviour = json_reply(data, status)


def reply_with(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Behaviour:
    def reply(handler: StubHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def json_reply(data: Any, status: int = 200) -> Behaviour:
    return reply_with(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


class StubHandler(BaseHTTPRequestHandler):
    stub: ProviderStub

    def do_GET(self) -> None:
        self.stub.requests.append(ReceivedRequest(self.path, dict(self.headers)))
        assert self.stub.behaviour is not None, "the test did not say how to answer"
        self.stub.behaviour(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_stub(
    host: str = "127.0.0.1", port: int = 0, wrap: Callable[[Any], Any] | None = None
) -> ProviderStub:
    handler: type[StubHandler] = type("Handler", (StubHandler,), {})
    server = ThreadingHTTPServer((host, port), handler)
    if wrap is not None:
        server.socket = wrap(server.socket)
    stub = ProviderStub(server=server, stop=threading.Event())
    handler.stub = stub
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return stub


def stop_stub(stub: ProviderStub) -> None:
    stub.stop.set()  # releases handlers that wait to simulate a silent server
    stub.server.shutdown()
    stub.server.server_close()


def silent(handler: StubHandler) -> None:
    """Never answer (until the stub stops): a service that hangs."""
    handler.stub.stop.wait(30)


def slow_drip(body: bytes, delay: float) -> Behaviour:
    """Send headers at once, then the body a byte at a time."""

    def reply(handler: StubHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        for byte in body:
            if handler.stub.stop.wait(delay):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()

    return reply
