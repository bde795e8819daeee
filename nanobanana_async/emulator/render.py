"""Slide pictures: the prompt's text, laid out on a clean page, at the real pixel size.

A person looking at demo output must see which slide is which, so the first sentence (or
line) of the prompt is the title and the rest is wrapped below it, in Pillow's built-in
FreeType font scaled to the image, with an accent colour derived from the text. It is kept
cheap (:class:`SlideRenderer`) so that benchmarks measure the client. Rendering runs in a
worker thread; text drawing takes one lock, since a FreeType face is not safe to use from
two threads at once.

A prompt that quotes text (``"Q3 Results"``: the marks :mod:`nanobanana_async.qa.quotes`
takes) is drawn as a real slide would show it: the first quotation as the heading, the
others as lines of body, large and alone on the page, on a light or a dark background
(picked by the prompt's CRC), so an OCR reads them back. The caller may hand in the
strings to draw instead (a misspelt one: :mod:`.misspelling`).

A request's reference images show as a palette strip down the right edge: one swatch per
image, in the order sent, filled with that image's average colour (:func:`swatch_boxes`
says where), so a test sees from the slide alone which references went with it.
"""

from __future__ import annotations

import base64
import io
import re
import threading
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont, ImageStat

from ..qa.quotes import expected_text
from .compression import Segment
from .validation import InlineImage

__all__ = ["SlideRenderer", "average_colour", "encode_image", "swatch_boxes"]

_PAGE = (248, 248, 245)
_BAND = (40, 48, 66)
_TITLE = (24, 32, 48)
_BODY = (66, 72, 86)
_FOOTER = (150, 154, 162)
_DARK_PAGE = (30, 38, 62)
_DARK_TITLE = (246, 246, 240)
_DARK_BODY = (214, 220, 232)
_ACCENTS = (
    (214, 84, 62),
    (38, 132, 196),
    (76, 160, 92),
    (232, 168, 44),
    (140, 92, 190),
    (28, 160, 160),
    (200, 64, 120),
    (96, 110, 130),
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_POOL_PER_SIZE = 4
# Pooled canvases cost 4 bytes a pixel: cap them at 48 Mpx (about 190 MB) in all.
_POOL_PIXELS = 48_000_000
# Fast encoder settings (their cost: benchmarks/README.md): the emulator's CPU is not what
# a benchmark should measure.
_FORMATS = {"image/jpeg": ("JPEG", {"quality": 85}), "image/png": ("PNG", {"compress_level": 1})}
_TEXT_LOCK = threading.Lock()
# The swatch of a reference image that does not decode.
_UNREADABLE = (128, 128, 128)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]


@lru_cache(maxsize=128)
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: small but readable
        return ImageFont.load_default()


def _band(width: int, height: int) -> int:
    """Height of the dark band at the top of every page."""
    return max(3, round(min(width, height) * 0.03))


def _unit(width: int, height: int) -> float:
    return max(8.0, min(width / 11, height / 9))


def _text_area(width: int, height: int) -> tuple[int, int]:
    """Top and bottom of what a slide draws between the band and the footer."""
    unit = _unit(width, height)
    return _band(width, height) + round(unit * 0.6), height - round(unit * 0.7)


def swatch_boxes(width: int, height: int, count: int) -> list[Box]:
    """Where the swatches of ``count`` reference images are drawn: (left, top, right, bottom).

    A strip down the right margin, beside the text (which keeps 7 % of the width clear),
    split evenly from the top of the text to the footer, with a small gap between swatches.
    """
    if count <= 0:
        return []
    unit = _unit(width, height)
    right = width - round(width * 0.02)
    left = right - max(2, round(unit * 0.35))
    top, bottom = _text_area(width, height)
    gap = max(1, round(unit * 0.08))
    step = (bottom - top + gap) / count
    boxes = []
    for i in range(count):
        start, end = round(top + i * step), round(top + (i + 1) * step) - gap
        boxes.append((left, start, right, max(start, end)))
    return boxes


def average_colour(data: bytes) -> Colour:
    """The mean colour of an encoded image (grey when it does not decode)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (64, 64))  # JPEG decodes at 1/8 scale: the mean hardly moves
            small = image.convert("RGB")
            small.thumbnail((64, 64))
            red, green, blue = ImageStat.Stat(small).mean
    except Exception:  # anything a hostile or broken image makes Pillow raise
        return _UNREADABLE
    return round(red), round(green), round(blue)


def encode_image(image: Image.Image, mime_type: str) -> Segment:
    """``image`` in ``mime_type`` with the emulator's fast settings, as a base64 segment."""
    fmt, options = _FORMATS[mime_type]
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return Segment(base64.b64encode(buffer.getvalue()))


def _line_step(font: Font, factor: float) -> int:
    size = font.size if isinstance(font, ImageFont.FreeTypeFont) else 11
    return max(1, round(size * factor))


def _split(prompt: str) -> tuple[str, list[str]]:
    """Title and body paragraphs of a prompt."""
    lines = [line.strip() for line in prompt.strip().splitlines() if line.strip()]
    if not lines:
        return "(no text prompt)", []
    first, rest = lines[0], lines[1:]
    sentences = _SENTENCE_END.split(first, maxsplit=1)
    if len(sentences) == 2 and len(sentences[0]) <= 120:
        return sentences[0], [sentences[1], *rest]
    return first, rest


def _wrap(text: str, font: Font, width: float) -> list[str]:
    """Greedy word wrap; a word wider than the line is broken by characters.

    Lines are measured as the sum of their words and spaces (measured once each) rather
    than re-measuring every candidate line: kerning across a space is negligible, and a
    2 % margin absorbs it.
    """
    width *= 0.98
    space = font.getlength(" ")
    lines: list[str] = []
    line = ""
    line_width = 0.0
    for word in text.split():
        word_width = font.getlength(word)
        if line and line_width + space + word_width <= width:
            line, line_width = f"{line} {word}", line_width + space + word_width
            continue
        if line:
            lines.append(line)
        while word_width > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
            word_width = font.getlength(word)
        line, line_width = word, word_width
    if line:
        lines.append(line)
    return lines


def _fit(lines: list[str], room: int, font: Font, width: float) -> list[str]:
    """At most ``room`` lines, the last one ending in an ellipsis when text was cut."""
    if len(lines) <= room:
        return lines
    kept = lines[:room]
    last = kept[-1] + "…"
    while len(last) > 1 and font.getlength(last) > width:
        last = last[:-2] + "…"
    kept[-1] = last
    return kept


class _Canvas:
    """A pooled page with its furniture drawn; ``dirty`` is what a slide drew over."""

    __slots__ = ("dirty", "image", "unit")

    def __init__(self, model: str, width: int, height: int) -> None:
        self.unit = _unit(width, height)
        self.image = Image.new("RGB", (width, height), _PAGE)
        self.dirty: tuple[int, int, int, int] | None = None
        draw = ImageDraw.Draw(self.image)
        draw.rectangle((0, 0, width, _band(width, height)), fill=_BAND)
        footer = _font(max(9, round(self.unit * 0.22)))
        with _TEXT_LOCK:
            draw.text(
                (round(width * 0.04), height - round(self.unit * 0.3)),
                f"{model} · {width}x{height} · emulated",
                font=footer,
                fill=_FOOTER,
                anchor="ld",
            )

    def draw_quoted(self, prompt: str, quoted: Sequence[str], mark: str = "") -> None:
        """``quoted`` as a slide shows text: a heading and lines of body, large, on a light
        or dark page; the rest of the prompt is not drawn (a real slide does not show it)."""
        width, height = self.image.size
        unit = self.unit
        title_font = _font(max(16, round(unit * 0.8)))
        body_font = _font(max(12, round(unit * 0.5)))
        left = round(width * 0.07)
        text_width = width - 2 * left
        top, bottom = _text_area(width, height)
        crc = zlib.crc32(prompt.encode())
        dark = crc % 3 == 0
        title_ink, body_ink = (_DARK_TITLE, _DARK_BODY) if dark else (_TITLE, _BODY)
        accent = _ACCENTS[crc % len(_ACCENTS)]
        draw = ImageDraw.Draw(self.image)
        if dark:
            draw.rectangle((0, top, width, bottom), fill=_DARK_PAGE)
        y = top + round(unit * 0.3)
        title_step = _line_step(title_font, 1.25)
        body_step = _line_step(body_font, 1.6)
        with _TEXT_LOCK:
            for line in _wrap(quoted[0], title_font, text_width)[:2]:
                draw.text((left, y), line, font=title_font, fill=title_ink)
                y += title_step
            rule = max(2, round(unit * 0.06))
            draw.rectangle((left, y + rule, left + round(unit * 1.6), y + 2 * rule), fill=accent)
            y += 5 * rule
            for text in quoted[1:]:
                for line in _wrap(text, body_font, text_width):
                    if y + body_step > bottom:
                        break
                    draw.text((left, y), line, font=body_font, fill=body_ink)
                    y += body_step
            if mark:
                right = width - round(width * 0.02) - round(unit * 0.5)
                draw.text((right, top), mark, font=body_font, fill=title_ink, anchor="rt")
        self.dirty = (0, top, width, bottom + 1)

    def draw_slide(self, prompt: str, swatches: Sequence[Colour] = (), mark: str = "") -> None:
        width, height = self.image.size
        unit = self.unit
        title_font = _font(max(14, round(unit * 0.72)))
        body_font = _font(max(10, round(unit * 0.42)))
        left = round(width * 0.07)
        text_width = width - 2 * left
        top, bottom = _text_area(width, height)
        title_step = _line_step(title_font, 1.2)
        body_step = _line_step(body_font, 1.35)
        title, paragraphs = _split(prompt)
        title_lines = _fit(_wrap(title, title_font, text_width), 3, title_font, text_width)
        accent = _ACCENTS[zlib.crc32(prompt.encode()) % len(_ACCENTS)]
        draw = ImageDraw.Draw(self.image)
        y = top
        with _TEXT_LOCK:
            for line in title_lines:
                if y + title_step > bottom:
                    break
                draw.text((left, y), line, font=title_font, fill=_TITLE)
                y += title_step
            rule = max(2, round(unit * 0.06))
            draw.rectangle((left, y + rule, left + round(unit * 1.6), y + 2 * rule), fill=accent)
            draw.rectangle((0, top, max(2, round(width * 0.012)), y), fill=accent)
            y += 4 * rule
            body_lines = [line for p in paragraphs for line in _wrap(p, body_font, text_width)]
            room = max(0, (bottom - y) // body_step)
            for line in _fit(body_lines, room, body_font, text_width):
                draw.text((left, y), line, font=body_font, fill=_BODY)
                y += body_step
            if mark:
                right = width - round(width * 0.02) - round(unit * 0.5)
                draw.text((right, top), mark, font=title_font, fill=_TITLE, anchor="rt")
        end = max(y + body_step, top + title_step) if mark else y + body_step
        for colour, box in zip(swatches, swatch_boxes(width, height, len(swatches)), strict=True):
            draw.rectangle(box, fill=colour)
            end = max(end, box[3] + 1)
        self.dirty = (0, top, width, min(height, end))

    def wipe(self) -> None:
        if self.dirty is not None:
            self.image.paste(_PAGE, self.dirty)
            self.dirty = None


class SlideRenderer:
    """Renders and caches slide images as base64 segments ready for a JSON body.

    Encoded images are kept in an LRU keyed by (model, size, MIME type, prompt, reference
    images' digests, mark), or by any key given to :meth:`remember` (an edit's), as
    :class:`~.compression.Segment` values whose deflated form is reused too. Canvases are
    pooled per (model, size) with the page furniture already drawn, and only the rectangle
    the slide drew over is wiped before reuse, so no full page is allocated and filled per
    answer. A reference image's average colour is computed once per digest.

    Args:
        max_cache_bytes: upper bound on the base64 bytes the image LRU keeps.
    """

    def __init__(self, *, max_cache_bytes: int = 48 << 20) -> None:
        self._max_bytes = max_cache_bytes
        self._cache: OrderedDict[tuple[object, ...], Segment] = OrderedDict()
        self._colours: OrderedDict[str, Colour] = OrderedDict()
        self._cached_bytes = 0
        self._drafts: dict[tuple[str, int, int, str], Segment] = {}
        self._pools: dict[tuple[str, int, int], deque[_Canvas]] = {}
        self._pooled_pixels = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return (
            f"<SlideRenderer cached={len(self._cache)} ({self._cached_bytes} bytes) "
            f"hits={self.hits} misses={self.misses}>"
        )

    def _take(self, model: str, width: int, height: int) -> _Canvas:
        with self._lock:
            pool = self._pools.setdefault((model, width, height), deque())
            if pool:
                self._pooled_pixels -= width * height
                return pool.pop()
        return _Canvas(model, width, height)

    def _give_back(self, model: str, canvas: _Canvas) -> None:
        canvas.wipe()
        width, height = canvas.image.size
        with self._lock:
            pool = self._pools.setdefault((model, width, height), deque())
            pixels = width * height
            if len(pool) < _POOL_PER_SIZE and self._pooled_pixels + pixels <= _POOL_PIXELS:
                pool.append(canvas)
                self._pooled_pixels += pixels

    def _colour(self, image: InlineImage) -> Colour:
        """``image``'s average colour, decoded once per digest (a deck sends one many times)."""
        with self._lock:
            colour = self._colours.get(image.digest)
        if colour is None:
            colour = average_colour(image.data)
            with self._lock:
                self._colours[image.digest] = colour
                while len(self._colours) > 64:
                    self._colours.popitem(last=False)
        return colour

    def remember(
        self, key: tuple[object, ...], make: Callable[[], Segment | None]
    ) -> Segment | None:
        """The segment cached under ``key``, or ``make()``'s, kept in the LRU (unless ``None``)."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        segment = make()
        if segment is None:
            return None
        with self._lock:
            if key not in self._cache:
                self._cache[key] = segment
                self._cached_bytes += len(segment)
            while self._cached_bytes > self._max_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= len(old)
        return segment

    def image(
        self,
        *,
        model: str,
        width: int,
        height: int,
        mime_type: str,
        prompt: str,
        references: Sequence[InlineImage] = (),
        mark: str = "",
        quoted: Sequence[str] | None = None,
    ) -> Segment:
        """The slide for ``prompt``, base64-encoded, from cache when it was made before.

        ``references`` are the request's inline images: each becomes a swatch. ``mark``
        (``#2``: the second identical request) is written in the top right corner.
        ``quoted`` are the strings drawn for the prompt's quotations (by default, these).
        """
        shown = tuple(expected_text(prompt) if quoted is None else quoted)
        digests = tuple(r.digest for r in references)
        key = (model, width, height, mime_type, prompt, digests, mark, shown)

        def make() -> Segment:
            swatches = [self._colour(reference) for reference in references]
            canvas = self._take(model, width, height)
            try:
                if shown and not swatches:
                    canvas.draw_quoted(prompt, shown, mark)
                else:
                    canvas.draw_slide(prompt, swatches, mark)
                return encode_image(canvas.image, mime_type)
            finally:
                self._give_back(model, canvas)

        segment = self.remember(key, make)
        assert segment is not None
        return segment

    def draft(self, *, model: str, width: int, height: int, mime_type: str) -> Segment:
        """An interim "thought" image: the empty page, made once per size."""
        key = (model, width, height, mime_type)
        with self._lock:
            cached = self._drafts.get(key)
        if cached is not None:
            return cached
        canvas = self._take(model, width, height)
        try:
            segment = encode_image(canvas.image, mime_type)
        finally:
            self._give_back(model, canvas)
        with self._lock:
            if len(self._drafts) >= 64:
                self._drafts.clear()
            return self._drafts.setdefault(key, segment)
