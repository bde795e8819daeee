"""The answer to an edit: the base image with the instruction stamped on it.

A test must tell an edit's answer from a new slide and from its base, and a region edit's
from a whole-image one, without reading text. So the answer is the base at the asked size
with a frame in :func:`stamp_colour` (derived from the instruction) and a label with the
instruction on that colour, drawn over the whole image, or only inside the region of a
region edit. A whole-image label sits low, on a row picked by the instruction, so the
labels of a chain's earlier steps usually stay visible (one pair in six shares a row).

The region is found as the client's marked copy shows it: the box bounding where the copy
differs from the base (compared at a reduced size, where JPEG noise is averaged away), so
every pixel outside it is the base's, re-encoded.

Work is bounded: an image larger than the largest the catalogue answers is not decoded
(the request is then answered as a new slide).
"""

from __future__ import annotations

import colorsys
import io
import math
import zlib

from PIL import Image, ImageChops, ImageDraw

from .catalog import MODELS
from .compression import Segment
from .render import _TEXT_LOCK, _font, _wrap, encode_image
from .turns import Edit, InlineImage

__all__ = ["MAX_PIXELS", "edited", "find_region", "stamp_box", "stamp_colour"]

# The largest image any model answers: no input image bigger than it is decoded.
MAX_PIXELS = max(
    w * h
    for spec in MODELS.values()
    for ratio in spec.aspect_ratios
    for w, h in [spec.pixel_size(ratio, spec.image_sizes[-1] if spec.image_sizes else None)]
)
# Side of the reduced copies compared to find the region.
_COMPARE = 320
# A channel difference (0-255) past JPEG noise at the reduced size.
_THRESHOLD = 48
_WHITE = (255, 255, 255)
# Label rows a whole-image stamp picks from.
_ROWS = 6

Box = tuple[int, int, int, int]


def stamp_colour(instruction: str) -> tuple[int, int, int]:
    """The frame and label colour of ``instruction``'s stamp: a saturated hue of its CRC."""
    hue = (zlib.crc32(instruction.encode()) % 360) / 360
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.9, 0.85)
    return round(red * 255), round(green * 255), round(blue * 255)


def stamp_box(area: Box) -> Box:
    """Where the frame's middle line runs inside ``area`` (left, top, right, bottom).

    A test reads the stamp's colour on this line.
    """
    left, top, right, bottom = area
    inset = _thickness(area) // 2
    return left + inset, top + inset, right - 1 - inset, bottom - 1 - inset


def _thickness(area: Box) -> int:
    left, top, right, bottom = area
    return max(3, round(min(right - left, bottom - top) * 0.012))


def _open(image: InlineImage) -> Image.Image | None:
    """``image`` decoded as RGB, or ``None`` when it is not an image or is too large."""
    # Pillow may warn about a huge image as it opens it (no filter is changed here: this
    # runs in worker threads); its size is checked before anything is decoded.
    try:
        opened = Image.open(io.BytesIO(image.data))
        width, height = opened.size
        if width * height > MAX_PIXELS:
            return None
        return opened.convert("RGB")
    except Exception:  # anything a hostile or broken image makes Pillow raise
        return None


def find_region(base: Image.Image, marked: Image.Image) -> tuple[float, float, float, float] | None:
    """The box where ``marked`` differs from ``base``, in fractions of the image, or ``None``."""
    scale = _COMPARE / max(base.size)
    size = (max(1, round(base.width * scale)), max(1, round(base.height * scale)))
    small_base = base.resize(size, Image.Resampling.BOX)
    small_marked = marked.resize(size, Image.Resampling.BOX)
    difference = ImageChops.difference(small_base, small_marked)
    mask = difference.point(lambda v: 255 if v > _THRESHOLD else 0).convert("L")
    found = mask.getbbox()
    if found is None:
        return None
    left, top, right, bottom = found
    # One reduced pixel more on each side: the outline's edge blurs across it.
    return (
        max(0, left - 1) / size[0],
        max(0, top - 1) / size[1],
        min(size[0], right + 1) / size[0],
        min(size[1], bottom + 1) / size[1],
    )


def _stamp(image: Image.Image, area: Box, instruction: str, mark: str, *, whole: bool) -> None:
    """The frame, and the label: at the top of a region; on a whole image, in its lower part,
    on one of :data:`_ROWS` rows picked by the instruction's CRC, so the slide's title stays
    in view and a later edit's label seldom covers an earlier one's."""
    colour = stamp_colour(instruction)
    left, top, right, bottom = area
    thick = _thickness(area)
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, right - 1, bottom - 1), outline=colour, width=thick)
    font = _font(max(10, round(min(image.size) * 0.035)))
    room = right - left - 4 * thick
    label = f"edit: {instruction.strip() or '(no instruction)'}" + (f" {mark}" if mark else "")
    step = max(1, round(getattr(font, "size", 11) * 1.3))
    with _TEXT_LOCK:
        lines = _wrap(label, font, max(1, room))
        y = top + 2 * thick
        if whole:
            lines = lines[:2]
            row = zlib.crc32(instruction.encode()) // 360 % _ROWS
            y = max(y, bottom - 2 * thick - (row + 1) * 2 * step)
        for line in lines:
            if y + step > bottom - thick:
                break
            width = min(room, math.ceil(font.getlength(line)))
            draw.rectangle((left + 2 * thick, y, left + 2 * thick + width, y + step), fill=colour)
            draw.text((left + 2 * thick, y), line, font=font, fill=_WHITE)
            y += step


def edited(edit: Edit, *, width: int, height: int, mime_type: str, mark: str) -> Segment | None:
    """The answer image of ``edit`` at ``width`` x ``height``, or ``None`` if its base is unusable.

    ``mark`` (``#2``) is added to the label, as a new slide's is to its page.
    """
    base = _open(edit.base)
    if base is None:
        return None
    region = None
    if edit.marked is not None:
        marked = _open(edit.marked)
        if marked is not None:
            region = find_region(base, marked)
    image = base if base.size == (width, height) else base.resize((width, height))
    if region is None:
        area: Box = (0, 0, width, height)
    else:
        x0, y0, x1, y1 = region
        area = (
            math.floor(x0 * width),
            math.floor(y0 * height),
            math.ceil(x1 * width),
            math.ceil(y1 * height),
        )
    _stamp(image, area, edit.instruction, mark, whole=region is None)
    return encode_image(image, mime_type)
