"""``nanobanana status`` and ``nanobanana wait``: a run, seen from outside, in one line.

They read the progress file for the agent and print one line: ``running 4/10, 3 in flight,
ETA 30s``, or the final summary. ``wait`` polls until the run is over or ``--timeout``
passes, reading only snapshots renamed into place whole. A run whose file says ``running``
while its lock is let go (or its process gone) is reported dead; a quota wait is judged by
``waiting_until`` against the wall clock (injectable). A finished run is told from its
results (the copy in its output folder), whose errors carry their kinds, so the line can
name the fix; they follow the final snapshot by a moment, which ``wait`` gives them. Exit
codes: 0 done with an image, 1 none (or no run, or it died), 130 cancelled, 124 ``wait``
timed out. Why: docs/design.md, "What an agent reads".
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ..exits import EXIT_TIMED_OUT, RESULTS_COPY_NAME
from ..files.lock import LOCK_SUFFIX, lock_holder
from .summary import died_line, progress_line, result_line

__all__ = ["read_progress", "status_command", "wait_command"]

_POLL_SECONDS = 0.25
# How long ``wait`` gives a finished run's results to appear after its final snapshot: the
# engine writes them right after it (milliseconds), so this is only ever the worst case.
_RESULTS_GRACE = 1.0

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _alive(progress_file: Path, pid: object) -> bool:
    """Whether the run writing ``progress_file`` lives: its lock says, where it has one.

    The kernel lets a lock go when its holder dies, however it dies; a pid may have been
    reused since. A file with no lock beside it (not written by a run) falls back on the pid.
    """
    if progress_file.with_name(progress_file.name + LOCK_SUFFIX).exists():
        return lock_holder(progress_file) is not None
    if not isinstance(pid, int) or pid <= 0:
        return True  # cannot tell: trust the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_progress(path: Path) -> dict[str, Any] | None:
    """The progress snapshot at ``path``, or ``None`` when there is none to read."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _results_of(progress: dict[str, Any]) -> dict[str, Any] | None:
    """The results this finished run wrote in its output folder, if they are there yet."""
    folder, started = progress.get("output_dir"), progress.get("started_at")
    if not folder or not started:
        return None
    results = read_progress(Path(str(folder)) / RESULTS_COPY_NAME)
    if results is None or results.get("started_at") != started:
        return None  # not yet written, or another run's
    return results if results.get("state") == progress.get("state") else None


class _View(NamedTuple):
    line: str
    code: int | None  # None while the run goes on
    patience: float  # how long a better line may be worth waiting for (0: this is final)


def _view(path: Path, now: datetime) -> _View:
    data = read_progress(path)
    if data is None:
        return _View(f"no run found at {path}", 1, math.inf)
    state = data.get("state", "running")
    if state == "running":
        if not _alive(path, data.get("pid")):
            return _View(died_line(data), 1, 0.0)
        return _View(progress_line(data, now), None, math.inf)
    succeeded = int(data.get("succeeded") or 0) > 0
    code = 130 if state == "cancelled" else 0 if succeeded else 1
    results = _results_of(data)
    if results is not None:
        return _View(result_line(results), code, 0.0)
    return _View(progress_line(data, now), code, _RESULTS_GRACE)


def status_command(progress_file: Path, *, wall_clock: WallClock = _utc_now) -> int:
    view = _view(progress_file, wall_clock())
    print(view.line)
    return 0 if view.code is None else view.code


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
    ended_at: float | None = None  # when the run was first seen over, without its results
    while True:
        view = _view(progress_file, wall_clock())
        now = clock()
        if view.code is not None and view.patience < math.inf:
            ended_at = now if ended_at is None else ended_at
            if now - ended_at >= view.patience:
                print(view.line)
                return view.code
        if now >= deadline:
            print(view.line)
            return EXIT_TIMED_OUT if view.code is None else view.code
        sleep(min(_POLL_SECONDS, max(0.0, deadline - now)))
