"""``nanobanana run --detach``: start a run in the background and return once it is going.

The parent starts the run in a new session, waits until the child has written its first
progress snapshot (its pid is in the file) or exited, and says which in one line: a config
error keeps its exit code 2 and its message, and a ``wait`` issued right after cannot read
the previous run's file. The child's stdout and stderr go to ``<progress file>.log``
(0600). Why not the agent's own background facility: docs/design.md, "What an agent reads".

Before the log is touched, the parent makes the checks the run itself would make of the
progress file and its lock (:func:`.check_files`, :class:`.RunLock`), so a second
``--detach`` refused for a live run leaves that run's log alone. The log sits beside the
progress file, in a shared temp dir by default: it is made afresh, ``O_EXCL``, never
opened where it stands, so a file planted there in advance (world-writable, say), a
symlink or a FIFO never receives the run's output, and another user's file is refused.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..engine.outputs import OWN_FILES, check_files
from ..errors import ConfigError, RunLockedError
from ..exits import DEFAULT_PROGRESS_FILE, EXIT_USAGE
from ..files.atomic import file_kind
from ..files.lock import RunLock
from .status import NotAProgressFile, read_progress
from .summary import printable

__all__ = ["detach_command", "invoked_as"]

_START_TIMEOUT = 60.0
_POLL_SECONDS = 0.05
# The end of the log read for the child's last line (its one-line error).
_LOG_TAIL_BYTES = 4096


def _child_args(argv: Sequence[str]) -> list[str]:
    args = [a for a in argv if a != "--detach"]
    if args and args[0] != "run":
        args = ["run", *args]
    return [*args, "--quiet"]


def invoked_as(env: Mapping[str, str] | None = None, argv0: str | None = None) -> str:
    """The command as the user (or agent) typed it, so the line it is told to run exists.

    The skill's launcher execs the engine with ``NANOBANANA_LAUNCHER`` set to its own path;
    ``python -m nanobanana_async`` is given back as such; an installed ``nanobanana`` is
    its bare name when that is what ``PATH`` finds, else its path.
    """
    env = os.environ if env is None else env
    argv0 = sys.argv[0] if argv0 is None else argv0
    launcher = env.get("NANOBANANA_LAUNCHER", "")
    if launcher and os.access(launcher, os.X_OK):
        return shlex.quote(launcher)
    if not argv0 or Path(argv0).name in ("__main__.py", "-c"):
        return f"{shlex.quote(sys.executable)} -m nanobanana_async"
    name = Path(argv0).name
    found = shutil.which(name, path=env.get("PATH"))
    if found is not None and os.path.realpath(found) == os.path.realpath(argv0):
        return shlex.quote(name)
    return shlex.quote(os.path.abspath(argv0))


def detach_command(argv: Sequence[str], progress_file: Path) -> int:
    """Start ``run`` with ``argv`` (minus ``--detach``) in the background; print one line."""
    log_path = progress_file.with_name(progress_file.name + ".log")
    try:
        check_files(progress_file, None)
        with RunLock(progress_file):
            pass  # free now: the refusal a live run gets, in the run's own words
        fd = _open_log(log_path)
    except (ConfigError, RunLockedError) as error:
        print(f"nanobanana: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "nanobanana_async", *_child_args(argv)],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,
        )
        return _follow_start(child, progress_file, log_path, fd)
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
    child: subprocess.Popen[bytes], progress_file: Path, log_path: Path, log: int
) -> int:
    """Wait for the child's first snapshot, or its exit; print one line."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        code = child.poll()
        try:
            progress = read_progress(progress_file)
        except NotAProgressFile:
            progress = None  # not (yet) the child's: it says why in the log when it exits
        if progress is not None and progress.get("pid") == child.pid:
            follow = f"{invoked_as()} wait"
            if progress_file != DEFAULT_PROGRESS_FILE:
                follow += f" --progress-file {shlex.quote(str(progress_file))}"
            print(f"started {progress['total']} slides (pid {child.pid}); follow: {follow}")
            return 0
        if code is not None:
            print(_last_line(log) or f"run exited with code {code}", file=sys.stderr)
            return code
        time.sleep(_POLL_SECONDS)
    where = printable(str(log_path))
    print(f"started (pid {child.pid}), no progress yet; see {where}", file=sys.stderr)
    return 0


def _last_line(log: int) -> str:
    """The last line the child wrote, read from the log's own descriptor (never reopened)."""
    size = os.fstat(log).st_size
    tail = os.pread(log, _LOG_TAIL_BYTES, max(0, size - _LOG_TAIL_BYTES))
    lines = tail.decode(errors="replace").strip().splitlines()
    return printable(lines[-1]) if lines else ""
