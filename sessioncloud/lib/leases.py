"""Acknowledged invalidation with leases: in-process copies of Redis entries that are never stale.

A process may answer from its own memory an entry it read from Redis only while two things hold:
its subscription to the invalidation channel is connected, and its lease has not run out. The
lease is registered in Redis (a hash: process token -> expiry in Redis time, from `TIME`) and
renewed every third of its length by a daemon thread, which also reads the subscription. The
process measures its lease on its own monotonic clock from the moment *before* it sent the last
renewal, so it always runs out no later than the expiry Redis holds for it.

Whoever changes an entry (`invalidate`) deletes it in Redis and publishes a message, in one
script that also returns the registered leases and how many subscribers received the message.
Every subscriber drops the entries named, then acknowledges (SADD to the message's ack set). The
caller returns once every live lease has acknowledged or run out, and every subscriber that
received the message has acknowledged (or one lease has passed, which bounds a subscriber
that cannot answer). So once it returns, no process can still answer the old entry from memory:

- a process that received the message dropped it before acknowledging;
- a process that did not (its connection is gone, it is frozen, killed) serves from memory only
  until its lease runs out, and the caller waited for that;
- a lease is extended only once the renewal's PING has come back on the subscription, that is
  after every message published before the renewal has been handled: a message cannot be
  overtaken by a renewal;
- a process whose subscription failed, or whose lease ran out, forgets every entry before it
  serves from memory again (it may have missed messages meanwhile);
- an entry read from Redis is kept only if no message was handled since the read began (an
  epoch, compared under a lock), so an old read cannot be stored after its invalidation;
- the registry itself may vanish (FLUSHDB, `cache.clear()`): every subscriber still counts as a
  receiver of the next message and must acknowledge it. A Redis restart drops the registry and
  the subscriptions at once; then the caller waits one lease after Redis started.

Lookups (`LocalTier.lookup`) take no lock and make no network call: a clock reading, a
comparison and a dict lookup.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from sessioncloud.lib.redisread import RedisEndpoint, RedisReadError, Subscriber, command

log = logging.getLogger("sessioncloud.leases")

DEFAULT_LEASE_SECONDS = 2.0
MAX_ENTRIES = 10_000
ACK_SECONDS = 60
ALL = "*"
# How often the caller looks for acknowledgements: they usually come within a millisecond.
POLL_SECONDS = (0.0005, 0.001, 0.002, 0.004)


@dataclass(frozen=True)
class LeaseNames:
    """The Redis names one family of entries uses; `base` includes the database number, since
    publish/subscribe channels are shared by every database of a Redis server."""

    base: str

    @property
    def leases(self) -> str:
        return f"{self.base}:leases"

    @property
    def channel(self) -> str:
        return f"{self.base}:inv"

    def ack_key(self, message_id: str) -> str:
        return f"{self.base}:ack:{message_id}"


# --- The registry and its renewal ----------------------------------------------------------

_RENEW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('PEXPIRE', KEYS[1], math.max(60000, 10 * tonumber(ARGV[2])))
return added
"""

# Delete the entries, move their generations on, publish, and say who may still hold them.
_INVALIDATE_SCRIPT = """
for i = 2, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[3])
  redis.call('DEL', KEYS[i + 1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local receivers = redis.call('PUBLISH', ARGV[1], ARGV[2])
local uptime = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
return {now, receivers, uptime, redis.call('HGETALL', KEYS[1])}
"""

_POLL_SCRIPT = """
local t = redis.call('TIME')
return {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), redis.call('SMEMBERS', KEYS[1])}
"""


def invalidate(
    client: redis.Redis,
    names: LeaseNames,
    keys: Sequence[tuple[str, str]],
    ids: Sequence[str],
    lease_seconds: float,
    generation_seconds: int,
) -> None:
    """Delete entries and wait until no process can answer them from memory.

    `keys` are (generation counter, entry) pairs to move on and delete in Redis; `ids` are the
    names the processes' local entries go by ([ALL] for every entry). Bounded by about one
    lease; Redis errors from the invalidation itself propagate.
    """
    message_id = uuid.uuid4().hex
    flat = [key for pair in keys for key in pair]
    now, receivers, uptime, leases = client.eval(
        _INVALIDATE_SCRIPT,
        1 + len(flat),
        names.leases,
        *flat,
        names.channel,
        "\n".join([message_id, *ids]),
        generation_seconds,
    )
    sent = time.monotonic()
    lease_ms = int(lease_seconds * 1000)
    holders = {leases[i].decode(): int(leases[i + 1]) for i in range(0, len(leases), 2)}
    waits = Waits(
        now,
        receivers,
        {token: expiry for token, expiry in holders.items() if expiry > now},
        _restart_until(now, uptime, lease_ms),
        now + lease_ms,
    )
    _wait(client, names.ack_key(message_id), waits, sent)


def _restart_until(now: int, uptime_seconds: int, lease_ms: int) -> int:
    # Redis started less than a lease ago: processes connected before may hold a lease that no
    # registry remembers (a restart without persistence). Their leases end one lease after it.
    started_latest = now - uptime_seconds * 1000  # uptime is rounded down: this is the latest start
    return started_latest + lease_ms if now < started_latest + lease_ms else 0


@dataclass
class Waits:
    now: int
    receivers: int
    holders: dict[str, int]  # live leases not acknowledged yet: token -> expiry (Redis ms)
    until: int  # Redis time before which nothing can be trusted (after a restart), or 0
    receivers_until: int  # a receiver that cannot acknowledge is waited for until then

    def done(self, acked: set[str]) -> bool:
        self.holders = {t: e for t, e in self.holders.items() if t not in acked and e > self.now}
        receivers_done = len(acked) >= self.receivers or self.now >= self.receivers_until
        return not self.holders and receivers_done and self.now >= self.until

    def last(self) -> int:
        return max([self.until, self.receivers_until if self.receivers else 0, *self.holders.values()])


def _wait(client: redis.Redis, ack_key: str, waits: Waits, sent: float) -> None:
    # A backstop on this process's clock, should Redis time jump back or Redis stop answering:
    # by then every lease that counted has run out (the processes measure theirs from earlier).
    backstop = sent + (waits.last() - waits.now) / 1000 + 0.05
    acked: set[str] = set()
    polls = 0
    while not waits.done(acked):
        pause = POLL_SECONDS[min(polls, len(POLL_SECONDS) - 1)]
        polls += 1
        if time.monotonic() + pause > backstop:
            time.sleep(max(0.0, backstop - time.monotonic()))
            return
        time.sleep(pause)
        try:
            waits.now, members = client.eval(_POLL_SCRIPT, 1, ack_key)
        except redis.RedisError as error:
            log.warning("waiting for acknowledgements: %s; waiting out the leases", type(error).__name__)
            time.sleep(max(0.0, backstop - time.monotonic()))
            return
        acked = {member.decode() for member in members}


# --- The process side ------------------------------------------------------------------------


class LocalTier:
    """This process's copies of entries, valid while its lease and subscription hold.

    Created once per process; its thread starts on first use in the process that uses it (never
    before a fork), and a forked child starts over with nothing.
    """

    def __init__(
        self,
        url: str,
        client: redis.Redis,
        names: LeaseNames,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        max_entries: int = MAX_ENTRIES,
    ):
        self.entries: dict[str, bytes] = {}
        self.deadline = 0.0  # time.monotonic() before which entries may be answered
        self.epoch = 0  # moves on with every invalidation handled
        self.lease = lease_seconds
        self.names = names
        self._url = url
        self._client = client
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._token = uuid.uuid4().hex
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopping = threading.Event()
        self._registered = False
        self._renewals = 0
        self._acks: Any = None  # the lease thread's plain connection for acknowledgements
        self._unread_acks = 0
        _after_fork_reset(self)

    @property
    def connection_name(self) -> str:
        return f"config-lease-{self._token[:16]}"

    # The hot path.

    def lookup(self, key: str) -> bytes | None:
        return self.entries.get(key) if time.monotonic() < self.deadline else None

    def serving(self) -> bool:
        return time.monotonic() < self.deadline

    def keep(self, key: str, entry: bytes, epoch: int) -> None:
        """Keep an entry read from Redis, unless an invalidation was handled since `epoch`."""
        with self._lock:
            if self.epoch == epoch and (key in self.entries or len(self.entries) < self._max_entries):
                self.entries[key] = entry

    def drop(self, keys: Iterable[str] | None) -> None:
        with self._lock:
            self.epoch += 1
            if keys is None:
                self.entries.clear()
            else:
                for key in keys:
                    self.entries.pop(key, None)

    # The lease.

    def start(self) -> None:
        """Start the lease thread in this process, once (cheap when it runs already)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="config-lease", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Stop serving from memory, end the thread and deregister (a clean exit)."""
        self.deadline = 0.0
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)  # it looks at _stopping at least every 0.25 s
        self._thread = None
        try:
            self._client.hdel(self.names.leases, self._token)
        except redis.RedisError:
            pass  # it runs out by itself

    def _run(self) -> None:
        pause = 0.05
        while not self._stopping.is_set():
            try:
                self._hold_lease()
                pause = 0.05
            except Exception as error:  # whatever it was, answer from Redis and try again
                log.warning(
                    "config lease lost (%s): answering from Redis until it is back", type(error).__name__
                )
            finally:
                self.deadline = 0.0
            self._stopping.wait(pause)
            pause = min(pause * 2, 1.0)

    def _hold_lease(self) -> None:
        subscriber = Subscriber(self._url, timeout=max(self.lease, 1.0))
        try:
            self._acks, self._unread_acks = (
                RedisEndpoint(self._url, timeout=max(self.lease, 1.0)).connect(),
                0,
            )
            subscriber.subscribe(self.names.channel, name=self.connection_name)
            next_renewal = 0.0
            while not self._stopping.is_set():
                if time.monotonic() >= next_renewal:
                    next_renewal = self._renew(subscriber) + self.lease / 3
                message = subscriber.read(min(next_renewal - time.monotonic(), 0.25))
                if message is not None:
                    self._handle(message)
        finally:
            subscriber.close()
            if self._acks is not None:
                self._acks.sock.close()
                self._acks = None

    def _renew(self, subscriber: Subscriber) -> float:
        """Renew the lease; returns when it was sent (the lease counts from then)."""
        self._read_ack_replies()
        sent = time.monotonic()
        added = self._client.eval(_RENEW_SCRIPT, 1, self.names.leases, self._token, int(self.lease * 1000))
        self._renewals += 1
        payload = f"{self._token}:{self._renewals}".encode()
        subscriber.ping(payload)
        while True:  # every message published before the renewal comes before the PING's answer
            message = subscriber.read(sent + self.lease - time.monotonic())
            if message is None:
                raise RedisReadError("no answer to PING within the lease")
            if message == [b"pong", payload]:
                break
            self._handle(message)
        lapsed = time.monotonic() >= self.deadline
        if lapsed or (added and self._registered):
            # Messages may have been missed (no lease, or the registry was lost): start over.
            self.drop(None)
        self._registered = True
        self.deadline = sent + self.lease
        return sent

    def _handle(self, message: list) -> None:
        if len(message) != 3 or message[0] != b"message":
            return
        message_id, *ids = message[2].decode().split("\n")
        self.drop(None if ALL in ids else ids)
        # Sent without waiting for the replies (read before the next renewal): under load each
        # blocking socket call costs this thread a wait for the interpreter lock, and the saver
        # is waiting. A lost acknowledgement only makes the saver wait for the lease.
        key = self.names.ack_key(message_id).encode()
        self._acks.sock.sendall(
            command(b"SADD", key, self._token.encode()) + command(b"EXPIRE", key, b"%d" % ACK_SECONDS)
        )
        self._unread_acks += 2

    def _read_ack_replies(self) -> None:
        while self._unread_acks:
            if self._acks.read_reply(max(self.lease, 1.0)) is None:
                raise RedisReadError("no reply to an acknowledgement")
            self._unread_acks -= 1
        self._acks.sock.settimeout(max(self.lease, 1.0))  # reading may have left a shorter one

    def _forked(self) -> None:
        # The child has none of the parent's threads, and no subscription of its own.
        self.deadline = 0.0
        self.entries = {}
        self.epoch += 1
        self._lock = threading.Lock()
        self._thread = None
        self._token = uuid.uuid4().hex
        self._registered = False


def _after_fork_reset(tier: LocalTier) -> None:
    ref = weakref.ref(tier)

    def reset() -> None:
        alive = ref()
        if alive is not None:
            alive._forked()

    os.register_at_fork(after_in_child=reset)
