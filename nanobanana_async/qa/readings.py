"""Readings kept: what the OCR found on an image, so the same image is not read twice.

A read costs a second or more of CPU (:func:`~.reading.read_text`), and a deck's images are
read again and again: each ``nanobanana check`` of a deck made, each editable export (every
slide and every plate). An image's reading depends only on its bytes and the reader, so it
is kept under a digest of both, one small JSON file each, in the user's private runtime
folder (:func:`~..files.runtime.runtime_folder`, ``readings/``): never in a deck's folder,
where another user of a shared folder could plant what a slide "says". A file that is not a
regular file of the user's, or does not parse as a reading, is a miss, and is replaced.
The folder is a cache: at most :data:`MAX_KEPT` files, the oldest dropped first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from ..files.atomic import write_atomic
from ..files.reading import read_regular
from ..files.runtime import runtime_folder
from .reading import MAX_SIDE, ReadText, TextLine, read_text

__all__ = ["MAX_KEPT", "Readings"]

MAX_KEPT = 4096
"""Readings kept at most; past it the oldest quarter goes."""
_FORMAT = 1  # bumped when what a reading holds, or how it is made, changes
_MAX_BYTES = 256 * 1024


def _reader() -> str:
    """The reader's name and version: a new OCR model reads differently."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"rapidocr {version('rapidocr')}"
    except PackageNotFoundError:
        return "rapidocr"


class Readings:
    """The readings kept in ``folder`` (``None``: none kept, every image read).

    Args:
        folder: where the readings are kept; see :meth:`default`.
        max_side: the long side an image is read at (part of a reading's key).
        max_kept: readings kept at most (:data:`MAX_KEPT`).
    """

    def __init__(
        self, folder: Path | None, *, max_side: int = MAX_SIDE, max_kept: int = MAX_KEPT
    ) -> None:
        self.folder = folder
        self.max_side = max_side
        self.max_kept = max_kept
        self.reads = 0  # images this object had read by the OCR
        self._reader: str | None = None
        self._pruned = False

    @classmethod
    def default(cls, env: Mapping[str, str] | None = None) -> Readings:
        """The user's readings (none kept where the runtime folder is not private)."""
        return cls(runtime_folder(env, "readings"))

    def read(self, image: bytes) -> ReadText:
        """What ``image`` shows: the reading kept for it, else the OCR's (then kept).

        Raises:
            QaUnavailable: the ``qa`` extra is not installed (on a miss).
            PIL.UnidentifiedImageError: ``image`` does not decode.
        """
        path = self._path(image)
        found = None if path is None else _load(path)
        if found is not None:
            return found
        read = read_text(image, max_side=self.max_side)
        self.reads += 1
        self._put(path, read)
        return read

    def keep(self, image: bytes, read: ReadText) -> None:
        """Keep ``read``, what the OCR found on ``image`` at :attr:`max_side` elsewhere (a
        run's check, on its own pool), so a check or an export later does not read it again."""
        self._put(self._path(image), read)

    def _put(self, path: Path | None, read: ReadText) -> None:
        if path is not None:
            with contextlib.suppress(OSError):
                write_atomic(path, orjson.dumps(_dump(read)), mode=0o600)
                self._prune()

    def _path(self, image: bytes) -> Path | None:
        if self.folder is None:
            return None
        if self._reader is None:
            self._reader = _reader()
        key = hashlib.sha256(f"{_FORMAT}\0{self._reader}\0{self.max_side}\0".encode())
        key.update(hashlib.sha256(image).digest())
        return self.folder / f"{key.hexdigest()[:40]}.json"

    def _prune(self) -> None:
        """Once an object: past ``max_kept`` files, drop the oldest (to three quarters)."""
        if self._pruned or self.folder is None:
            return
        self._pruned = True
        with os.scandir(self.folder) as entries:
            files = [(e.stat().st_mtime, e.path) for e in entries if e.name.endswith(".json")]
        if len(files) <= self.max_kept:
            return
        files.sort()
        for _, old in files[: len(files) - self.max_kept * 3 // 4]:
            with contextlib.suppress(OSError):
                os.unlink(old)


def _dump(read: ReadText) -> dict[str, Any]:
    return {
        "width": read.width,
        "height": read.height,
        "lines": [[line.text, list(line.box), line.score] for line in read.lines],
    }


def _load(path: Path) -> ReadText | None:
    """The reading in ``path``; ``None`` when there is none, or it is not one of ours."""
    try:
        data = orjson.loads(read_regular(path, _MAX_BYTES, own=True))
        lines = tuple(
            TextLine(str(text), (float(a), float(b), float(c), float(d)), float(score))
            for text, (a, b, c, d), score in data["lines"]
        )
        width, height = int(data["width"]), int(data["height"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return ReadText(lines, width, height)
