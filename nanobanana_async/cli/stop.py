"""``nanobanana stop``: end a detached run as Ctrl-C would, then say how it ended.

The run to stop is the process holding the progress file's run lock (a pid in the file
alone may have been reused since). It gets SIGTERM: requests in flight are dropped, the
progress and results files say ``cancelled``, and ``--resume`` continues later. The
command then waits for the lock to be let go and prints the run's final line. The files
are read as ``status`` reads them (:mod:`.status`): nothing but a regular file of the
user's own, so a FIFO or another user's file hangs nothing and says nothing.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..exits import EXIT_FAILED, EXIT_OK, EXIT_TIMED_OUT
from ..follow.progress_file import NotAProgressFile, read_progress, run_holder
from ..follow.summary import died_line, printable, progress_line

__all__ = ["stop_command"]

_POLL_SECONDS = 0.05


def stop_command(progress_file: Path, timeout: float) -> int:
    """SIGTERM the run writing ``progress_file``, wait up to ``timeout`` s, print one line.

    Exit codes: 0 stopped (or already over), 1 no run found, 124 still running at the
    timeout (it may be finishing a request's cleanup; ``nanobanana wait`` follows it).
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
        running = progress.get("state", "running") == "running"
        print(f"nothing to stop: {died_line(progress) if running else progress_line(progress)}")
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
    deadline = time.monotonic() + timeout
    while run_holder(progress_file) is not None:
        if time.monotonic() >= deadline:
            print(f"asked pid {pid} to stop; still running after {timeout:g}s")
            return EXIT_TIMED_OUT
        time.sleep(_POLL_SECONDS)
    try:
        ended = read_progress(progress_file)
    except NotAProgressFile:
        ended = None
    print(progress_line(ended) if ended is not None else f"stopped pid {pid}")
    return EXIT_OK
