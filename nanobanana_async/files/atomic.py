"""Write a file so that a reader sees the old content or the new, never a piece of either.

The progress file is polled while it is rewritten, and an image under its final name must be
whole (a resumed run trusts it); both go through :func:`write_atomic`: a fresh temporary file
in the same directory, created ``O_EXCL | O_NOFOLLOW`` with its final permissions, flushed
with ``fsync``, then renamed over the destination. A crash leaves the old file or the new,
plus at worst a stray ``.<name>.<random>.tmp`` that :func:`cleanup_temp_files` removes.
Why each step (a shared ``/tmp`` above all): docs/design.md, "Atomic files".
:func:`check_writable` tries the same steps before a run pays for anything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

__all__ = [
    "TEMP_SUFFIX",
    "ForeignFileError",
    "NotRegularFileError",
    "check_writable",
    "cleanup_temp_files",
    "file_kind",
    "write_atomic",
]

TEMP_SUFFIX = ".tmp"

# 8 random bytes as hex: collisions between concurrent writers are out of reach, and the
# fixed width lets cleanup recognise our files and nothing else.
_RANDOM_BYTES = 8
_TEMP_NAME = re.compile(rf"^\..+\.[0-9a-f]{{{2 * _RANDOM_BYTES}}}{re.escape(TEMP_SUFFIX)}$")
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_EXCL makes a name clash an error rather than a shared file; a few fresh names are
# plenty, since a clash needs someone to guess 64 random bits.
_NAME_ATTEMPTS = 4


def write_atomic(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, dir_fd: int | None = None
) -> None:
    """Replace ``path`` with ``data`` in one step, durably.

    Blocking (``fsync``): call it from a worker thread when on the event loop.

    Args:
        path: the destination (a ``str`` or any path-like). Its directory must exist. A
            symlink already at ``path`` is replaced by the new file; its target is left
            untouched.
        data: the complete new content.
        mode: the permission bits of the new file, exact whatever the umask (``0o600`` for
            files that may hold prompts, ``0o644`` for images meant to be shared).

    Raises:
        OSError: the file could not be written (the destination is then unchanged and no
            temporary file is left behind).
    """
    path = Path(os.fspath(path))
    fd, temp = _create_temp(path, mode, dir_fd)
    try:
        try:
            # The umask only ever removes bits, but an explicit fchmod also adds back the
            # ones a caller asked for (0o644 under umask 077) and survives odd filesystems.
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        # BaseException: a cancelled or interrupted write must not leave its temp behind.
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise
    if dir_fd is None:
        _fsync_directory(path.parent)
    else:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)


class ForeignFileError(PermissionError):
    """The file at a path belongs to another user: replacing it would take theirs.

    In a sticky ``/tmp`` the rename onto it fails (``EPERM``) however writable the folder;
    elsewhere it would destroy another user's file. ``uid`` is its owner.
    """

    def __init__(self, path: Path, uid: int) -> None:
        super().__init__(errno.EPERM, f"{path.name} belongs to another user (uid {uid})", str(path))
        self.uid = uid


class NotRegularFileError(OSError):
    """A FIFO, socket or device is at a path: not a file to replace, nor to open.

    ``kind`` says which (``a FIFO``); a directory raises :class:`IsADirectoryError`.
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{path.name} is {kind}, not a regular file", str(path))
        self.kind = kind


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``a FIFO``, ``a directory``, ``a regular file``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def check_writable(path: str | os.PathLike[str], *, ours: bool = False) -> None:
    """Check that :func:`write_atomic` could write ``path`` now, and leave nothing behind.

    A run checks its files before it sends anything, so a missing folder, a read-only
    mount or a directory in the way is reported before the first image is paid for. The
    check creates and removes a temporary file next to ``path``, exactly as a write would:
    permission bits can lie (root ignores them; an immutable flag or a read-only mount does
    not show in them), a real attempt cannot. What is at ``path`` is looked at, never
    opened: a FIFO there would block the open.

    Args:
        path: the file to be written.
        ours: refuse a file (or symlink) at ``path`` that belongs to another user, as the
            run files in a shared temp dir are: the rename onto it would fail in a sticky
            ``/tmp`` once everything is paid for, and take their file anywhere else. Root
            is refused too, although the kernel would let it.

    Raises:
        IsADirectoryError: ``path`` is a directory (a symlink there is fine: it is replaced).
        NotRegularFileError: a FIFO, socket or device is at ``path``.
        ForeignFileError: with ``ours``, another user's file or symlink is at ``path``.
        OSError: the directory of ``path`` does not take new files.
    """
    path = Path(os.fspath(path))
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
            raise NotRegularFileError(path, file_kind(info.st_mode))
        if ours and info.st_uid != os.geteuid():
            raise ForeignFileError(path, info.st_uid)
    fd, temp = _create_temp(path, 0o600)
    os.close(fd)
    os.unlink(temp)


def cleanup_temp_files(
    directory: Path, stem_prefix: str | tuple[str, ...] = ".", *, min_age: float = 0.0
) -> int:
    """Remove temporary files that an interrupted :func:`write_atomic` left in ``directory``.

    Only names of the exact shape ``.<name>.<16 hex digits>.tmp`` are touched, and only
    regular files (a symlink or directory with such a name is not ours).

    Args:
        directory: where to look (not recursive). A missing directory has nothing to clean.
        stem_prefix: only names starting with this (or with one of these) are removed,
            e.g. ``".nano-banana-progress.json."`` to clean after one file and leave the
            temps of other writers sharing the directory alone. The default matches every
            temp.
        min_age: skip files modified less than this many seconds ago. A temp is normally
            renamed within milliseconds, so a small age spares a concurrent writer's file
            in flight; the default (0) removes everything that matches.

    Returns:
        How many files were removed.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if not (entry.name.startswith(stem_prefix) and _TEMP_NAME.match(entry.name)):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < min_age:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue  # renamed or removed by its writer meanwhile: not ours to count
        removed += 1
    return removed


def _create_temp(path: Path, mode: int, dir_fd: int | None = None) -> tuple[int, Path]:
    for attempt in range(_NAME_ATTEMPTS):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(_RANDOM_BYTES)}{TEMP_SUFFIX}")
        try:
            return os.open(temp, _OPEN_FLAGS, mode, dir_fd=dir_fd), temp
        except FileExistsError:
            if attempt == _NAME_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Best effort: some filesystems (and platforms)
    # refuse to open or fsync a directory, and the data is already safe by then.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
