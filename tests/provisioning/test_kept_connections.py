"""Connections to a provider's service kept between calls: when they are reused, and when not.

A raw TCP service on loopback counts the connections it accepts and answers each request with
the bytes a test scripts, so what is tested is what our client does with the connection, not
what a server library would have sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sessioncloud.provisioning import reuse
from sessioncloud.provisioning.guard import OutboundPolicy
from sessioncloud.provisioning.reuse import KeptConnections, Place
from sessioncloud.provisioning.upstream import UpstreamRequest, UpstreamResult, call_provider
from tests.providerstub import LOOPBACK_POLICY

BODY = json.dumps({"update": True, "sipaccounts": [{"sipusername": "1000", "sippassword": "x"}]}).encode()
OK = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
T = TypeVar("T")

# What the service does with one request: the bytes to send, then whether to close.
Reply = Callable[[int], tuple[bytes, bool]]


def keep_open(answer: bytes = OK) -> Reply:
    return lambda n: (answer, False)


class KeptService:
    """Answers every request on a connection with `reply`, until the client or `reply` closes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, wrap: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server((host, port))
        self.listener.settimeout(5)
        self.host, self.port = host, self.listener.getsockname()[1]
        self.wrap = wrap
        self.reply: Reply = keep_open()
        self.connections = 0
        self.sockets: list[socket.socket] = []  # as accepted, for a test to write to unasked
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request head)
        self.closed_by_client = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            if self.wrap is not None:
                conn = self.wrap.wrap_socket(conn, server_side=True)
            conn.settimeout(5)
            while (head := self._read_head(conn)) is not None:
                self.requests.append((number, head))
                answer, close = self.reply(len(self.requests))
                conn.sendall(answer)
                if close:
                    return
            self.closed_by_client.set()
        except OSError:
            self.closed_by_client.set()
        finally:
            conn.close()

    @staticmethod
    def _read_head(conn: socket.socket) -> bytes | None:
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return None
            data += piece
        return data

    def url(self, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}/p"

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=6)


@pytest.fixture
def service() -> Iterator[KeptService]:
    kept = KeptService()
    yield kept
    kept.close()


def request_to(url: str, timeout: float = 2) -> UpstreamRequest:
    return UpstreamRequest(url=url, username="1000", password="pw", timeout_seconds=timeout)


def with_kept_connections(work: Callable[[KeptConnections], Awaitable[T]], **bounds: Any) -> T:
    """Run `work` on a new loop whose calls keep their connections, as a server worker's do."""

    async def run() -> T:
        kept = reuse.keep_connections(asyncio.get_running_loop(), KeptConnections(**bounds))
        try:
            return await work(kept)
        finally:
            reuse.stop_keeping(asyncio.get_running_loop())

    return asyncio.run(run())


def calls(
    url: str, count: int, policy: OutboundPolicy = LOOPBACK_POLICY, **options: Any
) -> list[UpstreamResult]:
    async def work(kept: KeptConnections) -> list[UpstreamResult]:
        return [await call_provider(request_to(url), policy, **options) for _ in range(count)]

    return with_kept_connections(work)


@pytest.mark.parametrize(
    "declared",
    [b"Connection: keep-alive", b"Connection: Keep-Alive", b"Keep-Alive: timeout=5, max=100"],
)
def test_calls_in_turn_share_one_connection(service: KeptService, declared: bytes) -> None:
    service.reply = keep_open(OK.replace(b"Connection: keep-alive", declared))

    results = calls(service.url(), 3)

    assert [r.error_code for r in results] == [None, None, None]
    assert [r.connection for r in results] == ["new", "kept", "kept"]
    assert service.connections == 1
    assert [number for number, _ in service.requests] == [1, 1, 1]


def test_without_kept_connections_each_call_has_its_own(service: KeptService) -> None:
    async def plain() -> list[UpstreamResult]:  # no keep_connections on this loop
        return [await call_provider(request_to(service.url()), LOOPBACK_POLICY) for _ in range(2)]

    results = asyncio.run(plain())

    assert [(r.error_code, r.connection) for r in results] == [(None, "new"), (None, "new")]
    assert service.connections == 2


UNDECLARED = OK.replace(b"Connection: keep-alive\r\n", b"")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(OK.replace(b"keep-alive", b"close"), id="connection-close"),
        pytest.param(UNDECLARED.replace(b"HTTP/1.1", b"HTTP/1.0"), id="http-1.0"),
        # HTTP/1.1 keeps connections by default, but a service that does not say so may never
        # read a second request: the call sent on it would wait out its whole timeout.
        pytest.param(UNDECLARED, id="keep-alive-not-declared"),
        pytest.param(OK + OK, id="two-answers"),
        pytest.param(OK + b"garbage", id="bytes-after-the-answer"),
        pytest.param(
            b"HTTP/1.1 302 Found\r\nConnection: keep-alive\r\nLocation: /p\r\nContent-Length: 3\r\n\r\nabc",
            id="redirect",
        ),
    ],
)
def test_a_connection_that_cannot_carry_another_request_is_not_kept(
    service: KeptService, answer: bytes
) -> None:
    service.reply = keep_open(answer)

    calls(service.url(), 2)

    assert service.connections == len(service.requests) >= 2  # each request on a connection of its own


def test_a_body_that_ends_with_the_connection_is_read_and_not_kept(service: KeptService) -> None:
    service.reply = lambda n: (b"HTTP/1.1 200 OK\r\n\r\n" + BODY, True)

    results = calls(service.url(), 2)

    assert [r.error_code for r in results] == [None, None]
    assert service.connections == 2


def test_a_connection_the_service_closed_while_idle_is_not_used(service: KeptService) -> None:
    service.reply = lambda n: (OK, True)  # answers with keep-alive, then closes anyway

    async def work(kept: KeptConnections) -> list[UpstreamResult]:
        first = await call_provider(request_to(service.url()), LOOPBACK_POLICY)
        await asyncio.sleep(0.2)  # the close arrives while the connection waits
        return [first, await call_provider(request_to(service.url()), LOOPBACK_POLICY)]

    results = with_kept_connections(work)

    assert [r.error_code for r in results] == [None, None]
    assert service.connections == 2
    assert len(service.requests) == 2  # the closed connection was never written to


def test_a_kept_connection_closed_as_the_request_goes_out_is_retried_once_on_a_new_one(
    service: KeptService,
) -> None:
    # The service gives up on the kept connection just as the next request arrives on it (as
    # one whose idle timeout ends at that moment does): not one byte of an answer comes back.
    service.reply = lambda n: (b"", True) if n == 2 else (OK, False)

    results = calls(service.url(), 2)

    assert [(r.error_code, r.connection) for r in results] == [(None, "new"), (None, "new")]
    assert service.connections == 2
    assert [number for number, _ in service.requests] == [1, 1, 2]


def test_a_service_that_reads_the_request_and_closes_is_asked_at_most_twice(service: KeptService) -> None:
    service.reply = lambda n: (OK if n == 1 else b"", n > 1)

    results = calls(service.url(), 2)

    assert results[0].error_code is None
    assert results[1].error_code == "provider_bad_response"
    assert "closed before the answer was complete" in results[1].detail
    assert len(service.requests) == 3  # the first call, then the second on the kept connection and once more


def test_a_call_that_times_out_closes_its_connection(service: KeptService) -> None:
    service.reply = lambda n: (OK, False) if n == 1 else (time.sleep(1.5) or OK, False)  # type: ignore[func-returns-value]

    async def work(kept: KeptConnections) -> tuple[list[UpstreamResult], int]:
        first = await call_provider(request_to(service.url()), LOOPBACK_POLICY)
        late = await call_provider(request_to(service.url(), timeout=0.5), LOOPBACK_POLICY)
        return [first, late], len(kept)

    results, kept_after = with_kept_connections(work)

    assert [r.error_code for r in results] == [None, "provider_timeout"]
    assert kept_after == 0
    assert service.closed_by_client.wait(3)


def test_a_cancelled_call_closes_its_connection(service: KeptService) -> None:
    service.reply = lambda n: (OK, False) if n == 1 else (time.sleep(1) or OK, False)  # type: ignore[func-returns-value]

    async def work(kept: KeptConnections) -> int:
        await call_provider(request_to(service.url()), LOOPBACK_POLICY)
        call = asyncio.ensure_future(call_provider(request_to(service.url()), LOOPBACK_POLICY))
        await asyncio.sleep(0.2)
        call.cancel()  # the phone went away
        with pytest.raises(asyncio.CancelledError):
            await call
        return len(kept)

    assert with_kept_connections(work) == 0
    assert service.closed_by_client.wait(3)


def test_idle_connections_are_closed_after_their_time(service: KeptService) -> None:
    async def work(kept: KeptConnections) -> tuple[int, int]:
        await call_provider(request_to(service.url()), LOOPBACK_POLICY)
        waiting = len(kept)
        await asyncio.sleep(0.6)
        return waiting, len(kept)

    assert with_kept_connections(work, idle_seconds=0.2) == (1, 0)
    assert service.closed_by_client.wait(3)


def test_stopping_closes_what_waits(service: KeptService) -> None:
    calls(service.url(), 1)  # with_kept_connections stops keeping at the end, as a worker's shutdown does

    assert service.closed_by_client.wait(3)


def test_a_call_to_another_address_of_the_same_name_opens_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # The name's lookup changes between calls: the second call's checked address has no kept
    # connection, so the first address's connection is not used for it.
    first = KeptService("127.0.0.1")
    try:
        second = KeptService("127.0.0.2", first.port)
    except OSError:
        first.close()
        pytest.skip("127.0.0.2 cannot be bound on this machine")
    answers = iter(["127.0.0.1", "127.0.0.2"])

    def lookup(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    try:
        results = calls(first.url("provider.test"), 2)
    finally:
        first.close()
        second.close()

    assert [r.error_code for r in results] == [None, None]
    assert (first.connections, len(first.requests)) == (1, 1)
    assert (second.connections, len(second.requests)) == (1, 1)


def test_tls_connections_are_kept_with_the_name_they_were_verified_for(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment]
    service = KeptService(wrap=context)
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))],
    )
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    try:
        results = calls(
            service.url("provider.test", "https"),
            2,
            OutboundPolicy(allow_nets=LOOPBACK_POLICY.allow_nets),
            ssl_context=trust,
        )
    finally:
        service.close()

    assert [r.error_code for r in results] == [None, None]
    assert server_names == ["provider.test"]  # one handshake
    assert service.connections == 1


# --- the bounds, on their own ---------------------------------------------------------------


class FakeConnection:
    def __init__(self) -> None:
        self.reusable, self.closed, self.reused = True, False, 0

    def close(self) -> None:
        self.closed = True

    def reuse(self) -> None:
        self.reused += 1


def in_loop(work: Callable[[], T]) -> T:
    async def run() -> T:
        return work()

    return asyncio.run(run())


def test_at_most_per_place_and_in_all_wait_the_newest_kept() -> None:
    def work() -> tuple[list[FakeConnection], list[FakeConnection], int]:
        kept = KeptConnections(per_place=2, total=3)
        a, b = Place("http", "127.0.0.1", 80), Place("http", "127.0.0.2", 80)
        to_a = [FakeConnection() for _ in range(3)]
        to_b = [FakeConnection() for _ in range(2)]
        for connection in to_a + to_b:
            kept.keep(a if connection in to_a else b, connection)  # type: ignore[arg-type]
        waiting = len(kept)
        kept.close_all()
        return to_a, to_b, waiting

    to_a, to_b, waiting = in_loop(work)

    assert waiting == 3
    # a's oldest went at its own cap, then a's next oldest for the total.
    assert [c.closed for c in to_a] == [True, True, True] and [c.closed for c in to_b] == [True, True]


def test_take_gives_the_newest_fit_connection_and_closes_spoilt_ones() -> None:
    def work() -> tuple[object, FakeConnection, FakeConnection, object]:
        kept = KeptConnections()
        place = Place("http", "127.0.0.1", 80)
        older, newer = FakeConnection(), FakeConnection()
        kept.keep(place, older)  # type: ignore[arg-type]
        kept.keep(place, newer)  # type: ignore[arg-type]
        newer.reusable = False  # something arrived while it waited
        taken = kept.take(place)
        return taken, older, newer, kept.take(place)

    taken, older, newer, then = in_loop(work)

    assert taken is older and older.reused == 1 and not older.closed
    assert newer.closed
    assert then is None


def test_a_connection_that_cannot_serve_another_call_is_closed_not_kept() -> None:
    def work() -> tuple[FakeConnection, int]:
        kept = KeptConnections()
        spoilt = FakeConnection()
        spoilt.reusable = False
        kept.keep(Place("http", "127.0.0.1", 80), spoilt)  # type: ignore[arg-type]
        return spoilt, len(kept)

    spoilt, waiting = in_loop(work)

    assert spoilt.closed and waiting == 0


def test_a_connection_kept_too_long_is_closed_when_next_asked_for() -> None:
    def work() -> tuple[object, FakeConnection]:
        kept = KeptConnections(idle_seconds=0.05)
        place = Place("http", "127.0.0.1", 80)
        old = FakeConnection()
        kept.keep(place, old)  # type: ignore[arg-type]
        time.sleep(0.1)  # the loop is busy: no sweep has run
        return kept.take(place), old

    taken, old = in_loop(work)

    assert taken is None and old.closed


def test_a_service_that_leaves_a_kept_connections_request_unanswered_is_not_trusted_with_another(
    service: KeptService,
) -> None:
    # It says it keeps connections, then never reads the second request: that call waits out
    # its timeout (nothing tells it apart from a slow answer), the next ones get new connections.
    service.reply = lambda n: (time.sleep(1.5) or b"", True) if n == 2 else (OK, False)  # type: ignore[func-returns-value]

    async def work(kept: KeptConnections) -> list[UpstreamResult]:
        return [
            await call_provider(request_to(service.url(), timeout=0.5), LOOPBACK_POLICY) for _ in range(4)
        ]

    results = with_kept_connections(work)

    assert [r.error_code for r in results] == [None, "provider_timeout", None, None]
    assert [number for number, _ in service.requests] == [1, 1, 2, 3]


def test_a_kept_connection_that_speaks_unasked_is_closed_at_once_and_holds_no_answer(
    service: KeptService,
) -> None:
    async def work(kept: KeptConnections) -> tuple[int, bool, object]:
        await call_provider(request_to(service.url()), LOOPBACK_POLICY)
        [(place, waiting)] = kept._idle.items()
        reader = waiting[0][1]._reader
        held = len(reader._body) + len(reader._headers)
        service.sockets[0].sendall(b"HTTP/1.1 200 OK\r\n")  # an answer nobody asked for
        closed_at_once = await asyncio.to_thread(service.closed_by_client.wait, 2)
        return held, closed_at_once, kept.take(place)

    held, closed_at_once, taken = with_kept_connections(work)

    assert held == 0  # the last answer's body and headers are not kept with the connection
    assert closed_at_once  # by us, not left to the idle sweep or the next call
    assert taken is None


def test_a_place_whose_connections_were_all_taken_does_not_count_against_the_total() -> None:
    def work() -> tuple[object, list[bool], int]:
        kept = KeptConnections(total=1)
        first, second, third = FakeConnection(), FakeConnection(), FakeConnection()
        a, b = Place("http", "127.0.0.1", 80), Place("http", "127.0.0.2", 80)
        kept.keep(a, first)  # type: ignore[arg-type]
        taken = kept.take(a)  # a has nothing waiting now
        kept.keep(b, second)  # type: ignore[arg-type]
        kept.keep(b, third)  # type: ignore[arg-type]  # over the total: b's oldest goes
        waiting = len(kept)
        kept.close_all()
        return taken, [second.closed, third.closed], waiting

    taken, closed, waiting = in_loop(work)

    assert closed == [True, True] and waiting == 1
    assert taken is not None
