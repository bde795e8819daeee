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
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable

__all__ = ["VirtualTime"]


class VirtualTime:
    """One clock for every task of a run, jumped by :meth:`run`; starts at ``start``."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        timer = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._order), timer))
        await timer

    async def run(self, *tasks: Awaitable[None]) -> None:
        """Run ``tasks`` to the end on this clock."""
        work = asyncio.ensure_future(asyncio.gather(*tasks))
        while not work.done():
            for _ in range(20):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._timers and not work.done():
                at, _, timer = heapq.heappop(self._timers)
                if timer.done():  # its sleeper was cancelled: nothing waits on it
                    continue
                self.now = max(self.now, at)
                timer.set_result(None)
        await work
