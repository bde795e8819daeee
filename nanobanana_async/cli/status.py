"""``nanobanana status`` and ``nanobanana wait``: a run, seen from outside, in one line.

The file is read and judged by :mod:`nanobanana_async.follow.progress_file`; these commands
print its line and end with its code: 0 done with an image, 1 none (or no run, or it
died, or the file is not a progress file of the user's), 130 cancelled, 124 ``wait`` timed
out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..exits import EXIT_TIMED_OUT
from ..follow.progress_file import Watch, view

__all__ = ["status_command", "wait_command"]

_POLL_SECONDS = 0.25

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def status_command(progress_file: Path, *, wall_clock: WallClock = _utc_now) -> int:
    seen = view(progress_file, wall_clock())
    print(seen.line)
    return 0 if seen.code is None else seen.code


def wait_command(
    progress_file: Path,
    timeout: float,
    *,
    wall_clock: WallClock = _utc_now,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Block until the run is over or ``timeout`` seconds pass; print one line.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable, for tests that never wait.
    """
    deadline = clock() + timeout
    watch = Watch(progress_file)
    while True:
        seen, final = watch.look(clock(), wall_clock())
        now = clock()
        if final:
            print(seen.line)
            assert seen.code is not None
            return seen.code
        if now >= deadline:
            print(seen.line)
            return EXIT_TIMED_OUT if seen.code is None else seen.code
        sleep(min(_POLL_SECONDS, max(0.0, deadline - now)))
