"""The deck as a PowerPoint file: one slide per image, letterboxed, the prompt in the notes.

Every slide of the presentation has the deck's shape (16:9 unless told): 7.5 inches on
its short side, PowerPoint's own size for 16:9 (13.333 x 7.5 in) and 4:3, the long side
capped at the 56 inches PowerPoint accepts. An image is scaled to the largest size that
fits, centred, and never stretched: its width and height are computed from its pixel size,
so an image of another shape than the slide leaves bars of the background, black as the
screen around a slide show (a 1376x768 image, the service's "16:9" at 1K, leaves a
hairline above and below). The slide's prompt goes in its speaker notes and is the
picture's alt text (``descr``, what a screen reader says of it).

Each slide has a title, which screen readers announce and navigate by and PowerPoint's
accessibility checker asks for: the first words of its prompt (``Slide 3`` without one), in
the title placeholder of the "Title Only" layout, moved just above the slide, as
PowerPoint's own "Add Hidden Slide Title" does, so it is read but never covers the image.
The picture is named for its slide number (``Slide 3 image``), so the next export can tell
which notes a slide had (:mod:`.replaced`).

Each image is decoded once (a JPEG at 1/8 scale, which still reads all of it), so a
corrupt file is skipped and said, as the PDF does, rather than shown broken. PNG and JPEG
are then embedded as they are, byte for byte. WebP is converted in memory first:
python-pptx refuses it, and PowerPoint opens it only in recent versions (LibreOffice and
Keynote not reliably). A lossless WebP, or one with transparency, becomes a PNG (nothing
lost); a lossy one (the default format) a JPEG at quality 95 without chroma subsampling,
as the PDF does: visually lossless, where a PNG of it would be several times its size.

python-pptx is an optional extra, imported only when a PPTX is written: without it,
:func:`write_pptx` raises :class:`PptxUnavailable`, a one-line install hint. The whole
presentation is built in memory, then written atomically (0644 under the umask, as the
images are: the deck is meant to be shared), never dropping the notes of the file it
replaces, which is kept in ``.versions/`` when it differs (:mod:`.replaced`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

from PIL import Image

from ..config.schema import ASPECT_RATIOS
from .deck import (
    Deck,
    ExportError,
    ExportReport,
    Slide,
    UnreadableImage,
    open_image,
    read_image_file,
)
from .pdf import lossless_webp
from .replaced import picture_name, replace_pptx

__all__ = [
    "BACKGROUND",
    "DEFAULT_ASPECT",
    "MISSING_PPTX",
    "PPTX_NAME",
    "Built",
    "Decorate",
    "PptxUnavailable",
    "build_presentation",
    "deck_aspect",
    "require_pptx",
    "slide_aspect",
    "slide_size",
    "write_pptx",
]

PPTX_NAME = "deck.pptx"
DEFAULT_ASPECT = (16, 9)
BACKGROUND = (0, 0, 0)
"""What letterbox bars show: black, as the screen around a slide show, so they read as
its edge, not as a frame."""
MISSING_PPTX = "PPTX export needs python-pptx: pip install 'nanobanana-async[pptx]'"

_EMU_PER_INCH = 914_400
_SHORT_SIDE = 6_858_000  # 7.5 in, PowerPoint's slide height for 16:9 and 4:3
_MAX_SIDE = 51_206_400  # 56 in, the largest slide side PowerPoint (and ECMA-376) accepts
_MIN_SIDE = _EMU_PER_INCH  # 1 in, the smallest
_EMBEDDED_AS_IS = frozenset({"PNG", "JPEG"})
# A lossy WebP becomes a JPEG as the PDF's does: visually lossless (no chroma subsampling),
# where a PNG of a lossy image would be several times its size.
_JPEG_QUALITY = 95
_PNG_COMPRESS_LEVEL = 6
# How far an image's shape may be from one of the service's ratios and still be taken for
# it: its sizes are rounded to multiples of 16 or 32 (1376x768 for 16:9 is 0.8% off).
_SNAP = 0.03
_TITLE_ONLY_LAYOUT = 5  # "Title Only" in python-pptx's default template
_TITLE_HEIGHT = _EMU_PER_INCH  # the hidden title's box, just above the slide
_TITLE_CHARS = 60  # a title of the prompt's first words, cut at a word
_KEPT = frozenset("\t\n\v")
_NONCHARS = frozenset({0xFFFE, 0xFFFF})


class PptxUnavailable(ExportError):
    """python-pptx is not installed (or does not import): the message says how to get it."""

    def __init__(self) -> None:
        super().__init__(MISSING_PPTX)


def require_pptx() -> ModuleType:
    """python-pptx, imported; :class:`PptxUnavailable` when it is missing or broken."""
    try:
        import pptx
    except ImportError:
        raise PptxUnavailable from None
    return pptx


def slide_size(aspect: tuple[int, int]) -> tuple[int, int]:
    """The slide's width and height in EMU for ``aspect`` (width, height).

    The short side is 7.5 in (16:9 gives 13.333 x 7.5 in), the long side at most 56 in,
    and neither below 1 in (a shape too long for that comes out less long: the images are
    letterboxed on it all the same).

    Raises:
        ValueError: a side of ``aspect`` is not positive.
    """
    width, height = aspect
    if width <= 0 or height <= 0:
        raise ValueError(f"an aspect ratio needs two positive sides, got {width}:{height}")
    short, long = sorted((width, height))
    long_side = min(_MAX_SIDE, _SHORT_SIDE * long // short)
    short_side = max(_MIN_SIDE, min(_SHORT_SIDE, _MAX_SIDE * short // long))
    return (long_side, short_side) if width >= height else (short_side, long_side)


def slide_aspect(width: int, height: int) -> tuple[int, int]:
    """The slide shape for an image of ``width`` x ``height`` pixels.

    The service's ratio nearest to the image's shape when within 3% (a 1376x768 image is
    16:9), else the image's own shape.
    """
    shape = width / height
    nearest = min(ASPECT_RATIOS, key=lambda ratio: abs(_ratio_value(ratio) / shape - 1))
    if abs(_ratio_value(nearest) / shape - 1) <= _SNAP:
        w, _, h = nearest.partition(":")
        return int(w), int(h)
    return width, height


def deck_aspect(deck: Deck) -> tuple[int, int]:
    """The slides' shape for ``deck`` when no config tells it: its first image's.

    That is :func:`slide_aspect` of the first image whose header reads (no pixel is
    decoded), so the service's ``16:9`` (1376x768 at 1K) gives 16:9 slides;
    :data:`DEFAULT_ASPECT` when none reads.
    """
    for slide in deck.slides:
        if slide.path is None:
            continue
        try:
            with open_image(read_image_file(slide.path), slide.path.name) as image:
                return slide_aspect(*image.size)
        except UnreadableImage:
            continue
    return DEFAULT_ASPECT


def write_pptx(
    deck: Deck,
    dest: Path | None = None,
    *,
    aspect: tuple[int, int] = DEFAULT_ASPECT,
    background: tuple[int, int, int] = BACKGROUND,
) -> ExportReport:
    """Write ``deck`` as a PPTX at ``dest``: one slide per image, in slide order.

    Blocking (reads every image, writes with ``fsync``): call it from a worker thread when
    on an event loop.

    Args:
        deck: the deck, as :func:`~nanobanana_async.export.deck.read_deck` read it.
        dest: the file to write (replaced atomically); by default ``deck.pptx`` in the
            deck's folder.
        aspect: the slides' shape, width and height (16:9 by default).
        background: the colour of the bars around an image of another shape, RGB.

    Returns:
        The path, the slides in it and the slides skipped (no image, or one that does not
        read), with why; :attr:`~.deck.ExportReport.note` says it in one line.

    Raises:
        PptxUnavailable: python-pptx is not installed.
        ExportError: no slide has an image that can be read, or ``dest`` could not be
            written (it is then unchanged).
        ValueError: ``aspect`` has a side that is not positive.
    """
    require_pptx()
    dest = deck.output_dir / PPTX_NAME if dest is None else dest
    built = build_presentation(deck, aspect=aspect, background=background)
    previous = replace_pptx(dest, built.data, built.notes)
    return ExportReport(dest, built.made, built.skipped, previous)


@dataclass(frozen=True, slots=True)
class Built:
    """A presentation built in memory by :func:`build_presentation`.

    Attributes:
        data: the PPTX file's bytes.
        made: the slides in it, in order.
        skipped: the slides left out and why, in order.
        notes: slide number -> its speaker notes, for :func:`~.replaced.replace_pptx`.
    """

    data: bytes
    made: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...]
    notes: Mapping[int, str]


Decorate = Callable[[Any, Slide, tuple[int, int, int, int]], None]
"""Adds shapes to a slide over its picture: (the python-pptx slide, the deck's slide, the
picture's left, top, width and height in EMU)."""


def build_presentation(
    deck: Deck,
    *,
    aspect: tuple[int, int] = DEFAULT_ASPECT,
    background: tuple[int, int, int] = BACKGROUND,
    pictures: Mapping[int, Path] | None = None,
    decorate: Decorate | None = None,
) -> Built:
    """The presentation :func:`write_pptx` writes, in memory.

    ``pictures``: slide number -> the image to show instead of the slide's own (the
    editable PPTX's plates); ``decorate`` adds shapes over each picture.

    Raises:
        PptxUnavailable: python-pptx is not installed.
        ExportError: no slide has an image that can be read.
    """
    require_pptx()
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu

    width, height = slide_size(aspect)
    presentation = Presentation()
    presentation.slide_width = Emu(width)
    presentation.slide_height = Emu(height)
    layout = presentation.slide_layouts[_TITLE_ONLY_LAYOUT]
    bars = RGBColor(*background)  # type: ignore[no-untyped-call]  # python-pptx leaves it untyped
    made: list[int] = []
    skipped: list[tuple[int, str]] = []
    notes: dict[int, str] = {}
    titles: set[str] = set()
    for entry in deck.slides:
        path = entry.path if pictures is None else pictures.get(entry.number, entry.path)
        if path is None:
            skipped.append((entry.number, entry.reason or "no image"))
            continue
        try:
            data, size = _embeddable(path)
        except UnreadableImage as exc:
            skipped.append((entry.number, str(exc)))
            continue
        slide = presentation.slides.add_slide(layout)
        fill = slide.background.fill
        fill.solid()
        fill.fore_color.rgb = bars
        title = _title(entry.prompt, entry.number, titles)
        heading = slide.shapes.title
        if heading is not None:  # the layout's title, read first, above the slide
            heading.text_frame.text = title
            heading.left, heading.top = Emu(0), Emu(-_TITLE_HEIGHT)
            heading.width, heading.height = Emu(width), Emu(_TITLE_HEIGHT)
        placed = _fit(size, (width, height))
        shown = slide.shapes.add_picture(BytesIO(data), *(Emu(value) for value in placed))
        shown.name = picture_name(entry.number)
        alt = _notes(entry.prompt) if entry.prompt else title
        shown.element.nvPicPr.cNvPr.set("descr", alt)
        if decorate is not None:
            decorate(slide, entry, placed)
        notes[entry.number] = _notes(entry.prompt) if entry.prompt else ""
        if notes[entry.number]:
            slide.notes_slide.notes_text_frame.text = notes[entry.number]
        made.append(entry.number)
    if not made:
        raise ExportError(f"no slide of {deck.output_dir} has an image to put in a PPTX")
    buffer = BytesIO()
    presentation.save(buffer)
    return Built(buffer.getvalue(), tuple(made), tuple(skipped), notes)


def _fit(image: tuple[int, int], slide: tuple[int, int]) -> tuple[int, int, int, int]:
    """Left, top, width and height (EMU) of an image of ``image`` pixels on ``slide``.

    As large as fits, centred, its shape kept (to the nearest EMU, 1/914400 in).
    """
    image_w, image_h = image
    slide_w, slide_h = slide
    if image_w * slide_h >= image_h * slide_w:  # wider than the slide: full width
        width, height = slide_w, (slide_w * image_h + image_w // 2) // image_w
    else:
        width, height = (slide_h * image_w + image_h // 2) // image_h, slide_h
    return (slide_w - width) // 2, (slide_h - height) // 2, width, height


def _embeddable(path: Path) -> tuple[bytes, tuple[int, int]]:
    """The bytes to embed for the image at ``path``, and its pixel size (module docstring).

    Raises:
        UnreadableImage: the file cannot be read, or is not an image that decodes.
    """
    data = read_image_file(path)
    with open_image(data, path.name) as image:
        size, source = image.size, image.format
        try:
            if source == "JPEG":
                image.draft(image.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            image.load()
            if source in _EMBEDDED_AS_IS:
                return data, size
            buffer = BytesIO()
            icc = image.info.get("icc_profile")
            profile = {"icc_profile": icc} if icc else {}  # the colours the model meant
            if _has_alpha(image) or lossless_webp(data):
                image.save(buffer, "PNG", compress_level=_PNG_COMPRESS_LEVEL, **profile)
            else:
                rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
                rgb.save(buffer, "JPEG", quality=_JPEG_QUALITY, subsampling=0, **profile)
            return buffer.getvalue(), size
        except (OSError, SyntaxError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UnreadableImage(f"{path.name} does not decode: {reason}") from None


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _title(prompt: str | None, number: int, taken: set[str]) -> str:
    """A slide's title: its prompt's first words, at most 60 characters, cut at a word
    (``Slide 3`` without a prompt); made unique in the deck, as titles are navigated by."""
    words = _notes(prompt).split() if prompt else []
    title = ""
    for word in words:
        longer = f"{title} {word}" if title else word
        if len(longer) > _TITLE_CHARS:
            title = (title or word[: _TITLE_CHARS - 1]) + "\u2026"
            break
        title = longer
    title = title or f"Slide {number}"
    if title in taken:
        title = f"{title} (slide {number})"
    taken.add(title)
    return title


def _notes(prompt: str) -> str:
    """``prompt`` as notes text: line ends as newlines, what XML cannot hold as U+FFFD.

    python-pptx writes a control character as a visible ``_x001B_`` and refuses a
    surrogate or U+FFFE outright; a tab, a newline and a vertical tab (a line break) stay.
    """
    text = prompt.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c if c in _KEPT or not _unfit(c) else "\ufffd" for c in text)


def _unfit(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000 or code in _NONCHARS


def _ratio_value(ratio: str) -> float:
    width, _, height = ratio.partition(":")
    return int(width) / int(height)
