"""What the progress tests share: a fake monotonic clock, a tracker, slide paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.lowlevel

from nanobanana_async.engine.events import Event
from nanobanana_async.engine.progress import ProgressTracker

SEED_FIELDS = {"current", "total", "status", "completed", "failed", "started_at", "updated_at"}
OUT = Path("/decks/demo")
STARTED_AT = "2026-01-16T10:30:00Z"
STARTED = datetime(2026, 1, 16, 10, 30, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that moves only when told: never a real sleep.

    By default a sleep jumps the clock forward. ``driven=True`` makes the test the only
    mover: a sleep yields until the test has advanced the clock past its end, as real time
    passes while events keep arriving.
    """

    def __init__(self, *, driven: bool = False) -> None:
        self.now = 0.0
        self.driven = driven
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        end = self.now + seconds
        if not self.driven:
            self.now = end
        await anyio.lowlevel.checkpoint()
        while self.now < end:
            await anyio.lowlevel.checkpoint()


def new_tracker(total: int = 4, wall: Callable[[], datetime] | None = None) -> ProgressTracker:
    return ProgressTracker(
        total=total,
        output_dir=OUT,
        started_at=STARTED_AT,
        started_mono=0.0,
        pid=4242,
        wall_clock=wall or (lambda: STARTED),
    )


def wall(mono: Callable[[], float]) -> Callable[[], datetime]:
    """A wall clock that moves with the monotonic one: ``STARTED`` at monotonic 0."""
    return lambda: STARTED + timedelta(seconds=mono())


def slide_path(slide: int) -> Path:
    return OUT / f"slide-{slide:02d}.webp"


def feed(tracker: ProgressTracker, *events: Event) -> None:
    for event in events:
        tracker.apply(event)
