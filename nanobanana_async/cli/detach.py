"""``nanobanana run --detach``: start a run in the background and return once it is going.

The start itself, its checks and its log are :func:`nanobanana_async.follow.launch.launch`'s;
this command prints its one line, with the command to follow the run as the user (or
agent) invoked this one, so the line it is told to run exists.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..exits import DEFAULT_PROGRESS_FILE
from ..follow.launch import launch
from .runs import RunFiles

__all__ = ["detach_command", "invoked_as"]


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


def detach_command(argv: Sequence[str], files: RunFiles) -> int:
    """Start ``run`` with ``argv`` (minus ``--detach``) in the background; print one line.

    The run is given the files chosen here (``files``), so the one waited for is the one
    it writes, whatever starts meanwhile.
    """
    progress_file = files.progress_file
    chosen = ["--progress-file", str(progress_file), "--results-file", str(files.results_file)]
    started = launch([*_child_args(argv), *chosen], progress_file)
    if started.progress is not None:
        follow = f"{invoked_as()} wait"
        line = started.line
        if files.own:
            line += f" as {files.run_id} (the default progress file is another live run's)"
            follow += f" {files.run_id}"
        elif progress_file != DEFAULT_PROGRESS_FILE:
            follow += f" --progress-file {shlex.quote(str(progress_file))}"
        print(f"{line}; follow: {follow}")
    else:
        print(started.line, file=sys.stderr)  # no snapshot yet (code 0), or why it failed
    return started.code
