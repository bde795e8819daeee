"""Virtual time for concurrent tasks: every sleep waits on a timer that the clock jumps to.

:class:`FakeTime`-style clocks that advance on every ``sleep`` cannot run two tasks at
once (the first sleeper moves everyone's time). Here a sleep parks its task on a timer,
and :meth:`VirtualTime.run` jumps the clock to the earliest timer whenever every task is
parked, so concurrent tasks see one consistent clock and nothing waits for real. Give
:meth:`~VirtualTime.clock` and :meth:`~VirtualTime.sleep` to an
:class:`~nanobanana_async.emulator.Emulator` and to a client (the engine's
``EngineSettings(clock=..., sleep=...)``) and a run of minutes takes what its CPU work
takes. It lives beside the emulator, the other half of every such run, so that tests and
the benchmarks' seeded sweep share it.

Work in worker threads takes no virtual time: the clock does not move while a thread
started through the loop's default executor (``asyncio.to_thread``: the emulator renders
its answers so) or anyio's (``anyio.to_thread``: the client inflates answers so) is busy.
Were it to jump meanwhile, an answer due at 17 s could be stamped at 29 s, whenever the
last sleeper woke before the render was done, and one seed would not replay one run.
Threads started by hand are not seen (the engine saves images in such, after their
answer: nothing it sends waits on them).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread

__all__ = ["VirtualTime"]

T = TypeVar("T")

# Real seconds between two looks at busy worker threads: the loop sleeps in its selector
# meanwhile, so the threads get the GIL.
_THREAD_POLL = 0.0002


class _CountingPool(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor during :meth:`VirtualTime.run`: it knows its open jobs.

    A job counts until the loop has handled its end: the count drops in a loop callback
    queued after the one that hands the result to the waiting task (asyncio chains its own
    callback when it wraps the future, just after ``submit``; ours is added one loop turn
    later, so it runs, and queues, after asyncio's).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(thread_name_prefix="virtual-time")
        self.loop = loop
        self.open = 0

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future = super().submit(fn, *args, **kwargs)
        self.open += 1
        self.loop.call_soon(future.add_done_callback, self._ended)
        return future

    def _ended(self, _: concurrent.futures.Future[Any]) -> None:
        self.loop.call_soon_threadsafe(self._closed)

    def _closed(self) -> None:
        self.open -= 1


class VirtualTime:
    """One clock for every task of a run, jumped by :meth:`run`; starts at ``start``."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pool: _CountingPool | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        timer = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._order), timer))
        await timer

    async def run(self, *tasks: Awaitable[None]) -> None:
        """Run ``tasks`` to the end on this clock."""
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:
            self._pool = _CountingPool(loop)
        pool = self._pool
        loop.set_default_executor(pool)  # shut down with the loop, as any default
        limiter = anyio.to_thread.current_default_thread_limiter()

        def threads_busy() -> bool:
            return pool.open > 0 or limiter.borrowed_tokens > 0

        work = asyncio.ensure_future(asyncio.gather(*tasks))
        while not work.done():
            await self._settle(threads_busy)
            if self._timers and not work.done():
                at, _, timer = heapq.heappop(self._timers)
                if timer.done():  # its sleeper was cancelled: nothing waits on it
                    continue
                self.now = max(self.now, at)
                timer.set_result(None)
        await work

    @staticmethod
    async def _settle(threads_busy: Callable[[], bool]) -> None:
        """Let every runnable task reach its next sleep, its threads' work included.

        Quiet means no thread busy before and after two rounds of loop turns in a row: a
        job that ended just before a round has woken its task within it, and one that began
        and ended inside a round (a short one, or a slow machine's) is caught by the next.
        One round let a loaded machine replay a seeded run differently (1 in 8 to 12 runs).
        """
        quiet = 0
        while quiet < 2:
            busy = threads_busy()
            for _ in range(20):
                await asyncio.sleep(0)
            if not busy and not threads_busy():
                quiet += 1
                continue
            quiet = 0
            if threads_busy():
                await asyncio.sleep(_THREAD_POLL)
