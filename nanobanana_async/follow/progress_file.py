"""A run's progress file, read from outside: safely, and judged in one line.

``status``, ``wait``, ``stop`` and the MCP server's tools read the progress file for the
agent: ``running 4/10, 3 in flight, ETA 30s``, or the final summary. A run whose file says
``running`` while its lock is let go (or its process gone) is reported dead; a quota wait
is judged by ``waiting_until`` against the wall clock. A finished run is told from its
results (the copy in its output folder), whose errors carry their kinds, so the line can
name the fix; they follow the final snapshot by a moment, which :class:`Watch` gives them.
Why: docs/design.md, "What an agent reads".

What they read is untrusted: the default progress file sits in a shared temp dir, where
anyone may have put a file first. Only a regular file of the user's own, under a size cap,
with a progress file's fields of their types, is read; anything else is one line (``not a
progress file of nanobanana: ...``) at once. Nothing but a regular file is opened, and that
without blocking, so a FIFO hangs nothing and every wait keeps its timeout. The line is
built only from the fields checked here, by :mod:`.summary`, which escapes what it prints.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ..config.fields import json_kind
from ..exits import RESULTS_COPY_NAME
from ..files.lock import LOCK_SUFFIX, lock_holder
from ..files.reading import NotOwn, NotReadable, read_regular
from .summary import died_line, printable, progress_line, result_line

__all__ = [
    "MAX_FILE_BYTES",
    "NotAProgressFile",
    "View",
    "Watch",
    "read_progress",
    "read_results",
    "run_holder",
    "view",
]

# How long ``wait`` gives a finished run's results to appear after its final snapshot: the
# engine writes them right after it (milliseconds), so this is only ever the worst case.
_RESULTS_GRACE = 1.0
# How long ``wait`` gives a run that is over to write its last files and let its lock go
# (a contact sheet of a big deck takes a second or two); past it, the line is printed.
_FINISHING_GRACE = 30.0
# A snapshot of 10,000 slides is 0.8 MB (every saved path listed, long paths), 3.1 MB with
# every slide failed on a 300-character reason; the results copy is of the same order. Ten
# times the largest: a bigger file is none of ours, and reading it would cost memory in
# proportion (a 3 GB file once took 6 GB).
MAX_FILE_BYTES = 32 * 2**20
_NOT_OURS = "not a progress file of nanobanana"


class NotAProgressFile(Exception):
    """A file is at the path but is not read; ``str()`` is the one line that says why."""


class _Refused(Exception):
    """What :func:`_load` found instead of a file to read: ``str()`` completes "PATH ..."."""


class _Foreign(_Refused):
    def __init__(self, uid: int) -> None:
        super().__init__(f"belongs to another user (uid {uid})")
        self.uid = uid


def _own_regular_file(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def run_holder(progress_file: Path) -> int | None:
    """:func:`.lock_holder`, but only of a lock a run of the user's could hold.

    That is a regular file of their own: a FIFO planted there would block the open, and
    another user's lock (which they could swap for one) holds no run of ours.
    """
    lock = progress_file.with_name(progress_file.name + LOCK_SUFFIX)
    return lock_holder(progress_file) if _own_regular_file(lock) else None


def _alive(progress_file: Path, pid: object) -> bool:
    """Whether the run writing ``progress_file`` lives: its lock says, where it has one.

    The kernel lets a lock go when its holder dies, however it dies; a pid may have been
    reused since. A file with no lock of ours beside it (not written by a run) falls back on
    the pid.
    """
    if _own_regular_file(progress_file.with_name(progress_file.name + LOCK_SUFFIX)):
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


def _load(path: Path) -> dict[str, Any] | None:
    """The JSON object in the file at ``path``; ``None`` when there is no file.

    Raises:
        _Refused: something is there, but not a JSON object in a file of the user's own.
    """
    try:
        data = read_regular(path, MAX_FILE_BYTES, own=True)
    except FileNotFoundError:
        return None
    except NotOwn as foreign:
        raise _Foreign(foreign.uid) from None
    except NotReadable as refused:
        raise _Refused(refused.reason) from None
    except OSError as exc:
        raise _Refused(f"cannot be read ({exc.strerror or exc})") from None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise _Refused("is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _Refused(f"holds a JSON {json_kind(parsed)}, not an object")
    return parsed


# -- the fields of the files, and their types --------------------------------------------

_MAX_WHOLE = 2**63 - 1
_MAX_PATH = 4096  # PATH_MAX: a longer output_dir names no folder
_STATES = ("running", "stopping", "done", "failed", "cancelled")
_LIVE = ("running", "stopping")


def _whole(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_WHOLE  # not a bool


def _seconds(value: object) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= _MAX_WHOLE
    )


def _slides(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(_whole(n) for n in value))


def _time(value: object) -> bool:
    return value is None or isinstance(value, str)


def _path(value: object) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_PATH


def _pid(value: object) -> bool:
    return value is None or (type(value) is int and 0 < value < 2**31)


def _state(value: object) -> bool:
    return isinstance(value, str) and value in _STATES


def _reasons(value: object) -> bool:
    return value is None or (
        isinstance(value, dict) and all(isinstance(r, str) for r in value.values())
    )


def _error_entries(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, dict)
        and _whole(e.get("slide", 0))
        and isinstance(e.get("error", ""), str)
        and isinstance(e.get("kind", ""), str)
        for e in value
    )


def _objects(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(o, dict) for o in value)


_Field = tuple[Callable[[object], bool], str]
_WHOLE = (_whole, "a whole number")
_STATE = (_state, "running, stopping, done, failed or cancelled")
_STOP = (
    lambda v: v is None or (isinstance(v, dict) and all(_whole(n) for n in v.values())),
    "an object of counts",
)
_TIME = (_time, "a time (UTC ISO 8601)")
_PATH = (_path, f"a path (up to {_MAX_PATH} characters)")
# What the formatters read, in the order a problem is reported; current and total are
# in every version of the file, the seed's included.
_REQUIRED = ("current", "total")
_PROGRESS: dict[str, _Field] = {
    "current": _WHOLE,
    "total": _WHOLE,
    "state": _STATE,
    "failed": (_slides, "a list of slide numbers"),
    "in_flight": (_slides, "a list of slide numbers"),
    "succeeded": _WHOLE,
    "reused": (lambda v: v is None or _whole(v), "a whole number"),
    "rate_limit_waits": (lambda v: v is None or _whole(v), "a whole number"),
    "eta_seconds": (_seconds, "a number of seconds"),
    "waiting_until": _TIME,
    "started_at": _TIME,
    "updated_at": _TIME,
    "output_dir": _PATH,
    "pid": (_pid, "a process id"),
    "errors": (_reasons, "an object of slide -> reason"),
    "batch": (_reasons, "an object of the batch's name, state and time"),
    "stopping_until": _TIME,
    "duration_seconds": (lambda v: v is None or _whole(v), "a whole number"),
    "stop": _STOP,
}
_RESULTS: dict[str, _Field] = {
    "completed": _WHOLE,
    "total": _WHOLE,
    "duration_seconds": _WHOLE,
    "state": _STATE,
    "output_dir": _PATH,
    "outputs": (_objects, "a list of objects"),
    "errors": (_error_entries, "a list of errors"),
    "dry_run": (lambda v: isinstance(v, bool), "true or false"),
    "stop": _STOP,
}


def _problem(
    data: Mapping[str, Any], fields: Mapping[str, _Field], required: tuple[str, ...] = ()
) -> str | None:
    """What is wrong with ``data`` for ``fields``, in a few words; ``None`` if nothing."""
    for name, (check, expected) in fields.items():
        if name not in data:
            if name in required:
                return f"{name} is missing"
            continue
        value = data[name]
        if not check(value):
            # Numbers are safe to show; text is never echoed, only its type.
            shown = f" {value}" if type(value) in (int, float) else ""
            return f"{name} must be {expected}, got {json_kind(value)}{shown}"
    return None


def read_progress(path: Path) -> dict[str, Any] | None:
    """The progress snapshot at ``path``, its fields checked; ``None`` when there is none.

    Raises:
        NotAProgressFile: a file is there, but not a progress file of the user's runs:
            another user's, not a regular file, over :data:`MAX_FILE_BYTES`, not JSON, or
            a field of the wrong type.
    """
    where = printable(str(path))
    try:
        data = _load(path)
    except _Foreign as exc:
        raise NotAProgressFile(
            f"{where} belongs to another user (uid {exc.uid}), not to a run of yours; "
            "name yours with --progress-file FILE"
        ) from None
    except _Refused as exc:
        raise NotAProgressFile(f"{_NOT_OURS}: {where} {exc}") from None
    if data is None:
        return None
    problem = _problem(data, _PROGRESS, _REQUIRED)
    if problem is not None:
        raise NotAProgressFile(f"{_NOT_OURS}: {where}: {problem}")
    return data


def read_results(progress: Mapping[str, Any]) -> dict[str, Any] | None:
    """The results this finished run wrote in its output folder, if they are there yet.

    A copy that is not the user's own, or not of the results' shape, is not believed.
    """
    folder, started = progress.get("output_dir"), progress.get("started_at")
    if not folder or not started:
        return None
    try:
        results = _load(Path(folder) / RESULTS_COPY_NAME)
    except _Refused:
        return None
    if results is None or results.get("started_at") != started:
        return None  # not yet written, or another run's
    if _problem(results, _RESULTS) is not None:
        return None
    return results if results.get("state") == progress.get("state") else None


class View(NamedTuple):
    """A run's one line, and what a waiter makes of it."""

    line: str
    code: int | None  # the exit code a waiter ends with; None while the run goes on
    patience: float  # how long a better line may be worth waiting for (0: this is final)
    progress: dict[str, Any] | None = None  # the snapshot read, its fields checked
    results: dict[str, Any] | None = None  # the finished run's results, once there


def view(path: Path, now: datetime) -> View:
    """The line for the run writing ``path``, as of ``now`` (UTC, for a quota wait)."""
    try:
        data = read_progress(path)
    except NotAProgressFile as refused:
        return View(str(refused), 1, 0.0)  # no run of ours will make it one
    if data is None:
        return View(f"no run found at {printable(str(path))}", 1, math.inf)
    state = data.get("state", "running")
    if state in _LIVE:
        if not _alive(path, data.get("pid")):
            return View(died_line(data), 1, 0.0, data)
        return View(progress_line(data, now), None, math.inf, data)
    succeeded = int(data.get("succeeded") or 0) > 0
    code = 130 if state == "cancelled" else 0 if succeeded else 1
    results = read_results(data)
    if results is not None:
        return View(result_line(results), code, 0.0, data, results)
    return View(progress_line(data, now), code, _RESULTS_GRACE, data)


class Watch:
    """When a waiter may stop: the run is over, its results are in, its lock is let go.

    The final snapshot comes before the results, manifest and contact sheet are written:
    the run is over for a caller once its process lets the lock go, so the next run started
    at once is not refused as running beside it. ``clock`` is monotonic seconds, read by
    the caller and passed in, so tests never wait.
    """

    def __init__(self, progress_file: Path) -> None:
        self.progress_file = progress_file
        self._ended_at: float | None = None  # first seen over, without its results
        self._over_at: float | None = None  # first seen over, its process still there

    def look(self, now: float, wall: datetime) -> tuple[View, bool]:
        """The line as of ``now``, and whether it is the last one worth waiting for."""
        seen = view(self.progress_file, wall)
        if seen.code is None or seen.patience == math.inf:
            return seen, False
        self._ended_at = now if self._ended_at is None else self._ended_at
        self._over_at = now if self._over_at is None else self._over_at
        holder = run_holder(self.progress_file)
        finishing = holder is not None and now - self._over_at < _FINISHING_GRACE
        return seen, now - self._ended_at >= seen.patience and not finishing
