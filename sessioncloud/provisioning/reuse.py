"""Connections to providers' services kept open between calls, per event loop.

A new connection for every call costs a TCP handshake and, over https, a TLS handshake: on a
provider across the internet that is one to three round trips of waiting per call, and the
TLS handshake is the largest piece of CPU a call can cost. A connection whose answer ended
cleanly, to a service that keeps connections (HTTP/1.1 without `Connection: close`), waits here
for the next call to the same place.

"The same place" is the checked address the connection was opened to, the port, the scheme and,
over TLS, the name the certificate was verified for: a call reuses a connection only to an
address its own lookup returned and the guard approved, so reuse never widens what the guard
allows; nor does it cross trust stores (a call with a private CA of its own).

Bounds: a connection waits at most IDLE_SECONDS (below the five seconds Apache keeps an idle
connection, so we rarely send on one the service is closing), at most PER_PLACE wait for one
place and TOTAL in all; past them the oldest is closed. A connection on which anything arrives
while idle, or that the service closes, is closed and never used. A kept connection that turns
out to be closed when the request goes out is the caller's to retry once on a new one
(provisioning/upstream.py), as every HTTP client with a connection pool does.

Only a service that says it keeps connections (provisioning/wire.py) has them kept; one that
says so and then leaves a request on a kept connection unanswered is not trusted with another
for a while (`distrust`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections import OrderedDict, deque
from typing import NamedTuple

from sessioncloud.provisioning.wire import PinnedConnection

IDLE_SECONDS = 4.0
PER_PLACE = 256
TOTAL = 1024
DISTRUST_SECONDS = 600.0
DISTRUSTED_PLACES = 1024


class Place(NamedTuple):
    scheme: str
    address: str
    port: int
    server_name: str = ""  # the host name TLS verified (none for http, or an address)
    trust: ssl.SSLContext | None = None  # the trust store it was verified with (None: the system's)


class KeptConnections:
    """The idle connections of one event loop."""

    def __init__(
        self, *, idle_seconds: float = IDLE_SECONDS, per_place: int = PER_PLACE, total: int = TOTAL
    ) -> None:
        self.idle_seconds, self.per_place, self.total = idle_seconds, per_place, total
        self._idle: OrderedDict[Place, deque[tuple[float, PinnedConnection]]] = OrderedDict()
        self._count = 0
        self._sweep: asyncio.TimerHandle | None = None
        self._distrusted: OrderedDict[Place, float] = OrderedDict()  # place: until when

    def __len__(self) -> int:
        return self._count

    def take(self, place: Place) -> PinnedConnection | None:
        """The most recently kept connection to `place` that is still fit for a request."""
        waiting = self._idle.get(place)
        deadline = time.monotonic() - self.idle_seconds
        found = None
        while waiting and found is None:
            kept_at, connection = waiting.pop()
            self._count -= 1
            if kept_at > deadline and connection.reusable:
                connection.reuse()
                found = connection
            else:
                connection.close()
        if waiting is not None and not waiting:
            del self._idle[place]  # every place listed has a connection waiting
        return found

    def keep(self, place: Place, connection: PinnedConnection) -> None:
        """Keep `connection` for the next call to `place`, or close it if it cannot serve one."""
        if not connection.reusable or self._is_distrusted(place):
            connection.close()
            return
        waiting = self._idle.setdefault(place, deque())
        self._idle.move_to_end(place)
        waiting.append((time.monotonic(), connection))
        self._count += 1
        if len(waiting) > self.per_place:
            self._close_oldest(place)
        while self._count > self.total:
            self._close_oldest(next(iter(self._idle)))
        self._sweep_later()

    def distrust(self, place: Place) -> None:
        """A kept connection to `place` took a request and answered nothing until the call's
        deadline: a service that says it keeps connections but does not serve a second request.
        For DISTRUST_SECONDS its connections are closed after one call, so that costs one call."""
        self._distrusted[place] = time.monotonic() + DISTRUST_SECONDS
        self._distrusted.move_to_end(place)
        while len(self._distrusted) > DISTRUSTED_PLACES:
            self._distrusted.popitem(last=False)

    def _is_distrusted(self, place: Place) -> bool:
        until = self._distrusted.get(place)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._distrusted[place]
        return False

    def close_all(self) -> None:
        for waiting in self._idle.values():
            for _, connection in waiting:
                connection.close()
        self._idle.clear()
        self._count = 0
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None

    def _close_oldest(self, place: Place) -> None:
        waiting = self._idle[place]
        waiting.popleft()[1].close()
        self._count -= 1
        if not waiting:
            del self._idle[place]

    def _sweep_later(self) -> None:
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(self.idle_seconds, self._close_expired)

    def _close_expired(self) -> None:
        """Close what waited too long (a place nobody calls any more keeps nothing open)."""
        self._sweep = None
        deadline = time.monotonic() - self.idle_seconds
        for place in list(self._idle):
            waiting = self._idle[place]
            while waiting and (waiting[0][0] <= deadline or not waiting[0][1].reusable):
                waiting.popleft()[1].close()
                self._count -= 1
            if not waiting:
                del self._idle[place]
        if self._count:
            self._sweep_later()


_kept: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, KeptConnections] = weakref.WeakKeyDictionary()


def keep_connections(loop: asyncio.AbstractEventLoop, kept: KeptConnections | None = None) -> KeptConnections:
    """From now on, calls on `loop` keep their connections (the server turns this on per worker)."""
    _kept[loop] = kept = KeptConnections() if kept is None else kept
    return kept


def stop_keeping(loop: asyncio.AbstractEventLoop) -> None:
    kept = _kept.pop(loop, None)
    if kept is not None:
        kept.close_all()


def kept_connections() -> KeptConnections | None:
    """The running loop's kept connections, or None where calls open their own (the default)."""
    return _kept.get(asyncio.get_running_loop())
