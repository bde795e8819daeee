"""``nanobanana status`` and ``nanobanana wait``: a run, seen from outside, in one line.

They read the progress file for the agent and print one line: ``running 4/10, 3 in flight,
ETA 30s``, or the final summary. ``wait`` polls until the run is over or ``--timeout``
passes, reading only snapshots renamed into place whole. A run whose process is gone while
its file says ``running`` is reported dead; a quota wait is judged by ``waiting_until``
against the wall clock (injectable). Exit codes: 0 done with an image, 1 none (or no run,
or it died), 130 cancelled, 124 ``wait`` timed out. Why: docs/design.md, "What an agent reads".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..exits import EXIT_TIMED_OUT
from .summary import progress_line

__all__ = ["read_progress", "status_command", "wait_command"]

_POLL_SECONDS = 0.25

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _alive(pid: object) -> bool:
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


def _view(path: Path, now: datetime) -> tuple[str, int | None]:
    """The line to print and the exit code, or ``None`` while the run goes on."""
    data = read_progress(path)
    if data is None:
        return f"no run found at {path}", 1
    state = data.get("state", "running")
    if state == "running" and not _alive(data.get("pid")):
        line = progress_line({**data, "waiting_until": None}, now)  # it waits for nothing
        return f"died {line.removeprefix('running ')}; rerun with --resume to finish", 1
    line = progress_line(data, now)
    if state == "running":
        return line, None
    if state == "cancelled":
        return line, 130
    return line, 0 if int(data.get("succeeded") or 0) > 0 else 1


def status_command(progress_file: Path, *, wall_clock: WallClock = _utc_now) -> int:
    line, code = _view(progress_file, wall_clock())
    print(line)
    return 0 if code is None else code


def wait_command(progress_file: Path, timeout: float, *, wall_clock: WallClock = _utc_now) -> int:
    deadline = time.monotonic() + timeout
    while True:
        line, code = _view(progress_file, wall_clock())
        if code is not None and not line.startswith("no run found"):
            print(line)
            return code
        if time.monotonic() >= deadline:
            print(line)
            return EXIT_TIMED_OUT if code is None else code
        time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
