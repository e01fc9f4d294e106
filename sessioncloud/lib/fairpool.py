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

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")
RECENT = 0.1  # seconds: how long a key that handed in work still counts as having some


class _ForFuture(Generic[T]):
    """A piece of work whose caller waits on a concurrent.futures.Future."""

    __slots__ = ("future", "function")

    def __init__(self, future: Future[T], function: Callable[[], T]) -> None:
        self.future, self.function = future, function

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            self.future.set_result(self.function())
        except BaseException as error:  # handed to whoever waits on the future
            self.future.set_exception(error)


class _ForLoop(Generic[T]):
    """A piece of work whose caller awaits it on an event loop: the result goes straight to the
    loop's own future, without a second future in between and the callbacks that chain them."""

    __slots__ = ("future", "loop", "function")

    def __init__(
        self, future: asyncio.Future[T], loop: asyncio.AbstractEventLoop, function: Callable[[], T]
    ) -> None:
        self.future, self.loop, self.function = future, loop, function

    def run(self) -> None:
        if self.future.cancelled():  # the caller stopped waiting before the work began
            return
        try:
            result = self.function()
        except BaseException as error:  # handed to whoever awaits the future
            self._settle(_fail, error)
        else:
            self._settle(_succeed, result)

    def _settle(self, settle: Callable[[asyncio.Future[T], Any], None], value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(settle, self.future, value)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.cancelled():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.cancelled():
        future.set_exception(error)


_Work = _ForFuture[Any] | _ForLoop[Any]


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
        self._put(key, _ForFuture(future, work))
        return future

    def submit_to_loop(self, key: Hashable, work: Callable[[], T]) -> asyncio.Future[T]:
        """`submit` for a caller on an event loop: a future of that loop, to await."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(key, _ForLoop(future, loop, work))
        return future

    def _put(self, key: Hashable, work: _Work) -> None:
        with self._ready:
            if self._stopping:
                raise RuntimeError("the pool is shut down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
                self._turns.append(key)
            queue.append(work)
            self._handed_in(key)
            self._ready.notify()

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

    def _next(self, finished: Hashable | None) -> tuple[Hashable, _Work] | None:
        """The next piece of work, once the thread's last piece (of key `finished`) is counted done."""
        with self._ready:
            if finished is not None:
                self._release(finished)
            while (key := self._next_key()) is None:
                if self._stopping and not self._turns:
                    self._ready.notify_all()  # the others may be waiting for work that is gone
                    return None
                # Work held back for its share is looked at again when other keys stop having work.
                self._ready.wait(RECENT if self._turns else None)
            queue = self._queues[key]
            work = queue.popleft()
            if queue:
                self._turns.append(key)  # its next piece waits for every other key's turn
            else:
                del self._queues[key]
            self._running[key] = self._running.get(key, 0) + 1
            if self._turns:  # more work waits: another thread may be free to take it
                self._ready.notify()
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

    def _release(self, key: Hashable) -> None:
        left = self._running[key] - 1
        if left:
            self._running[key] = left
        else:
            del self._running[key]

    def _serve(self) -> None:
        finished: Hashable | None = None
        while (taken := self._next(finished)) is not None:
            finished, work = taken
            work.run()
