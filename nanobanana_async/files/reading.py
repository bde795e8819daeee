"""Reading a small file someone else may have put in its place: never blocking, capped.

Progress and results files sit in a shared temp dir, a deck's folder may be shared, and a
config names any path: what is found under a name may be a FIFO (an ``open`` would wait
for a writer forever), a symlink to someone's secret, another user's file, or gigabytes.
So every such read goes through :func:`read_regular`: opened without blocking and, unless
the caller follows links on purpose, without following one; judged by what was opened
(``fstat``), not by a look before; read up to a cap, counted as it is read (a file may
grow meanwhile). Each refusal is its own exception, whose ``reason`` completes a sentence
that starts with the path, so every caller words it its own way and none repeats this.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .atomic import file_kind

__all__ = ["NotOwn", "NotReadable", "NotRegular", "TooLarge", "read_regular"]

_CHUNK = 1 << 20


class NotReadable(OSError):
    """Something is at the path, but it is not read; ``reason`` completes "PATH ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotRegular(NotReadable):
    """A directory, FIFO, device, socket, or (not followed) a symbolic link."""

    def __init__(self, kind: str, *, followed: bool = True) -> None:
        super().__init__(f"is {kind}" if followed else f"is {kind}, not followed")
        self.kind = kind


class NotOwn(NotReadable):
    """Another user's file, where only one of the user's own is believed."""

    def __init__(self, uid: int) -> None:
        super().__init__(f"belongs to another user (uid {uid})")
        self.uid = uid


class TooLarge(NotReadable):
    """Over the cap, by its size or by what was read (it grew meanwhile): ``size`` bytes,
    or at least that many."""

    def __init__(self, limit: int, size: int) -> None:
        cap = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,} bytes"
        super().__init__(f"is over {cap}")
        self.limit = limit
        self.size = size


def read_regular(
    path: str | Path,
    limit: int,
    *,
    own: bool = False,
    follow: bool = False,
    dir_fd: int | None = None,
    head: bool = False,
) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit``.

    Args:
        limit: the most bytes read; a bigger file is refused, not cut (unless ``head``).
        head: read only the first ``limit`` bytes of a bigger file (a mark at its start
            is all the caller looks for).
        own: refuse a file that is not the user's own.
        follow: follow a symbolic link (a path the user named on purpose); by default a
            link is refused.
        dir_fd: an open folder that ``path`` (then a plain name) is in: the folder is not
            looked up by its name again (:mod:`.deck_folders`).

    Raises:
        FileNotFoundError: nothing is at ``path``.
        NotRegular, NotOwn, TooLarge: something is there, but it is not read.
        OSError: it cannot be read (permissions, I/O); ``ValueError`` is never raised
            (a NUL in the path is an ``OSError`` here).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except ValueError as exc:  # a NUL in the path
        raise OSError(errno.EINVAL, str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise NotRegular("a symlink", followed=False) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(file_kind(info.st_mode))
        if own and info.st_uid != os.geteuid():
            raise NotOwn(info.st_uid)
        if info.st_size > limit and not head:
            raise TooLarge(limit, info.st_size)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if head:
                    return b"".join(chunks)[:limit]
                raise TooLarge(limit, size)
    finally:
        os.close(fd)
    return b"".join(chunks)
