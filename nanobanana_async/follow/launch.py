"""A run started in the background, returned from once it is going.

The caller starts ``nanobanana run`` in a new session (so it outlives the caller, its
terminal and its process group: an agent's shell or an MCP client that goes away), waits
until the child has written its first progress snapshot (its pid is in the file) or exited,
and learns which: a config error keeps its exit code 2 and its one line, and a waiter
asking right after cannot read the previous run's file. The child's stdout and stderr go
to ``<progress file>.log`` (0600). Why not the agent's own background facility:
docs/design.md, "What an agent reads".

Before the log is touched, the checks the run itself would make of the progress file and
its lock are made (:func:`.check_files`, :class:`.RunLock`), so a second start refused for
a live run leaves that run's log alone. The log sits beside the progress file, in a shared
temp dir by default: it is made afresh, ``O_EXCL``, never opened where it stands, so a file
planted there in advance (world-writable, say), a symlink or a FIFO never receives the
run's output, and another user's file is refused.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..engine.preflight import OWN_FILES, check_files
from ..errors import ConfigError, RunLockedError
from ..exits import EXIT_USAGE
from ..files.atomic import file_kind
from ..files.lock import RunLock
from ..wording import plural
from .progress_file import NotAProgressFile, read_progress
from .summary import printable

__all__ = ["Launched", "launch"]

_START_TIMEOUT = 60.0
_POLL_SECONDS = 0.05
# The end of the log read for the child's last line (its one-line error).
_LOG_TAIL_BYTES = 4096


class Launched(NamedTuple):
    """How a start went: ``progress`` is the child's first snapshot once it is going.

    ``code`` is 0 when the run is going (or started without a snapshot yet, ``line`` then
    says where its log is), else the child's exit code with its last line, or 2 with the
    refusal of a check made before it was started.
    """

    code: int
    line: str
    pid: int | None = None
    progress: dict[str, Any] | None = None


def launch(
    run_args: Sequence[str],
    progress_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Launched:
    """Start ``nanobanana`` with ``run_args`` (``run ...``, writing ``progress_file``)."""
    log_path = progress_file.with_name(progress_file.name + ".log")
    try:
        check_files(progress_file, None)
        with RunLock(progress_file):
            pass  # free now: the refusal a live run gets, in the run's own words
        fd = _open_log(log_path)
    except (ConfigError, RunLockedError) as error:
        return Launched(EXIT_USAGE, f"nanobanana: error: {error}")
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "nanobanana_async", *run_args],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
        return _follow_start(child, progress_file, log_path, fd, sleep)
    finally:
        os.close(fd)


def _open_log(path: Path) -> int:
    """A new, empty log at ``path`` (0600, read-write), or a one-line refusal.

    A log of one's own already there (an earlier run's, or a symlink) is removed first;
    the new one is created ``O_EXCL | O_NOFOLLOW``, so it is this run's file and nobody's
    else, whatever appeared at the path meanwhile.

    Raises:
        ConfigError: another user's file, or something not a regular file, is at ``path``,
            or the log cannot be created.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
            problem = f"is {file_kind(info.st_mode)}, not a regular file"
            raise ConfigError("progress_file", f"its log {path} {problem}; {OWN_FILES}")
        if info.st_uid != os.geteuid():
            problem = f"belongs to another user (uid {info.st_uid})"
            raise ConfigError("progress_file", f"its log {path} {problem}; {OWN_FILES}")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            problem = f"cannot replace its log {path}: {exc.strerror or exc}"
            raise ConfigError("progress_file", problem) from None
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        problem = "was created by someone else meanwhile"
        raise ConfigError("progress_file", f"its log {path} {problem}; {OWN_FILES}") from None
    except OSError as exc:
        raise ConfigError(
            "progress_file", f"cannot create its log {path}: {exc.strerror or exc}"
        ) from None
    os.fchmod(fd, 0o600)  # exact, whatever the umask
    return fd


def _follow_start(
    child: subprocess.Popen[bytes],
    progress_file: Path,
    log_path: Path,
    log: int,
    sleep: Callable[[float], None],
) -> Launched:
    """Wait for the child's first snapshot, or its exit."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        code = child.poll()
        try:
            progress = read_progress(progress_file)
        except NotAProgressFile:
            progress = None  # not (yet) the child's: it says why in the log when it exits
        if progress is not None and progress.get("pid") == child.pid:
            line = f"started {plural(int(progress['total']), 'slide')} (pid {child.pid})"
            return Launched(0, line, child.pid, progress)
        if code is not None:
            return Launched(code, _last_line(log) or f"run exited with code {code}", child.pid)
        sleep(_POLL_SECONDS)
    where = printable(str(log_path))
    return Launched(0, f"started (pid {child.pid}), no progress yet; see {where}", child.pid)


def _last_line(log: int) -> str:
    """The last line the child wrote, read from the log's own descriptor (never reopened)."""
    size = os.fstat(log).st_size
    tail = os.pread(log, _LOG_TAIL_BYTES, max(0, size - _LOG_TAIL_BYTES))
    lines = tail.decode(errors="replace").strip().splitlines()
    return printable(lines[-1]) if lines else ""
