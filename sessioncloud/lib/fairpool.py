"""A fixed pool of threads that serves its callers' queues in turn, not in one line.

A thread pool takes work first come, first served: when 1,000 phones of one provider arrive at
once, another provider's request waits behind all of them. Here each piece of work comes with
a key (whose work it is), each key has its own queue, and the threads take one piece from each
waiting key in turn. A key with 1,000 pieces waiting and a key with one are served alternately.

While other keys have work (waiting, running, or handed in within the last `RECENT` seconds),
a key holds at most `per_key` of the threads at once. The threads share one interpreter lock,
so a burst running on every thread would make another key's one piece of work wait its turn for
that lock behind all of them: with the burst kept to its share, the other key's work starts at
once and competes with fewer. A key alone may use every thread: work that waits on the network
(a database or Redis round trip) needs them to overlap.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
_Work = tuple[Future, Callable[[], Any]]
RECENT = 0.1  # seconds: how long a key that handed in work still counts as having some


class FairPool:
    def __init__(self, threads: int, name: str = "fairpool", per_key: int | None = None) -> None:
        self._queues: dict[Hashable, deque[_Work]] = {}
        self._turns: deque[Hashable] = deque()  # the keys with work waiting, in serving order
        self._per_key = max(1, min(per_key or threads, threads))
        self._running: dict[Hashable, int] = {}  # threads each key holds now
        # The last key to hand in work, and the last before it that was another key: enough to
        # tell, for any key, when another one last did.
        self._latest: tuple[Hashable, float] | None = None
        self._latest_other: tuple[Hashable, float] | None = None
        self._ready = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{n}", daemon=True) for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Hashable, work: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._stopping:
                raise RuntimeError("the pool is shut down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
                self._turns.append(key)
            queue.append((future, work))
            self._handed_in(key)
            self._ready.notify()
        return future

    def _handed_in(self, key: Hashable) -> None:
        now = time.monotonic()
        if self._latest is not None and self._latest[0] != key:
            self._latest_other = self._latest
        self._latest = (key, now)

    def waiting(self) -> int:
        with self._ready:
            return sum(len(queue) for queue in self._queues.values())

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking work; the threads finish what is queued, then end."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _next(self) -> tuple[Hashable, _Work] | None:
        with self._ready:
            while (key := self._next_key()) is None:
                if self._stopping and not self._turns:
                    return None
                self._ready.wait()
            queue = self._queues[key]
            work = queue.popleft()
            if queue:
                self._turns.append(key)  # its next piece waits for every other key's turn
            else:
                del self._queues[key]
            self._running[key] = self._running.get(key, 0) + 1
            return key, work

    def _next_key(self) -> Hashable | None:
        """The first key in turn that may take another thread (under the lock)."""
        turns = self._turns
        for _ in range(len(turns)):
            key = turns.popleft()
            if self._running.get(key, 0) < self._per_key or not self._others_active(key):
                return key
            turns.append(key)
        return None

    def _others_active(self, key: Hashable) -> bool:
        """Whether a key other than `key` has work waiting or running, or handed some in lately."""
        if len(self._queues) > (key in self._queues) or len(self._running) > (key in self._running):
            return True
        last = self._latest if self._latest is not None and self._latest[0] != key else self._latest_other
        return last is not None and time.monotonic() - last[1] < RECENT

    def _done(self, key: Hashable) -> None:
        with self._ready:
            left = self._running[key] - 1
            if left:
                self._running[key] = left
            else:
                del self._running[key]
            if key in self._queues:  # its next piece may have waited for this thread
                self._ready.notify()

    def _serve(self) -> None:
        while (taken := self._next()) is not None:
            key, (future, function) = taken
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(function())
                    except BaseException as error:  # handed to whoever waits on the future
                        future.set_exception(error)
            finally:
                self._done(key)
