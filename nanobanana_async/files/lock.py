"""One run per progress file: an advisory lock held for the life of the run.

Two runs writing one progress file would interleave their snapshots, and the default path is
shared (``nano-banana-progress.json`` in the temp dir), so the second run is refused with a
message saying how to run both. The lock is ``flock`` on ``<progress file>.lock``, not a pid
file: the kernel drops it when its holder dies, however it dies. The file is never deleted:
unlinking a flock'd file lets a waiter lock the orphaned inode while a newcomer locks a fresh
one, and then two runs both hold "the" lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from ..errors import RunLockedError

__all__ = ["DECK_LOCK_NAME", "LOCK_SUFFIX", "DeckLock", "RunLock", "deck_holder", "lock_holder"]

LOCK_SUFFIX = ".lock"
DECK_LOCK_NAME = ".nano-banana.lock"
_HOW_TO_RUN_BOTH = "give this run its own files: --progress-file FILE --results-file FILE"


class RunLock:
    """An exclusive lock on ``{progress_file}.lock``, as a (synchronous) context manager.

    Args:
        progress_file: the progress file the run will write. The lock file sits next to it,
            created with mode 0600 and without following a symlink.

    Raises:
        RunLockedError: from :meth:`acquire` (and ``__enter__``) when another live process,
            or another run in this one, holds the lock; also when the lock file cannot be
            opened (a symlink, or another user's file in a shared ``/tmp``), since the cure
            is the same: separate files for this run.
    """

    __slots__ = ("_fd", "lock_path", "progress_file")

    def __init__(self, progress_file: Path) -> None:
        self.progress_file = progress_file
        self.lock_path = progress_file.with_name(progress_file.name + LOCK_SUFFIX)
        self._fd: int | None = None

    def _refusal(self, who: str) -> str:
        return (
            f"{who} is writing {self.progress_file}; wait for it (nanobanana wait) "
            f"or {_HOW_TO_RUN_BOTH}"
        )

    def __repr__(self) -> str:
        state = "held" if self._fd is not None else "free"
        return f"<RunLock {self.lock_path} {state}>"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting, or raise :class:`.RunLockedError`."""
        if self._fd is not None:
            raise RuntimeError(f"{self.lock_path} is already held by this RunLock")
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"another nanobanana run (pid {holder})" if holder else "another nanobanana run"
            raise RunLockedError(self._refusal(who)) from None
        except BaseException:
            os.close(fd)
            raise
        # Only informative, for the message above: a stale pid here is harmless, the lock
        # is the truth.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (idempotent). The file stays, emptied; see the module docstring."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # the pid left behind is only a hint
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        # Non-blocking: a FIFO planted at the lock's path must not hang the open.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            return os.open(self.lock_path, flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                problem = "is a symlink; refusing to follow it"
            elif exc.errno in (errno.EACCES, errno.EPERM):
                problem = "cannot be opened (another user's run?)"
            else:
                problem = f"cannot be opened ({exc.strerror or exc})"
            raise RunLockedError(
                f"the lock file {self.lock_path} {problem}; {self._cure()}"
            ) from None

    def _cure(self) -> str:
        return _HOW_TO_RUN_BOTH


class DeckLock(RunLock):
    """The same lock on ``output_dir/.nano-banana.lock``: one run per deck.

    Two runs on one folder (with progress files of their own, one of them ``--resume``)
    would each ask for every slide the other had not saved yet, and pay twice. The folder
    must exist; the lock file stays in it, empty, after the run.
    """

    __slots__ = ("output_dir",)

    def __init__(self, output_dir: Path) -> None:
        super().__init__(output_dir / DECK_LOCK_NAME)
        self.output_dir = output_dir
        self.lock_path = output_dir / DECK_LOCK_NAME

    def _refusal(self, who: str) -> str:
        return f"{who} is making the deck in {self.output_dir}; {self._cure()}"

    def _cure(self) -> str:
        return (
            "wait for it to end (nanobanana wait --progress-file ITS_FILE), "
            "or give this run another output_dir"
        )


def lock_holder(progress_file: Path) -> int | None:
    """Who holds the run lock of ``progress_file``: a pid, ``0`` (held, pid not yet written)
    or ``None`` (nobody: no run is writing that file).

    Looked at, not taken: a shared ``flock`` tried and dropped at once, so a run starting
    at that very moment could be refused only for that instant. The lock, not the pid in
    the progress file, says a run is alive: a pid may have been reused by now.
    """
    lock_path = progress_file.with_name(progress_file.name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def deck_holder(output_dir: Path) -> int | None:
    """:func:`lock_holder` of the deck lock in ``output_dir``: the run making that deck."""
    return lock_holder(output_dir / DECK_LOCK_NAME.removesuffix(LOCK_SUFFIX))


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    # Empty while the holder is between its flock and its write; garbage is ignored.
    return int(text) if text.isdigit() else None
