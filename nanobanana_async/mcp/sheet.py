"""The contact sheet as ``view_deck`` sends it: one small JPEG, read like any untrusted file.

The sheet sits in the deck's folder, which a config names and others may write to: what is
found under its name may be a FIFO, a symlink, gigabytes, or a picture that decodes to far
more than its file weighs (a 687 KB PNG once cost 1.5 GB). So it is read as every deck file
is (:func:`~nanobanana_async.files.reading.read_regular`: no blocking, no link, a cap, the
user's own), opened only as PNG, JPEG or WebP as export opens images
(:func:`~nanobanana_async.export.deck.open_image`), and decoded only if its header is no
larger than a sheet can be: :data:`~nanobanana_async.export.contact_sheet.MAX_SIDE` wide,
:data:`~nanobanana_async.export.contact_sheet.MAX_HEIGHT` tall (a deck of the most slides).

The JPEG starts at 1024 px on its long side (slide numbers and large text stay legible) and
gives up quality, then pixels, until it fits :data:`VIEW_BYTES`: real slides compress far
less than the emulator's placeholders (a 10-slide sheet of textured images was 81 KB at
1024 px and quality 80).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from ..files.reading import NotReadable, read_regular

__all__ = ["MAX_SHEET_BYTES", "SHEET_NAME", "VIEW_BYTES", "candidates_sheet", "small_jpeg"]

SHEET_NAME = "contact-sheet.png"
"""export's ``CONTACT_SHEET_NAME``, spelt here so that the server loads no Pillow to start."""


def candidates_sheet(slide: int) -> str:
    """export's ``candidates_sheet_name``, spelt here for the same reason."""
    return f"candidates-{slide:02d}.png"


VIEW_BYTES = 40_000
"""The most bytes of JPEG sent (a third more as base64 in the answer), whatever the slides."""
MAX_SHEET_BYTES = 32 * 2**20
"""The largest sheet file read: a sheet of the most slides is a few MB of PNG."""
_VIEW_SIDE = 1024
_VIEW_MIN_SIDE = 256  # under 40 KB whatever the picture, even noise
_VIEW_QUALITIES = (80, 65, 50)
_VIEW_SHRINK = 0.8


def small_jpeg(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The sheet at ``path`` as a JPEG of at most :data:`VIEW_BYTES`, and its size in pixels.

    Raises:
        OSError: no such file, not a regular file of the user's, too big, not a PNG, JPEG
            or WebP, or more pixels than a contact sheet has; its ``strerror`` says which.
    """
    from ..export.contact_sheet import MAX_HEIGHT, MAX_SIDE  # Pillow: only when viewing
    from ..export.deck import UnreadableImage, open_image

    try:
        data = read_regular(path, MAX_SHEET_BYTES, own=True)
    except NotReadable as refused:
        raise OSError(0, refused.reason) from None
    try:
        opened = open_image(data, path.name)
    except UnreadableImage as exc:
        raise OSError(0, str(exc)) from None
    with contextlib.closing(opened):
        width, height = opened.size
        if width > MAX_SIDE or height > MAX_HEIGHT:
            raise OSError(0, f"is {width}x{height}, larger than a contact sheet is, not decoded")
        try:
            picture = opened.convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise OSError(0, f"does not decode ({exc})") from None
    side = _VIEW_SIDE
    while True:
        small = picture.copy()
        small.thumbnail((side, side))
        for quality in _VIEW_QUALITIES:
            out = io.BytesIO()
            small.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= VIEW_BYTES or side <= _VIEW_MIN_SIDE:
                return out.getvalue(), small.size
        side = max(_VIEW_MIN_SIDE, int(side * _VIEW_SHRINK))
