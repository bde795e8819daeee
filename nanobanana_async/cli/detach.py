"""``nanobanana run --detach``: start a run in the background and return once it is going.

The parent starts the run in a new session, waits until the child has written its first
progress snapshot (its pid is in the file) or exited, and says which in one line: a config
error keeps its exit code 2 and its message, and a ``wait`` issued right after cannot read
the previous run's file. The child's stdout and stderr go to ``<progress file>.log``
(0600). Why not the agent's own background facility: docs/design.md, "What an agent reads".
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..exits import DEFAULT_PROGRESS_FILE
from .status import read_progress

__all__ = ["detach_command", "invoked_as"]

_START_TIMEOUT = 60.0
_POLL_SECONDS = 0.05


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
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "nanobanana_async", *_child_args(argv)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        code = child.poll()
        progress = read_progress(progress_file)
        if progress is not None and progress.get("pid") == child.pid:
            total = progress.get("total", "?")
            follow = f"{invoked_as()} wait"
            if progress_file != DEFAULT_PROGRESS_FILE:
                follow += f" --progress-file {shlex.quote(str(progress_file))}"
            print(f"started {total} slides (pid {child.pid}); follow: {follow}")
            return 0
        if code is not None:
            output = log_path.read_text(errors="replace").strip().splitlines()
            print(output[-1] if output else f"run exited with code {code}", file=sys.stderr)
            return code
        time.sleep(_POLL_SECONDS)
    print(f"started (pid {child.pid}), no progress yet; see {log_path}", file=sys.stderr)
    return 0
