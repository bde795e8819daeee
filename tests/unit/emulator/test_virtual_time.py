"""VirtualTime: the clock jumps only once every task waits on a timer, threads included."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import pytest

from nanobanana_async.emulator import VirtualTime


async def test_sleepers_wake_in_the_order_of_their_timers_at_their_times() -> None:
    time = VirtualTime(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await time.sleep(seconds)
        woke.append((name, time.clock()))

    await time.run(sleeper("late", 5.0), sleeper("early", 2.0), sleeper("middle", 3.0))
    assert woke == [("early", 2.0), ("middle", 3.0), ("late", 5.0)]


def _work() -> bytes:
    """Some milliseconds of CPU: far more than the runner's turns of the loop take."""
    return hashlib.sha256(bytes(8_000_000)).digest()


@pytest.mark.parametrize(
    "offload",
    [asyncio.to_thread, anyio.to_thread.run_sync],
    ids=["asyncio.to_thread", "anyio.to_thread"],
)
async def test_the_clock_stands_still_while_a_worker_thread_works(
    offload: Callable[[Callable[[], bytes]], Awaitable[Any]],
) -> None:
    # The emulator renders its answers in worker threads while their latency runs: were
    # the clock to jump to the next timer meanwhile, an answer would be stamped late.
    time = VirtualTime(start=0.0)
    done_at: list[float] = []

    async def worker() -> None:
        await offload(_work)
        done_at.append(time.clock())

    async def other() -> None:
        await time.sleep(5.0)

    await time.run(worker(), other())
    assert done_at == [0.0]
    assert time.clock() == 5.0
