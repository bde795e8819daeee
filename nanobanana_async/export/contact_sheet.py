"""The contact sheet: every slide of a deck on one small PNG, in order, each labelled.

An agent looks at a whole deck for the price of one image, so the sheet stays within
:data:`MAX_SIDE` (1600 px) on both sides whatever the deck's size. The tiles have the
deck's shape (the first readable image's) and are laid out in reading order; of every
column count the one giving the largest tiles that fit both sides is taken, so one 16:9
slide fills the width (1584 px), seven come out in two columns of 616 px and fifty in six
of 240 px. Under each tile its number; a slide with no image is a grey tile with its state
written on it (``failed``, ``missing``, or ``unreadable`` for a file that does not decode),
and its label says it too (``3: failed``). A slide whose text check missed (the results'
``text_check``, state ``missing``) keeps its image, framed in amber in the gap around it
(nothing is drawn over the slide), its label ``3: text?`` in amber; one the OCR could not
read (``unreadable``: the reader's trouble, not a wrong slide) only says ``3: text unread``
in grey. A line under the tiles explains the marks, only on a sheet that has one. Only
past about 1,900 slides (16:9; 1,100 in portrait), where a tile would be narrower than
:data:`MIN_TILE`, does the sheet grow taller than 1600 px: in rows of tiles
:data:`MIN_TILE` wide and at most twice that tall (a taller image sits in its tile as one
of another shape does), so a deck of
:data:`~nanobanana_async.config.schema.MAX_SLIDES` is at most :data:`MAX_HEIGHT` tall,
whatever shape its first image claims (a 1x30,000 PNG once asked for a sheet 720,000 px
tall, 3.4 GB).

Memory: one image per core at a time is decoded (tiles are scaled in parallel, one thread
per core), then scaled to its tile and dropped; the tiles together are at most the sheet. A JPEG is
decoded already reduced (``Image.draft``: libjpeg scales by 1/2 to 1/8 while decoding), so
a 4K JPEG never exists at full size; PNG and WebP decoders cannot do that, so those are
decoded whole, one at a time. Labels use Pillow's own font (``ImageFont.load_default``),
scaled where Pillow has FreeType: no font file is needed.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from ..config.schema import MAX_SLIDES
from ..files.atomic import write_atomic
from ..files.deck_folders import THUMBS_DIR, deck_folder
from ..files.foreign import keep_foreign
from ..files.images import THUMB_SIZE, image_mode, thumb_path
from .deck import (
    MAX_IMAGE_BYTES,
    Deck,
    ExportError,
    Slide,
    UnreadableImage,
    image_size,
    opaque,
    open_image,
    read_image_file,
)

__all__ = [
    "CONTACT_SHEET_NAME",
    "MAX_HEIGHT",
    "MAX_SHEET_BYTES",
    "MAX_SIDE",
    "MIN_TILE",
    "TEXT_FRAME",
    "SheetLayout",
    "draw_sheet",
    "is_contact_sheet",
    "sheet_layout",
    "write_contact_sheet",
]

CONTACT_SHEET_NAME = "contact-sheet.png"
MAX_SIDE = 1600
"""The sheet's largest width and height in pixels (taller only past ~1,900 slides)."""
MIN_TILE = 24
"""The narrowest tile: below it a slide shows nothing, so the sheet grows taller instead."""
MAX_SHEET_BYTES = 32 * 2**20
"""The largest file that may be a sheet: one of the most slides is a few MB of PNG."""
_TALLEST_SMALL_TILE = 2.0  # height / width of those narrowest tiles, at most

GAP = 8  # pixels around and between tiles
BACKGROUND = (255, 255, 255)
CELL = (224, 224, 224)  # around an image of another shape than the tiles
ABSENT = (150, 150, 150)  # the tile of a slide with no image
FRAME = (0, 110, 220)  # around the candidate picked
TEXT_FRAME = (235, 150, 0)  # amber, around a slide whose text missed
_TEXT = (0, 0, 0)
_ALERT = (170, 0, 0)  # the label of a slide with no image
_ABSENT_TEXT = (60, 60, 60)
_TEXT_ALERT = (175, 95, 0)  # the label of a slide whose text missed: amber, not red
_QUIET = (110, 110, 110)  # the label of a slide whose text was not read
# The marks' words, and the legend line that explains each, in that order.
_TEXT_MARKS = {"missing": "text?", "unreadable": "text unread"}
_LEGEND = {
    "missing": "amber text?: its words did not read as asked (nanobanana check, fix_text)",
    "unreadable": "text unread: not read back",
}
_DEFAULT_ASPECT = 9 / 16  # height / width, when no image tells it
# zlib's fastest level: 0.08 s against 0.15 s at level 6 for a sheet of 24 slides, for a
# file 8% larger (measured on emulator slides); the sheet is drawn while a run ends.
_PNG_COMPRESS_LEVEL = 1
# Each tile's last step down (at most 2x: ``reducing_gap`` box-averages the rest). Hamming
# has a third of Lanczos's taps and, at a tile's size, looks the same (a mean difference
# of 0.6 in 255 on an emulator slide): 3.3 ms against 7.3 to scale a thumbnail to a
# 24-slide sheet's tile, a third of the sheet's CPU, spent as a run ends with a core idle
# (benchmarks/README.md, "Where the CPU goes").
_TILE_FILTER = Image.Resampling.HAMMING
# The sheet's mark, a PNG text chunk before its pixels: a contact-sheet.png without it is
# not this tool's, and is kept, not overwritten (files/foreign.py).
_SOFTWARE = "nanobanana-async contact sheet"
_MARK = b"tEXtSoftware\x00" + _SOFTWARE.encode()
_MARK_WITHIN = 4096  # bytes from the start: the header and text chunks come first

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True, slots=True)
class SheetLayout:
    """Where the tiles of a contact sheet go.

    Attributes:
        columns: tiles per row.
        rows: rows of tiles.
        tile_width: the width of a tile (its image), in pixels.
        tile_height: the height of a tile's image, in pixels.
        label_height: the strip under each tile holding its label.
        width: the sheet's width.
        height: the sheet's height.
    """

    columns: int
    rows: int
    tile_width: int
    tile_height: int
    label_height: int
    width: int
    height: int

    def origin(self, index: int) -> tuple[int, int]:
        """The top-left corner of the ``index``-th tile (0-based, reading order)."""
        row, column = divmod(index, self.columns)
        return (
            GAP + column * (self.tile_width + GAP),
            GAP + row * (self.tile_height + self.label_height + GAP),
        )


def sheet_layout(
    count: int, aspect: float, *, one_row: bool = False, legend: bool = False
) -> SheetLayout:
    """The layout of ``count`` tiles of shape ``aspect`` (height / width): the largest tiles.

    Every column count from 1 to ``count`` is tried (only ``count``: ``one_row``, for
    candidates side by side); for each, the widest tile for which
    the whole grid (tiles, labels and gaps, and a ``legend`` line under them) fits
    :data:`MAX_SIDE` both ways; the widest of all wins (on a tie, fewer columns). Below
    :data:`MIN_TILE` the tiles stay that wide, at most twice as tall, and the sheet grows
    taller.

    Raises:
        ValueError: ``count`` is below 1 or ``aspect`` is not positive.
    """
    if count < 1 or not aspect > 0:
        raise ValueError(f"a contact sheet needs tiles and a shape, got {count} and {aspect}")
    best: tuple[int, int] | None = None  # (tile width, columns)
    for columns in (count,) if one_row else range(1, count + 1):
        rows = math.ceil(count / columns)
        widest = (MAX_SIDE - GAP * (columns + 1)) // columns
        if widest < 1:
            break
        low, high = 0, widest  # the largest width in [low, high] that fits; 0: none does
        while low < high:
            middle = (low + high + 1) // 2
            if _height(rows, middle, aspect, legend) <= MAX_SIDE:
                low = middle
            else:
                high = middle - 1
        if low and (best is None or low > best[0]):
            best = (low, columns)
    if best is None or best[0] < MIN_TILE:
        columns = min(count, (MAX_SIDE - GAP) // (MIN_TILE + GAP))
        best = (MIN_TILE, columns)
        aspect = min(aspect, _TALLEST_SMALL_TILE)  # the sheet's height bounded by the count
    width, columns = best
    rows = math.ceil(count / columns)
    return SheetLayout(
        columns=columns,
        rows=rows,
        tile_width=width,
        tile_height=_tile_height(width, aspect),
        label_height=_label_height(width),
        width=GAP * (columns + 1) + columns * width,
        height=_height(rows, width, aspect, legend),
    )


def write_contact_sheet(deck: Deck, dest: Path | None = None) -> Path:
    """Draw every slide of ``deck`` on one PNG, in order, and write it to ``dest``.

    Blocking (decodes every image, writes with ``fsync``): call it from a worker thread
    when on an event loop.

    Args:
        deck: the deck, as :func:`~nanobanana_async.export.deck.read_deck` read it.
        dest: the file to write (replaced atomically); by default ``contact-sheet.png`` in
            the deck's folder.

    Returns:
        The path written.

    Raises:
        ExportError: ``dest`` could not be written (it is then unchanged).
    """
    dest = deck.output_dir / CONTACT_SHEET_NAME if dest is None else dest
    if not deck.slides:
        raise ExportError(f"nothing to export in {deck.output_dir}: the deck has no slide")
    return draw_sheet(deck.slides, dest)


def draw_sheet(
    slides: Sequence[Slide],
    dest: Path,
    *,
    labels: Sequence[str] | None = None,
    framed: int | None = None,
    one_row: bool = False,
) -> Path:
    """Draw ``slides`` side by side on one PNG marked as ours, and write it to ``dest``.

    ``labels``: each tile's label (default: the slide's number). ``framed``: the index of a
    tile to frame (a slide's picked candidate). ``one_row``: side by side, whatever their
    shape (:func:`sheet_layout`). A file at ``dest`` that is not a sheet of
    ours is kept, not overwritten (:func:`~nanobanana_async.files.foreign.keep_foreign`).

    Raises:
        ExportError: ``dest`` could not be written (it is then unchanged).
    """
    marks = [s.text for s in slides if s.path is not None and s.text in _TEXT_MARKS]
    legend = [_LEGEND[mark] for mark in _TEXT_MARKS if mark in marks]
    layout = sheet_layout(len(slides), _deck_aspect(slides), one_row=one_row, legend=bool(legend))
    sheet = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    label_font = _font(_font_size(layout.tile_width))
    state_font = _font(max(10, min(48, layout.tile_height // 5)))
    box = (layout.tile_width, layout.tile_height)
    with ThreadPoolExecutor(_workers(len(slides)), thread_name_prefix="nanobanana-sheet") as pool:
        tiles = pool.map(functools.partial(_tile_or_none, box=box), slides)
        for index, (slide, tile) in enumerate(zip(slides, tiles, strict=True)):
            x, y = layout.origin(index)
            state: str = slide.state if slide.path is None else "ok"
            if slide.path is not None and tile is None:
                state = "unreadable"
            elif tile is not None:
                with tile:
                    _paste(sheet, tile, (x, y), layout)
            label = labels[index] if labels is not None else str(slide.number)
            text = slide.text if state == "ok" else None
            _label(draw, layout, label, state, (x, y), (label_font, state_font), text)
            if index == framed:
                _frame(draw, layout, (x, y))
            elif text == "missing":
                _frame(draw, layout, (x, y), TEXT_FRAME)
    if legend:
        _legend(draw, layout, "; ".join(legend))
    buffer = BytesIO()
    mark = PngImagePlugin.PngInfo()
    mark.add_text("Software", _SOFTWARE)
    sheet.save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL, pnginfo=mark)
    try:
        keep_foreign(dest, is_contact_sheet, MAX_SHEET_BYTES)  # a sheet not ours is kept
        write_atomic(dest, buffer.getvalue(), mode=image_mode())
    except OSError as exc:
        raise ExportError(f"cannot write {dest}: {exc.strerror or exc}") from None
    return dest


def _workers(count: int) -> int:
    """Threads scaling tiles: one per core (Pillow lets go of the GIL while it decodes and
    resizes), so a sheet drawn as a run ends costs the run half the wait on two cores."""
    return max(1, min(count, os.cpu_count() or 1))


def _tile_or_none(slide: Slide, box: tuple[int, int]) -> Image.Image | None:
    """The slide's tile; ``None`` when it has no image or the image does not decode."""
    if slide.path is None:
        return None
    try:
        return _tile(slide.path, box)
    except UnreadableImage:
        return None


def _frame(
    draw: ImageDraw.ImageDraw,
    layout: SheetLayout,
    at: tuple[int, int],
    colour: tuple[int, int, int] = FRAME,
) -> None:
    """A frame in the gap around a tile and its label: the one picked (blue), or a slide
    whose text missed (amber)."""
    x, y = at
    half = GAP // 2
    right = x + layout.tile_width - 1 + half
    bottom = y + layout.tile_height + layout.label_height - 1 + half
    draw.rectangle((x - half, y - half, right, bottom), outline=colour, width=half)


def _legend(draw: ImageDraw.ImageDraw, layout: SheetLayout, text: str) -> None:
    """The line under the tiles that says what the text marks mean, cut to the sheet."""
    font = _font(_legend_size(layout.tile_width))
    while len(text) > 10 and _text_width(draw, text, font) > layout.width - 2 * GAP:
        text = text[: len(text) - 12].rstrip() + "..."
    top = layout.height - _legend_height(layout.tile_width)
    _centred(draw, text, (GAP, top, layout.width - GAP, layout.height), font, _TEXT_ALERT)


def _label(
    draw: ImageDraw.ImageDraw,
    layout: SheetLayout,
    label: str,
    state: str,
    at: tuple[int, int],
    fonts: tuple[Font, Font],
    text: str | None = None,
) -> None:
    """A slide's label under its tile; for a slide with no image, its state on a grey tile;
    for one whose text check did not come out ``ok`` (``text``), its mark."""
    x, y = at
    label_font, state_font = fonts
    colour = _TEXT
    if state != "ok":
        box = (x, y, x + layout.tile_width - 1, y + layout.tile_height - 1)
        draw.rectangle(box, fill=ABSENT)
        _centred(draw, state, box, state_font, _ABSENT_TEXT)
        shown, colour = f"{label}: {state}", _ALERT
    elif text in _TEXT_MARKS:
        shown = f"{label}: {_TEXT_MARKS[text]}"
        colour = _TEXT_ALERT if text == "missing" else _QUIET
    else:
        shown = label
    if _text_width(draw, shown, label_font) <= layout.tile_width:
        label = shown
    top = y + layout.tile_height
    strip = (x, top, x + layout.tile_width, top + layout.label_height)
    _centred(draw, label, strip, label_font, colour)


def is_contact_sheet(data: bytes) -> bool:
    """Whether ``data`` is a sheet this tool drew: a PNG bearing its mark."""
    return data.startswith(b"\x89PNG\r\n\x1a\n") and _MARK in data[:_MARK_WITHIN]


# -- layout --------------------------------------------------------------------------------


def _tile_height(width: int, aspect: float) -> int:
    return max(1, round(width * aspect))


def _font_size(tile_width: int) -> int:
    return max(10, min(28, tile_width // 11))


def _label_height(tile_width: int) -> int:
    return _font_size(tile_width) * 3 // 2 + 2


def _height(rows: int, width: int, aspect: float, legend: bool = False) -> int:
    tiles = GAP * (rows + 1) + rows * (_tile_height(width, aspect) + _label_height(width))
    return tiles + (_legend_height(width) if legend else 0)


def _legend_height(tile_width: int) -> int:
    """The legend's strip: a line of :func:`_legend_size`, and a little space above."""
    return _legend_size(tile_width) * 3 // 2 + 2


def _legend_size(tile_width: int) -> int:
    """The legend's font: the labels', 12 to 20 px (a line of about 100 characters)."""
    return max(12, min(20, _font_size(tile_width)))


def _deck_aspect(slides: Sequence[Slide]) -> float:
    """Height / width of the first image whose header reads (9/16 when none does)."""
    for slide in slides:
        if slide.path is None:
            continue
        try:
            width, height = image_size(read_image_file(slide.path), slide.path.name)
        except UnreadableImage:
            continue
        if width and height:
            return height / width
    return _DEFAULT_ASPECT


# After the layout's helpers, which it calls.
MAX_HEIGHT = sheet_layout(MAX_SLIDES, _TALLEST_SMALL_TILE, legend=True).height
"""The tallest sheet: of :data:`~nanobanana_async.config.schema.MAX_SLIDES` (about 15,000 px)."""


# -- images --------------------------------------------------------------------------------


def _tile(path: Path, box: tuple[int, int]) -> Image.Image:
    """The image at ``path`` scaled to fit ``box``, its shape kept, as RGB.

    From the small copy the run kept beside it (:func:`~nanobanana_async.files.images.thumb_path`)
    when that is big enough and not older than the image: a 4K WebP then costs no decode.
    The copy is read through the deck's ``.thumbs`` only when that is a real folder of
    the user's (:mod:`~nanobanana_async.files.deck_folders`), and never through a symlink:
    someone able to write the deck's folder could otherwise point it at another deck's
    private copies. Else, or when the copy is damaged, the image itself is drawn.
    """
    if max(box) <= THUMB_SIZE and (small := _thumb(path)) is not None:
        try:
            return _scaled(small, thumb_path(path).name, box)
        except UnreadableImage:
            pass  # a damaged small copy: the image itself
    return _scaled(read_image_file(path), path.name, box)


def _thumb(path: Path) -> bytes | None:
    """The small copy of the image at ``path``, if one of the user's is there and fresh."""
    name = thumb_path(path).name
    try:
        with deck_folder(path.parent, THUMBS_DIR) as thumbs:
            info = thumbs.stat(name)
            if info is None or info.st_mtime_ns < path.stat().st_mtime_ns:
                return None
            return thumbs.read(name, MAX_IMAGE_BYTES)
    except OSError:
        return None


def _scaled(data: bytes, name: str, box: tuple[int, int]) -> Image.Image:
    # closing(), not the image's own ``with``: that closes its file, this frees its pixels.
    with contextlib.closing(open_image(data, name)) as image:
        width, height = image.size
        scale = min(box[0] / width, box[1] / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image.draft("RGB", size)  # a JPEG decodes at the smallest scale still >= size
        try:
            image.load()
            pixels = opaque(image)
            return pixels.resize(size, _TILE_FILTER, reducing_gap=2.0)
        except (OSError, SyntaxError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnreadableImage(f"{name} does not decode: {reason}") from None


def _paste(sheet: Image.Image, tile: Image.Image, at: tuple[int, int], layout: SheetLayout) -> None:
    x, y = at
    if tile.size != (layout.tile_width, layout.tile_height):  # another shape: on a cell
        sheet.paste(CELL, (x, y, x + layout.tile_width, y + layout.tile_height))
    sheet.paste(
        tile,
        (x + (layout.tile_width - tile.width) // 2, y + (layout.tile_height - tile.height) // 2),
    )


# -- text ----------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: small but readable
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def _centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: tuple[int, int, int, int],
    font: Font,
    fill: tuple[int, int, int],
) -> None:
    # From the text's own box, not an anchor: the bitmap fallback font takes no anchor.
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (box[0] + box[2] - (right - left)) / 2 - left
    y = (box[1] + box[3] - (bottom - top)) / 2 - top
    draw.text((x, y), text, fill=fill, font=font)
