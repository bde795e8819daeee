"""The PPTX an export writes over: what its speaker notes hold, and where it is kept.

A ``deck.pptx`` already in place was written by an earlier export, or edited since in
PowerPoint; an export must not lose what it holds. Two rules, applied before the new file
is written:

- **Notes are never dropped.** Each slide's picture is named for its slide number
  (``Slide 3 image``), so the earlier file's notes are read back per slide. If a slide it
  had notes for is in the new deck without any (the prompts are not known: no config, and
  a manifest from before prompts were recorded), the file is not replaced:
  :class:`NotesWouldBeLost` says which slides. An earlier file without those names (from
  before them) is compared by count: fewer slides with notes is refused.
- **A replaced file is kept.** When its content differs from the new one (part by part:
  the zip's timestamps do not count), it is moved into ``.versions/`` beside it under the
  first free number (``deck.2.pptx``), as an image a rerun replaces is; an identical one is
  simply replaced, so exporting twice keeps nothing twice.

A file that is not a PPTX at all (or is too large to read back) has no notes to keep: it is
kept as a version and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from ..files.atomic import write_atomic
from ..files.images import image_mode, keep_version
from ..files.reading import read_regular
from .deck import ExportError

__all__ = [
    "MAX_EARLIER_BYTES",
    "NotesWouldBeLost",
    "picture_name",
    "replace_pptx",
]

MAX_EARLIER_BYTES = 2 * 2**30
"""The largest earlier PPTX read back (50 slides of 4K PNG are about 1 GB)."""

_PICTURE_NAME = re.compile(r"^Slide (\d{1,6}) image$")


class NotesWouldBeLost(ExportError):
    """The file in place has speaker notes the new one would not: it is left as it is.

    Attributes:
        path: the file not replaced.
        slides: the slides whose notes would go (empty when the earlier file does not name
            its slides and only the counts were compared).
    """

    def __init__(self, path: Path, slides: tuple[int, ...], had: int, would: int) -> None:
        self.path = path
        self.slides = slides
        if slides:
            word = "slide" if len(slides) == 1 else "slides"
            listed = ", ".join(str(number) for number in slides)
            what = f"speaker notes on {word} {listed} that this export has no prompt for"
        else:
            what = f"speaker notes on {had} slides where this export would have {would}"
        super().__init__(f"{path} not replaced: it holds {what}")


def picture_name(number: int) -> str:
    """The name a slide's picture is given: its slide number, for the next export to read."""
    return f"Slide {number} image"


@dataclass(frozen=True, slots=True)
class _Earlier:
    digest: str
    notes: Mapping[int, str]  # slide number (or position, when not named) -> notes
    named: bool


def replace_pptx(dest: Path, data: bytes, notes: Mapping[int, str]) -> Path | None:
    """Write ``data`` (a PPTX) at ``dest``, keeping what was there (module docstring).

    Args:
        dest: the file to write.
        data: the new presentation.
        notes: slide number -> the speaker notes the new file gives it (``""``: none), for
            every slide in it.

    Returns:
        Where the earlier file was kept (``.versions/deck.2.pptx``), or ``None`` when there
        was none, or it was the same presentation.

    Raises:
        NotesWouldBeLost: the earlier file's notes would go; nothing was changed.
        ExportError: ``dest`` could not be written (the earlier file is then in place).
    """
    earlier = _read_earlier(dest)
    if earlier is not None:
        _check_notes(dest, earlier, notes)
    kept: Path | None = None
    try:
        if earlier is None or earlier.digest != _digest(data):
            kept = keep_version(dest)
        write_atomic(dest, data, mode=image_mode())
    except OSError as exc:
        if kept is not None:
            with contextlib.suppress(OSError):
                os.rename(kept, dest)  # the earlier file back where it was
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    return kept


def _check_notes(dest: Path, earlier: _Earlier, notes: Mapping[int, str]) -> None:
    had = sum(1 for text in earlier.notes.values() if text.strip())
    would = sum(1 for text in notes.values() if text.strip())
    if earlier.named:
        lost = tuple(
            sorted(
                number
                for number, text in earlier.notes.items()
                if text.strip() and number in notes and not notes[number].strip()
            )
        )
        if lost:
            raise NotesWouldBeLost(dest, lost, had, would)
    elif would < had:
        raise NotesWouldBeLost(dest, (), had, would)


def _read_earlier(dest: Path) -> _Earlier | None:
    """The presentation at ``dest``; ``None`` when nothing readable is there (a symlink, to
    be replaced and not followed; a file too large to read back, kept unread)."""
    from pptx.exc import PythonPptxError

    try:
        data = read_regular(dest, MAX_EARLIER_BYTES)
    except OSError:
        return None
    try:
        return _Earlier(_digest(data), *_notes(data))
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError, PythonPptxError):
        return _Earlier("", {}, named=False)  # not a presentation: no notes to keep


def _digest(data: bytes) -> str:
    """A digest of a zip's members and their contents, whatever their timestamps."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for name in sorted(archive.namelist()):
            member = archive.read(name)
            digest.update(f"{name}\0{len(member)}\0".encode())
            digest.update(member)
    return digest.hexdigest()


def _notes(data: bytes) -> tuple[dict[int, str], bool]:
    """Each slide's notes, by slide number when every picture is named for it."""
    from pptx import Presentation

    presentation = Presentation(BytesIO(data))
    by_number: dict[int, str] = {}
    by_position: dict[int, str] = {}
    named = True
    for position, slide in enumerate(presentation.slides, start=1):
        text = slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else ""
        text = text or ""
        by_position[position] = text
        numbers = [
            int(match[1])
            for shape in slide.shapes
            if (match := _PICTURE_NAME.match(shape.name)) is not None
        ]
        if len(numbers) != 1 or numbers[0] in by_number:
            named = False
        else:
            by_number[numbers[0]] = text
    return (by_number, True) if named and by_number else (by_position, False)
