"""``nanobanana status`` and ``nanobanana wait``: a run, seen from outside, in one line.

An agent following a background run pays for every byte it reads. Reading the progress
JSON every few seconds costs the whole file each time, and the seed's file grows with every
saved path. These commands read the file for the agent and print one line instead:
``running 4/10, 3 in flight, ETA 30s`` while it runs, the final summary when it is over.

``wait`` blocks until the run is over or ``--timeout`` seconds pass, so the agent makes one
call per tool time-limit instead of a sleep-and-read loop. It polls the file (a few reads a
second of a small local file; no extra dependency for inotify) and only ever reads
snapshots that the writer renamed into place whole.

A run whose process is gone while its file still says ``running`` was killed: the line says
so, rather than letting an agent wait for a run that will never finish.

While the run waits on the quota the line says so, ``running 4/10, waiting on quota 42s, 3
rate-limit waits, ETA 1m30s``, from the file's ``waiting_until`` against the wall clock
(injectable, as ``wall_clock``), so a wait that is over is not reported even if the file
has not been rewritten since.

Exit codes: 0 finished with at least one image, 1 finished with none (or no run found, or
it died), 130 cancelled, 124 ``wait`` timed out with the run still going.
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
