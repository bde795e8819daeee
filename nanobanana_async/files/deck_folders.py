"""The deck's own folders (``.thumbs``, ``.originals``, ``.versions``, ``.turns``): truly ours.

A deck's folder may be writable by others (a shared project folder), and then anyone can
put a symlink, or a folder of their own, under one of these names: a symlink to another
deck's ``.thumbs`` would draw that deck's private images into this one's contact sheet, one
for ``.versions`` would move the images a rerun replaces into someone else's folder, and one
for ``.originals`` would have a rerun read whatever it points at (gigabytes, or a FIFO that
blocks forever). So each is reached through :func:`deck_folder` only: opened
``O_DIRECTORY | O_NOFOLLOW`` (a symlink is refused, never followed) and judged by what was
opened (``fstat``): a directory of the user's own that nobody else may write in. Every
file in it is then reached through that open folder (``dir_fd``), never through the
folder's name again, so a folder swapped after the check is never entered; and each is
read as :func:`~.reading.read_regular` reads an untrusted file: no symlink, never
blocking, capped, the user's own. A folder this tool makes is made 0700.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .atomic import file_kind, write_atomic
from .reading import NotReadable, read_regular

__all__ = [
    "DECK_FOLDERS",
    "ORIGINALS_DIR",
    "THUMBS_DIR",
    "TURNS_DIR",
    "VERSIONS_DIR",
    "DeckFolder",
    "UnsafeFolder",
    "check_deck_folders",
    "deck_folder",
    "folder_problem",
    "kept_file",
    "read_kept",
]

ORIGINALS_DIR = ".originals"
"""Where the bytes the service sent are kept, to re-encode without paying again."""
VERSIONS_DIR = ".versions"
"""Where an image replaced by a later run of its deck goes (``slide-03.2.webp``)."""
THUMBS_DIR = ".thumbs"
"""Where a small copy of each saved image waits for the contact sheet (``slide-03.webp.jpg``)."""
TURNS_DIR = ".turns"
"""Where the model's turn that made each image is kept, signatures and all, so an edit of it
continues the conversation (``slide-03.webp.e1.0123456789abcdef.png.json``)."""
DECK_FOLDERS = (ORIGINALS_DIR, VERSIONS_DIR, THUMBS_DIR, TURNS_DIR)

_MODE = 0o700
_OPEN_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UnsafeFolder(NotReadable):
    """One of the deck's folders is not a real folder of the user's: it is not used.

    ``str()`` names the folder (``/deck/.thumbs is a symlink, not followed``); ``reason``
    is the part after its path.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path} {self.reason}"


class DeckFolder:
    """One of the deck's folders, open and checked: its files are reached through it.

    Attributes:
        path: the folder, for messages and for the paths handed back.
        fd: the open folder.
    """

    __slots__ = ("fd", "path")

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def __repr__(self) -> str:
        return f"<DeckFolder {self.path} fd={self.fd}>"

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of the user's regular file ``name`` in it, at most ``limit``.

        Raises:
            FileNotFoundError: there is none.
            NotReadable: something else is there (a symlink, a FIFO, another user's file),
                or it is over ``limit``.
        """
        return read_regular(name, limit, own=True, dir_fd=self.fd)

    def stat(self, name: str) -> os.stat_result | None:
        """``name``'s own status (a symlink not followed) if it is a regular file of the
        user's, else ``None``."""
        try:
            info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        return info

    def write(self, name: str, data: bytes, *, mode: int) -> Path:
        """Write ``name`` in it atomically (:func:`~.atomic.write_atomic`); its path."""
        write_atomic(name, data, mode=mode, dir_fd=self.fd)
        return self.path / name

    def link(self, source: Path, name: str) -> Path:
        """Hard-link ``source`` (a symlink there is linked, not followed) as ``name`` in it.

        Raises:
            FileExistsError: ``name`` is taken.
        """
        os.link(source, name, dst_dir_fd=self.fd, follow_symlinks=False)
        return self.path / name

    def move_in(self, source: Path, name: str) -> Path:
        """Rename ``source`` to ``name`` in it (replacing what is there); its path."""
        os.replace(source, name, dst_dir_fd=self.fd)
        return self.path / name


@contextlib.contextmanager
def deck_folder(output_dir: Path, name: str, *, create: bool = False) -> Iterator[DeckFolder]:
    """``output_dir/name``, open, once it is a real folder of the user's (module docstring).

    Args:
        output_dir: the deck's folder.
        name: one of :data:`DECK_FOLDERS`.
        create: make it (0700) if it is not there.

    Raises:
        FileNotFoundError: it is not there (and not ``create``), or neither is ``output_dir``.
        UnsafeFolder: something else is there; nothing in it is touched.
        OSError: it cannot be opened or made (permissions, I/O).
    """
    path = output_dir / name
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, _MODE)  # onto a symlink: EEXIST, then refused below
    fd = _open(path)
    try:
        yield DeckFolder(path, fd)
    finally:
        os.close(fd)


def folder_problem(output_dir: Path, name: str) -> UnsafeFolder | None:
    """Why ``output_dir/name`` is not used, if something is there and it is unfit."""
    try:
        with deck_folder(output_dir, name):
            return None
    except UnsafeFolder as unsafe:
        return unsafe
    except OSError:
        return None  # not there (made when needed), or unreadable: said where it is used


def check_deck_folders(output_dir: Path) -> None:
    """Refuse a deck whose folders are not real folders of the user's, before a run.

    Raises:
        UnsafeFolder: the first of them found unfit.
    """
    for name in DECK_FOLDERS:
        if (unsafe := folder_problem(output_dir, name)) is not None:
            raise unsafe


def read_kept(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, a file in one of the deck's folders (``deck/.originals/x``),
    read through the folder (:meth:`DeckFolder.read`).

    Raises:
        FileNotFoundError, NotReadable (:class:`UnsafeFolder` for the folder), OSError.
    """
    with deck_folder(path.parent.parent, path.parent.name) as folder:
        return folder.read(path.name, limit)


def kept_file(path: Path) -> bool:
    """Whether ``path``, in one of the deck's folders, is a regular file of the user's in
    a real folder of theirs. Never raises."""
    try:
        with deck_folder(path.parent.parent, path.parent.name) as folder:
            return folder.stat(path.name) is not None
    except OSError:
        return False


def _open(path: Path) -> int:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFolder(path, _what(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise UnsafeFolder(path, f"belongs to another user (uid {info.st_uid}), not used")
        if info.st_mode & _OTHERS_WRITE:
            mode = stat.S_IMODE(info.st_mode)
            raise UnsafeFolder(path, f"can be written by others (mode {mode:04o}), not used")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _what(path: Path) -> str:
    """What is at ``path`` instead of a folder, in words (``is a symlink, not followed``)."""
    try:
        kind = file_kind(os.lstat(path).st_mode)
    except OSError:
        return "is not a folder"
    if kind == "a symlink":
        return "is a symlink, not followed"
    return f"is {kind}, not a folder"
