"""A hostile provider service on loopback: every misbehaviour we could think of, one per path.

`GET /<case>` misbehaves as the case says. For every connection the service records when the
caller (SessionCloud) closed it, which is how a test proves that no worker was left waiting on a
service that never finishes.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.certificates import self_signed
from tests.providerstub import ProviderStub, start_stub

GOOD_ANSWER = {"update": True, "errmsg": "", "sipaccounts": [{"sipusername": "1000", "sippassword": "pw"}]}
DRIP_DELAY = 0.25  # seconds between bytes of a slow answer
HOLD_LIMIT = 30.0  # no handler holds a connection longer than this, whatever the caller does


@dataclass
class Connection:
    case: str
    opened: float
    closed_by_caller: float | None = None


@dataclass
class HostileService:
    server: ThreadingHTTPServer
    stop: threading.Event
    connections: list[Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    scheme: str = "http"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, case: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{case}"

    def opened(self, case: str) -> Connection:
        connection = Connection(case, time.monotonic())
        with self.lock:
            self.connections.append(connection)
        return connection

    def of(self, case: str) -> list[Connection]:
        with self.lock:
            return [c for c in self.connections if c.case == case]

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


class HostileHandler(BaseHTTPRequestHandler):
    service: HostileService
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        case = self.path.split("?", 1)[0].strip("/")
        connection = self.service.opened(case)
        behaviour = CASES.get(case)
        try:
            if behaviour is None:
                self.send_error(404)
            else:
                behaviour(self)
            self.wait_for_caller_to_close(connection)
        except OSError:
            connection.closed_by_caller = time.monotonic()
        self.close_connection = True

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def headers_then(self, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.raw(head.encode("latin-1") + body)

    def json_answer(self, body: bytes, content_type: str = "application/json") -> None:
        self.headers_then("200 OK", {"Content-Type": content_type, "Content-Length": str(len(body))}, body)

    def drip(self, data: bytes) -> None:
        """Send `data` one byte at a time, until the caller hangs up (OSError) or the service stops."""
        for byte in data:
            if self.service.stop.wait(DRIP_DELAY):
                return
            self.raw(bytes([byte]))

    def hold(self) -> None:
        """Say nothing until the caller hangs up."""
        self.service.stop.wait(0)  # lets a stopped service end at once
        sock = self.connection
        deadline = time.monotonic() + HOLD_LIMIT
        while not self.service.stop.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable and not sock.recv(1024):
                raise ConnectionResetError("the caller hung up")

    def wait_for_caller_to_close(self, connection: Connection) -> None:
        try:
            self.hold()
        except OSError:
            pass
        if connection.closed_by_caller is None and not self.service.stop.is_set():
            connection.closed_by_caller = time.monotonic()

    def log_message(self, format: str, *args: object) -> None:
        pass


# --- the cases ---------------------------------------------------------------------------------


def silent(h: HostileHandler) -> None:
    h.hold()


def slow_headers(h: HostileHandler) -> None:
    h.raw(b"HTTP/1.1 200 OK\r\n")
    h.drip(b"Content-Type: application/json\r\n" * 100)


def informational_then_nothing(h: HostileHandler) -> None:
    h.raw(b"HTTP/1.1 100 Continue\r\n\r\n")
    h.hold()


def slow_body(h: HostileHandler) -> None:
    body = json.dumps(GOOD_ANSWER).encode()
    h.headers_then("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))})
    h.drip(body)


def endless_body(h: HostileHandler) -> None:
    h.headers_then("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    chunk = b'{"update": true, "sipaccounts": [' + b" " * 16_000
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    deadline = time.monotonic() + HOLD_LIMIT
    while not h.service.stop.is_set() and time.monotonic() < deadline:
        h.raw(framed)


def endless_body_declared(h: HostileHandler) -> None:
    h.headers_then("200 OK", {"Content-Type": "application/json", "Content-Length": str(10**12)})
    h.drip(b" " * 1000)


def gzip_bomb(h: HostileHandler) -> None:
    h.headers_then(
        "200 OK",
        {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(GZIP_BOMB)),
        },
        GZIP_BOMB,
    )


def gzip_bomb_unlabelled(h: HostileHandler) -> None:
    h.headers_then(
        "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(GZIP_BOMB))}, GZIP_BOMB
    )


def html_error_page(h: HostileHandler) -> None:
    h.json_answer(b"<html><body><h1>Internal error</h1></body></html>", "text/html; charset=utf-8")


def json_labelled_as_html(h: HostileHandler) -> None:
    h.json_answer(json.dumps(GOOD_ANSWER).encode(), "text/html")


def invalid_utf8(h: HostileHandler) -> None:
    h.json_answer(b'{"update": true, "errmsg": "caf\xe9 \xff\xfe", "sipaccounts": []}')


def huge_number(h: HostileHandler) -> None:
    h.json_answer(b'{"update": true, "sipaccounts": [], "balance": ' + b"9" * 200_000 + b"}")


def huge_exponent(h: HostileHandler) -> None:
    h.json_answer(b'{"update": true, "sipaccounts": [{"sipusername": 1e999999, "sippassword": "pw"}]}')


def deep_nesting(h: HostileHandler) -> None:
    depth = 100_000
    h.json_answer(b'{"update": true, "sipaccounts": ' + b"[" * depth + b"]" * depth + b"}")


def duplicate_keys(h: HostileHandler) -> None:
    h.json_answer(
        b'{"update": true, "sipaccounts": [], "sipaccounts": '
        b'[{"sipusername": "attacker", "sippassword": "pw"}]}'
    )


def too_many_accounts(h: HostileHandler) -> None:
    accounts = [{"sipusername": str(1000 + n), "sippassword": "pw"} for n in range(500)]
    h.json_answer(json.dumps({"update": True, "sipaccounts": accounts}).encode())


def top_level_array(h: HostileHandler) -> None:
    h.json_answer(json.dumps([GOOD_ANSWER]).encode())


def empty_body(h: HostileHandler) -> None:
    h.json_answer(b"")


def redirect_to(location: str) -> Callable[[HostileHandler], None]:
    def reply(h: HostileHandler) -> None:
        h.headers_then("302 Found", {"Location": location, "Content-Length": "0"})

    return reply


def redirect_to_canary(h: HostileHandler) -> None:
    redirect_to(CANARY["url"])(h)


def server_error(h: HostileHandler) -> None:
    h.headers_then(
        "500 Internal Server Error", {"Content-Type": "text/plain", "Content-Length": "5"}, b"oops!"
    )


def reset_mid_answer(h: HostileHandler) -> None:
    h.headers_then(
        "200 OK", {"Content-Type": "application/json", "Content-Length": "500"}, b'{"update": true, "sipacc'
    )
    time.sleep(0.1)
    # SO_LINGER with a zero timeout turns close() into a TCP RST.
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    raise ConnectionResetError("reset sent")


def closed_mid_answer(h: HostileHandler) -> None:
    h.headers_then(
        "200 OK", {"Content-Type": "application/json", "Content-Length": "500"}, b'{"update": true, "sipacc'
    )
    h.connection.shutdown(socket.SHUT_WR)


def not_http(h: HostileHandler) -> None:
    h.raw(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage\r\n\r\n")
    h.connection.shutdown(socket.SHUT_WR)


def huge_headers(h: HostileHandler) -> None:
    h.headers_then(
        "200 OK",
        {"Content-Type": "application/json", "X-Padding": "a" * 200_000, "Content-Length": "2"},
        b"{}",
    )


def answer_without_length(h: HostileHandler) -> None:
    """HTTP/1.0 style: the body ends when the connection does. Valid, and must work."""
    h.raw(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + json.dumps(GOOD_ANSWER).encode())
    h.connection.shutdown(socket.SHUT_WR)


def good(h: HostileHandler) -> None:
    h.json_answer(json.dumps(GOOD_ANSWER).encode())


def _gzip_bomb(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
    block = b"\0" * (1024 * 1024)
    return b"".join([*(compressor.compress(block) for _ in range(megabytes)), compressor.flush()])


GZIP_BOMB = _gzip_bomb(100)  # ~100 KB on the wire, 100 MB inflated
CANARY: dict[str, str] = {}

CASES: dict[str, Callable[[HostileHandler], None]] = {
    "good": good,
    "silent": silent,
    "slow-headers": slow_headers,
    "informational-then-nothing": informational_then_nothing,
    "slow-body": slow_body,
    "endless-body": endless_body,
    "endless-body-declared": endless_body_declared,
    "gzip-bomb": gzip_bomb,
    "gzip-bomb-unlabelled": gzip_bomb_unlabelled,
    "html-error-page": html_error_page,
    "json-labelled-as-html": json_labelled_as_html,
    "invalid-utf8": invalid_utf8,
    "huge-number": huge_number,
    "huge-exponent": huge_exponent,
    "deep-nesting": deep_nesting,
    "duplicate-keys": duplicate_keys,
    "too-many-accounts": too_many_accounts,
    "top-level-array": top_level_array,
    "empty-body": empty_body,
    "redirect-to-loopback": redirect_to_canary,
    "redirect-to-metadata": redirect_to("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
    "redirect-to-https": redirect_to("https://provider.example/provisioning"),
    "server-error": server_error,
    "reset-mid-answer": reset_mid_answer,
    "closed-mid-answer": closed_mid_answer,
    "not-http": not_http,
    "huge-headers": huge_headers,
    "answer-without-length": answer_without_length,
}


def start_hostile_service(tls_context: ssl.SSLContext | None = None) -> HostileService:
    handler: type[HostileHandler] = type("Handler", (HostileHandler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    service = HostileService(server=server, stop=threading.Event())
    if tls_context is not None:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        service.scheme = "https"
    handler.service = service
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return service


def start_canary() -> ProviderStub:
    """A service nobody may reach: a redirect that were followed would land here."""
    stub = start_stub()
    stub.answer_json({"update": True, "sipaccounts": [{"sipusername": "canary", "sippassword": "pw"}]})
    CANARY["url"] = stub.url("/canary")
    return stub


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server context with a certificate no client trusts (self-signed, for 127.0.0.1)."""
    cert_path, key_path = self_signed(directory, "127.0.0.1", trusted_as_ca=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
