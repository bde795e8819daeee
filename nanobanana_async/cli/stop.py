"""``nanobanana stop``: end a detached run as Ctrl-C would, then say how it ended.

The run to stop is the process holding the progress file's run lock (a pid in the file
alone may have been reused since). It gets SIGTERM: it sends nothing new, lets the requests
on the wire finish and saves their images (they are paid for), within a bounded wait, and
the progress and results files say ``cancelled``; ``--resume`` continues later. ``--now``
sends a second SIGTERM once the run says it is stopping, which cuts those requests at once
(two signals sent together could arrive as one). The command then waits for the lock to
be let go and prints the run's final line, the one ``status`` prints (:func:`.view`, from
the results where they are): one source for both, so they agree. The files are read as
``status`` reads them: nothing but a regular file of the user's own, so a FIFO or another
user's file hangs nothing and says nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..exits import EXIT_FAILED, EXIT_OK, EXIT_TIMED_OUT
from ..follow.progress_file import NotAProgressFile, read_progress, run_holder, view
from ..follow.summary import died_line, printable, progress_line

__all__ = ["stop_command"]

_POLL_SECONDS = 0.05


def stop_command(
    progress_file: Path,
    timeout: float,
    *,
    now: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """SIGTERM the run writing ``progress_file``, wait up to ``timeout`` s, print one line.

    ``now``: cut the requests on the wire too (a second SIGTERM once the run is stopping).
    Exit codes: 0 stopped (or already over), 1 no run found, 124 still stopping at the
    timeout (finishing its requests on the wire; ``nanobanana wait`` follows it, ``stop
    --now`` cuts them).
    """
    holder = run_holder(progress_file)
    try:
        progress = read_progress(progress_file)
    except NotAProgressFile as refused:
        if holder is None:
            print(refused)
            return EXIT_FAILED
        progress = None  # the lock's holder is the run, whatever its file says
    if holder is None:
        if progress is None:
            print(f"no run found at {printable(str(progress_file))}")
            return EXIT_FAILED
        live = progress.get("state", "running") in ("running", "stopping")
        print(f"nothing to stop: {died_line(progress) if live else progress_line(progress)}")
        return EXIT_OK
    pid = holder or (progress or {}).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        print(f"a run holds {progress_file} but its pid is not known yet; try again")
        return EXIT_FAILED
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # it ended between the look and the signal
    except PermissionError:
        print(f"cannot stop pid {pid}: it is another user's run")
        return EXIT_FAILED
    deadline = clock() + timeout
    cut = not now  # nothing more to send unless --now
    while run_holder(progress_file) is not None:
        if not cut and _stopping(progress_file):
            cut = True
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGTERM)
        if clock() >= deadline:
            line = _line(progress_file)
            print(f"asked pid {pid} to stop; still stopping after {timeout:g}s: {line}")
            return EXIT_TIMED_OUT
        sleep(_POLL_SECONDS)
    print(_line(progress_file))
    return EXIT_OK


def _stopping(progress_file: Path) -> bool:
    """Whether the run says it is stopping (it took the first signal)."""
    try:
        progress = read_progress(progress_file)
    except NotAProgressFile:
        return False
    return progress is not None and progress.get("state") == "stopping"


def _line(progress_file: Path) -> str:
    """The run's line, as ``status`` prints it."""
    return view(progress_file, datetime.now(UTC)).line
