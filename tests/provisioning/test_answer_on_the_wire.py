"""How the provider client reads an answer's bytes: framing, 1xx, split reads, refusals.

A raw TCP service on loopback sends exactly the bytes each test scripts, in the pieces it
scripts, so what is tested is the reading of the wire rather than a server library's writing.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sessioncloud.provisioning import upstream
from sessioncloud.provisioning.upstream import UpstreamRequest, UpstreamResult, call_provider_blocking
from tests.providerstub import LOOPBACK_POLICY

BODY = json.dumps({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "x"}]}).encode()


class RawService:
    """Accepts connections and answers each with `pieces`, a pause between them, then closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.pieces: list[bytes] = []
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed, or nobody came within the timeout
            with conn:
                conn.settimeout(5)
                self.requests.append(conn.recv(65536))
                for piece in self.pieces:
                    conn.sendall(piece)
                    time.sleep(0.002)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=6)


@pytest.fixture
def service() -> Iterator[RawService]:
    raw = RawService()
    yield raw
    raw.close()


def call(service: RawService, *pieces: bytes) -> UpstreamResult:
    service.pieces = list(pieces)
    request = UpstreamRequest(
        url=f"http://127.0.0.1:{service.port}/p", username="1000", password="pw", timeout_seconds=2
    )
    return call_provider_blocking(request, LOOPBACK_POLICY)


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_request_is_one_plain_get(service: RawService) -> None:
    call(service, head("HTTP/1.1 200 OK", f"Content-Length: {len(BODY)}") + BODY)

    request_line, *header_lines = service.requests[0].decode().split("\r\n")
    assert request_line == "GET /p?username=1000&password=pw&reprovision=false&deviceId= HTTP/1.1"
    assert f"Host: 127.0.0.1:{service.port}" in header_lines
    assert "Accept-Encoding: identity" in header_lines
    assert service.requests[0].endswith(b"\r\n\r\n")


def test_an_informational_answer_before_the_real_one_is_skipped(service: RawService) -> None:
    result = call(
        service,
        head("HTTP/1.1 100 Continue"),
        head("HTTP/1.1 103 Early Hints", "Link: </style.css>; rel=preload"),
        head("HTTP/1.1 200 OK", f"Content-Length: {len(BODY)}") + BODY,
    )

    assert (result.error_code, result.status) == (None, 200)
    assert result.answer is not None and len(result.answer.sipaccounts) == 1


def test_an_answer_arriving_a_byte_at_a_time_is_read_whole(service: RawService) -> None:
    whole = head("HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(BODY)}") + BODY

    result = call(service, *(whole[i : i + 1] for i in range(len(whole))))

    assert result.error_code is None
    assert result.answer is not None and result.answer.sipaccounts[0].sipusername == "1000"


def test_a_chunked_answer_is_joined(service: RawService) -> None:
    middle = len(BODY) // 2
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (BODY[:middle], BODY[middle:])
    )

    result = call(service, head("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), chunks, b"0\r\n\r\n")

    assert result.error_code is None


def test_an_answer_without_a_length_ends_when_the_service_closes(service: RawService) -> None:
    result = call(service, head("HTTP/1.1 200 OK", "Connection: close"), BODY[:10], BODY[10:])

    assert result.error_code is None


def test_bare_line_feeds_in_the_head_are_accepted_as_before(service: RawService) -> None:
    result = call(service, f"HTTP/1.1 200 OK\nContent-Length: {len(BODY)}\n\n".encode() + BODY)

    assert result.error_code is None


def test_a_head_and_a_large_body_in_one_read_are_no_offence(service: RawService) -> None:
    padding = b" " * 150_000  # more than the cap on the head, less than the cap on the body
    body = BODY[:-1] + padding + b"}"

    result = call(service, head("HTTP/1.1 200 OK", f"Content-Length: {len(body)}") + body)

    assert result.error_code is None


@pytest.mark.parametrize(
    ("pieces", "detail"),
    [
        (
            (head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip") + BODY,),
            "unsupported Transfer-Encoding gzip",
        ),
        (
            (head("HTTP/1.1 200 OK", "Content-Length: 10", "Content-Length: 12") + BODY,),
            "Duplicate Content-Length",
        ),
        ((head("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket"),), "the service switched protocols"),
        (
            (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 120_000,),
            "status line and headers longer than 102400 bytes",
        ),
        ((head("HTTP/1.1 200 OK", "Content-Length: 500") + BODY,), "closed before the answer was complete"),
        ((b"",), "closed before the answer was complete"),
    ],
    ids=["other-transfer-coding", "two-lengths", "switching-protocols", "long-head", "short-body", "nothing"],
)
def test_a_broken_answer_is_a_bad_response_that_says_why(
    service: RawService, pieces: tuple[bytes, ...], detail: str
) -> None:
    result = call(service, *pieces)

    assert result.error_code == "provider_bad_response"
    assert result.detail.startswith(f"invalid HTTP answer from 127.0.0.1:{service.port}: ")
    assert detail in result.detail
    assert "pw" not in result.detail


def test_a_header_that_would_break_the_request_is_never_sent(
    service: RawService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def smuggling_headers(request: UpstreamRequest) -> dict[str, str]:
        return {"Accept": "application/json\r\nX-Injected: yes"}

    monkeypatch.setattr(upstream, "_headers", smuggling_headers)

    result = call(service, head("HTTP/1.1 200 OK", f"Content-Length: {len(BODY)}") + BODY)

    assert (result.error_code, result.detail) == ("provider_unreachable", "the request could not be sent")
    assert service.requests == []
