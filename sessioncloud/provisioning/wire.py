"""One HTTP/1.1 GET on one pinned connection, and its answer read with llhttp (httptools).

The caller (provisioning/upstream.py) has already checked the address and opened the socket;
this module writes the request it built and reads one answer off the connection as the bytes
arrive, in the event loop's own callbacks: no stream objects, no task per read. Everything a
hostile service could use to hold memory or the call is bounded here, before the body is
parsed: the status line and headers (MAX_HEADER_BYTES), a compressed or over-long declared
body (refused at the headers), and the body itself (MAX_BODY_BYTES). The call's deadline is the
caller's; so is closing the connection, or keeping it for the next call when the answer ended
cleanly and the service keeps connections open (provisioning/reuse.py).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httptools

from sessioncloud.provisioning.answer import MAX_BODY_BYTES

MAX_HEADER_BYTES = 100 * 1024  # a status line and headers longer than this are not an answer


class BadHttp(Exception):
    """The service's bytes are not a usable HTTP answer (the message names what, never a secret)."""


class Refused(Exception):
    """An answer refused on what its headers declare or its body's size (status included)."""

    def __init__(self, detail: str, status: int):
        super().__init__(detail)
        self.detail, self.status = detail, status


@dataclass
class Answer:
    """The final answer: its status and either a redirect's Location or the body."""

    status: int
    location: str | None = None
    body: bytes = b""


def request_head(target: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """`GET target HTTP/1.1` and its headers, ready to send.

    The caller builds every part from checked values (the URL escaped, the host from the guard,
    the auth header refused unless printable ASCII); a line break in any of them would be a bug,
    so it is refused rather than sent.
    """
    lines = [b"GET " + target + b" HTTP/1.1"]
    for name, value in headers:
        line = f"{name}: {value}".encode("latin-1")
        if b"\r" in line or b"\n" in line:
            raise ValueError(f"a line break in the {name} header")
        lines.append(line)
    if b" " in target or b"\r" in target or b"\n" in target:
        raise ValueError("the request target must be escaped")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header `name` (given in lower case), as text."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class _Stop(Exception):
    """Raised from a parser callback to stop reading: the answer is settled."""


class AnswerReader(asyncio.Protocol):
    """Feeds what arrives to llhttp and settles `answer` once: an Answer, or the reason there is none."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.lost = False  # the connection closed, or broke
        self.rearm()

    def rearm(self) -> None:
        """Ready to read one answer (the next, on a kept connection): a new parser, nothing
        received yet."""
        self.answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.received = 0  # bytes of this answer so far
        # The answer ended where its length or last chunk said, and the service keeps the
        # connection open and says so.
        self._ended_kept_open = False
        self._extra = False  # bytes came after the answer: the connection cannot carry another
        self._parser = httptools.HttpResponseParser(self)
        # Line feeds without a carriage return, as some hand-written services send them: a
        # client reading one answer risks nothing by accepting them, and common clients do.
        self._parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
        self._head_bytes = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._status = 0
        self._headers_done = False
        self._until_close = False  # no length and not chunked: the body ends when the service closes
        self._body: list[bytes] = []
        self._size = 0

    # --- asyncio's side ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.answer.done():
            # Nothing was asked: a kept connection must stay silent. Closed at once, so that a
            # service streaming into it costs the loop no more reads.
            self._extra = True
            if self.transport is not None:
                self.transport.abort()
            return
        self.received += len(data)
        if not self._headers_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if not isinstance(error.__context__, _Stop):
                self._settle_error(BadHttp(str(error)))
        except httptools.HttpParserUpgrade:
            self._settle_error(BadHttp("the service switched protocols"))
        except httptools.HttpParserError as error:
            self._extra = self.answer.done()  # bytes past a complete answer that are no answer
            self._settle_error(BadHttp(str(error) or type(error).__name__))
        if not self._headers_done and self._head_bytes > MAX_HEADER_BYTES:
            # Counted per read (at most what the loop reads at once past the limit), checked
            # after it: a read that holds the whole head and the body's start is no offence.
            self._settle_error(BadHttp(f"status line and headers longer than {MAX_HEADER_BYTES} bytes"))

    def eof_received(self) -> None:
        return None  # let the transport close; connection_lost decides what the close means

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.answer.done():
            return
        if exc is not None:
            self._settle_error(exc)
        elif self._headers_done and self._until_close and self._status >= 200:
            self._settle(Answer(self._status, None, b"".join(self._body)))
        else:
            self._settle_error(BadHttp("the connection closed before the answer was complete"))

    # --- llhttp's callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.answer.done():  # a second answer to one request
            self._extra = True
            raise _Stop
        # A 1xx answer came first: what follows is a new message.
        self._headers, self._body, self._size = [], [], 0
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        self._status, self._headers_done = status, True
        if status == 101:
            self._refuse(BadHttp("the service switched protocols"))
        if status < 200:
            return  # informational: the answer is still to come
        if 300 <= status < 400:
            self._settle(Answer(status, header(self._headers, b"location") or ""))
            raise _Stop
        self._refuse_unreadable_body(status)
        encoding = (header(self._headers, b"transfer-encoding") or "").strip().lower()
        if encoding and encoding.rsplit(",", 1)[-1].strip() != "chunked":
            self._refuse(BadHttp(f"unsupported Transfer-Encoding {encoding[:40]}"))
        self._until_close = not encoding and header(self._headers, b"content-length") is None

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            self._refuse(Refused(f"answer larger than {MAX_BODY_BYTES} bytes", self._status))
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:
            self._head_bytes = 0
            return
        # Asked here: once the message is complete, llhttp has already forgotten its headers.
        self._ended_kept_open = self._parser.should_keep_alive() and self._declares_keep_alive()
        self._settle(Answer(self._status, None, b"".join(self._body)))
        self._body, self._headers = [], []  # a kept connection holds none of the answer
        # No stop here: llhttp reads on, and a byte past the answer marks the connection spoilt.

    # --- reuse ---------------------------------------------------------------------------

    def _declares_keep_alive(self) -> bool:
        """The service says it keeps the connection (`Connection: keep-alive` or `Keep-Alive`),
        as nginx, Apache and Node do. HTTP/1.1 keeps connections unless told otherwise, but a
        hand-written service may answer in HTTP/1.1 and never read a second request: that
        would cost a call its whole timeout, so silence is not taken for a promise."""
        connection = (header(self._headers, b"connection") or "").lower()
        return "keep-alive" in connection or header(self._headers, b"keep-alive") is not None

    def can_carry_another(self) -> bool:
        """Whether another request may go on this connection: the answer ended by its length, the
        service keeps the connection and says so, nothing came after it, it is still open."""
        return (
            self._ended_kept_open
            and not self._extra
            and not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
        )

    # --- settling ------------------------------------------------------------------------

    def _refuse_unreadable_body(self, status: int) -> None:
        """Compression and a declared size over the cap are refused before any body is read."""
        encoding = (header(self._headers, b"content-encoding") or "identity").strip().lower()
        if encoding not in ("", "identity"):
            # We asked for identity; inflating anyway would let a tiny gzip bomb eat the memory.
            self._refuse(Refused(f"compressed answer refused (Content-Encoding: {encoding[:40]})", status))
        try:
            declared = int(header(self._headers, b"content-length") or "0")
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            self._refuse(Refused(f"answer larger than {MAX_BODY_BYTES} bytes", status))

    def _refuse(self, error: Exception) -> None:
        self._settle_error(error)
        raise _Stop

    def _settle(self, answer: Answer) -> None:
        if not self.answer.done():
            self.answer.set_result(answer)

    def _settle_error(self, error: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)


class PinnedConnection:
    """A connected socket to a checked address, with the reader of its one answer."""

    def __init__(self, transport: asyncio.Transport, reader: AnswerReader) -> None:
        self._transport = transport
        self._reader = reader

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None) -> None:
        """TLS over the connection; OSError (ssl.SSLError is one) when the handshake fails."""
        loop = asyncio.get_running_loop()
        tls = await loop.start_tls(
            self._transport, self._reader, ssl_context, server_hostname=server_hostname
        )
        assert tls is not None  # None only when the transport was closed under us
        self._transport = tls

    async def exchange(self, head: bytes) -> Answer:
        """Send the request and wait for the answer (or the reason there is none)."""
        self._transport.write(head)
        return await self._reader.answer

    @property
    def reusable(self) -> bool:
        """Whether the last exchange left the connection fit for another request."""
        return self._reader.can_carry_another()

    @property
    def answered_nothing(self) -> bool:
        """Not one byte of an answer arrived: a kept connection the service had already closed."""
        return self._reader.received == 0

    def reuse(self) -> None:
        """Ready for the next exchange (only when `reusable`)."""
        self._reader.rearm()

    def close(self) -> None:
        # No wait for the peer's goodbye: a provider that never closes must not hold the call.
        self._transport.abort()
        answer = self._reader.answer
        if not answer.done():
            answer.cancel()  # nobody waits for it any more
        elif not answer.cancelled():
            answer.exception()  # seen: a failure nobody awaited (a failed handshake) is not logged
