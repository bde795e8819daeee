"""The deck as a PowerPoint file people can edit: native text boxes over a text-free picture.

Each slide of ``deck-editable.pptx`` is the slide's *plate* (its image with the text
removed, :mod:`~..engine.plates`) with one text box per line of text the OCR read on the
original, where it read it. A box says the slide's intended text where one of its
expected strings (``text``, or the prompt's quotations) matches what was read there, on
one line or two (a heading wrapped), else what was read; its size fills the box's height,
its colour is sampled from the original inside the box (the ink, the pixels farthest from
the box's most common colour), and it is centred when the box sits about the picture's
middle, else left-aligned. So a typo, a changed number or a translation is an edit of
text, not a new image.

A slide whose plate could not be made free of text keeps its picture, with the same text
boxes hidden (shown by the selection pane, ready to use once the picture is replaced); a
slide with no text is its picture alone. The notes, the title and the picture's alt text
are :mod:`.pptx`'s, as is how a file already in place is kept (:mod:`.replaced`).

What is read is :mod:`~..qa`'s (the OCR's lines and their boxes); nothing here sends a
request or reads text itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from ..qa.matching import normalise
from ..qa.reading import ReadText, TextLine
from .deck import Deck, ExportReport, Slide, opaque
from .pptx import DEFAULT_ASPECT, build_presentation, require_pptx
from .replaced import replace_pptx

__all__ = [
    "EDITABLE_NAME",
    "MATCHED",
    "EditableSlide",
    "TextBox",
    "ink_colour",
    "text_boxes",
    "write_editable_pptx",
]

EDITABLE_NAME = "deck-editable.pptx"
MATCHED = 0.8
"""How close (0-1, on the text check's normalised form) a line read must be to an expected
string for the box to say the expected string: past OCR slips and a typo, short of
another sentence."""

_CENTRED = 0.04  # a box whose middle is this close to the picture's (in widths) is centred
_EMU_PER_POINT = 12_700
# A line's box, as the OCR draws it, is about the font's size plus its ascent and descent
# room: the size that fills it.
_SIZE_OF_HEIGHT = 0.78
_MIN_POINTS = 6
_MAX_JOINED = 2  # lines one expected string may span (a heading wrapped once)

Align = Literal["left", "center"]
Colour = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class TextBox:
    """A text box over a slide's picture.

    Attributes:
        text: what it says.
        box: (left, top, right, bottom), fractions of the picture from its top left.
        colour: the text's colour, RGB.
        align: ``left`` or ``center``.
        intended: the text is the slide's expected string (else what was read).
    """

    text: str
    box: tuple[float, float, float, float]
    colour: tuple[int, int, int]
    align: Align
    intended: bool


@dataclass(frozen=True, slots=True)
class EditableSlide:
    """How one slide goes into the editable PPTX.

    Attributes:
        picture: the image shown (the plate, or the slide's own picture).
        boxes: its text boxes.
        hidden: the boxes are hidden (the picture still shows the text).
    """

    picture: Path
    boxes: tuple[TextBox, ...] = ()
    hidden: bool = False


def text_boxes(read: ReadText, expected: Sequence[str], original: bytes) -> tuple[TextBox, ...]:
    """The text boxes of a slide: one per line read, or per run of lines an expected string
    spans (module docstring), in reading order.

    Args:
        read: what the OCR read on the original.
        expected: the strings the slide must say (may be empty).
        original: the original image's bytes, for the colours.
    """
    lines = list(read.lines)
    groups = _groups(lines, expected)
    if not groups:
        return ()
    from io import BytesIO

    with Image.open(BytesIO(original)) as opened:
        image = opaque(opened.convert("RGB") if opened.mode == "P" else opened)
        image.load()
        boxes = []
        for start, end, said in groups:
            box = _union([line.box for line in lines[start:end]])
            text = said if said is not None else " ".join(line.text for line in lines[start:end])
            boxes.append(TextBox(text, box, ink_colour(image, box), _align(box), said is not None))
    return tuple(boxes)


def _groups(
    lines: Sequence[TextLine], expected: Sequence[str]
) -> list[tuple[int, int, str | None]]:
    """``(start, end, expected string or None)`` covering every line once, in order."""
    taken: dict[int, tuple[int, str]] = {}  # start -> (end, expected)
    used: set[int] = set()
    for want in expected:
        target = normalise(want)
        if not target:
            continue
        best: tuple[float, int, int] | None = None
        for start in range(len(lines)):
            for end in range(start + 1, min(len(lines), start + _MAX_JOINED) + 1):
                if used.intersection(range(start, end)):
                    break
                said = normalise("".join(line.text for line in lines[start:end]))
                ratio = difflib.SequenceMatcher(None, target, said, autojunk=False).ratio()
                if best is None or ratio > best[0]:
                    best = (ratio, start, end)
        if best is not None and best[0] >= MATCHED:
            _, start, end = best
            taken[start] = (end, want)
            used.update(range(start, end))
    groups: list[tuple[int, int, str | None]] = []
    index = 0
    while index < len(lines):
        if index in taken:
            end, want = taken[index]
            groups.append((index, end, want))
            index = end
        else:
            groups.append((index, index + 1, None))
            index += 1
    return groups


def _union(boxes: Sequence[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _align(box: tuple[float, float, float, float]) -> Align:
    middle = (box[0] + box[2]) / 2
    return "center" if abs(middle - 0.5) <= _CENTRED and box[0] > 0.15 else "left"


def ink_colour(image: Image.Image, box: tuple[float, float, float, float]) -> Colour:
    """The text's colour inside ``box`` (fractions) of ``image`` (RGB): the mean of the
    pixels farthest from the box's most common colour (its background)."""
    width, height = image.size
    crop = image.crop(
        (
            int(box[0] * width),
            int(box[1] * height),
            max(int(box[0] * width) + 1, round(box[2] * width)),
            max(int(box[1] * height) + 1, round(box[3] * height)),
        )
    )
    crop.thumbnail((160, 160), Image.Resampling.NEAREST)  # colours as drawn, none blended
    found = crop.getcolors(maxcolors=160 * 160) or []
    colours: list[tuple[int, Colour]] = [
        (count, (colour[0], colour[1], colour[2]))
        for count, colour in found
        if isinstance(colour, tuple)
    ]
    if not colours:
        return (0, 0, 0)
    background = max(colours)[1]

    def distance(colour: Colour) -> int:
        return sum((a - b) ** 2 for a, b in zip(colour, background, strict=True))

    farthest = max(distance(colour) for _, colour in colours)
    if farthest == 0:
        return background
    ink = [(count, colour) for count, colour in colours if distance(colour) >= 0.6 * farthest]
    total = sum(count for count, _ in ink)
    red, green, blue = (
        round(sum(count * colour[i] for count, colour in ink) / total) for i in range(3)
    )
    return red, green, blue


def write_editable_pptx(
    deck: Deck,
    slides: Mapping[int, EditableSlide],
    dest: Path | None = None,
    *,
    aspect: tuple[int, int] = DEFAULT_ASPECT,
) -> ExportReport:
    """Write ``deck`` as an editable PPTX at ``dest`` (by default ``deck-editable.pptx`` in
    the deck's folder): each slide's picture and text boxes as ``slides`` says; a slide
    missing from ``slides`` is its own picture.

    Raises:
        PptxUnavailable: python-pptx is not installed.
        ExportError: no slide has an image that can be read, or ``dest`` could not be written.
    """
    require_pptx()
    dest = deck.output_dir / EDITABLE_NAME if dest is None else dest

    def decorate(slide: Any, entry: Slide, placed: tuple[int, int, int, int]) -> None:
        editable = slides.get(entry.number)
        if editable is not None:
            for index, box in enumerate(editable.boxes, 1):
                _add_box(slide, entry.number, index, box, placed, hidden=editable.hidden)

    pictures = {number: slide.picture for number, slide in slides.items()}
    built = build_presentation(deck, aspect=aspect, pictures=pictures, decorate=decorate)
    previous = replace_pptx(dest, built.data, built.notes)
    return ExportReport(dest, built.made, built.skipped, previous)


def _add_box(
    slide: Any,
    number: int,
    index: int,
    box: TextBox,
    placed: tuple[int, int, int, int],
    *,
    hidden: bool,
) -> None:
    from pptx.dml.color import RGBColor
    from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
    from pptx.util import Emu, Pt

    left, top, width, height = placed
    x0, y0, x1, y1 = box.box
    shape = slide.shapes.add_textbox(
        Emu(left + round(x0 * width)),
        Emu(top + round(y0 * height)),
        Emu(max(1, round((x1 - x0) * width))),
        Emu(max(1, round((y1 - y0) * height))),
    )
    shape.name = f"Slide {number} text {index}"
    if hidden:
        shape.element.nvSpPr.cNvPr.set("hidden", "1")
    frame = shape.text_frame
    frame.margin_left = frame.margin_right = frame.margin_top = frame.margin_bottom = Emu(0)
    frame.word_wrap = False
    frame.auto_size = MSO_AUTO_SIZE.NONE
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    paragraph = frame.paragraphs[0]
    paragraph.alignment = PP_ALIGN.CENTER if box.align == "center" else PP_ALIGN.LEFT
    run = paragraph.add_run()
    run.text = box.text
    points = (y1 - y0) * height / _EMU_PER_POINT * _SIZE_OF_HEIGHT
    run.font.size = Pt(max(_MIN_POINTS, round(points, 1)))
    run.font.color.rgb = RGBColor(*box.colour)  # type: ignore[no-untyped-call]
