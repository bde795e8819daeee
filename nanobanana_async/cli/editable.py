"""``export DIR --editable`` (and ``run --export pptx-editable``): the editable PPTX.

Each slide's original is read (OCR, :mod:`~..qa`); a slide with text gets a plate, a
text-free picture made by one edit (:mod:`~..engine.plates`: kept and keyed, so a second
export sends nothing), read back, retried once if it still shows text; then
:mod:`~..export.editable` writes ``deck-editable.pptx``: each plate with the slide's text as
text boxes, a slide whose plate kept its text as its picture with the boxes hidden (named
on the line), a slide with no text as its picture.

The plates cost money, so the line says what they cost (``export ($0.08, 2 requests):``)
and ``--dry-run`` says it first, sending nothing and writing nothing. The budget is the
config's ``max_cost`` (``--max-cost`` over it; after ``run``, what the run left of it); a
plan over it writes nothing. Refused before anything is read or sent: python-pptx or the
OCR missing (one line naming the extras), a folder with no images, or one whose slides are
missing (an editable deck of a deck with holes would be wrong by omission).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from ..errors import ConfigError
from ..exits import RESULTS_COPY_NAME
from ..follow.summary import printable
from ..wording import plural, slide_ranges

if TYPE_CHECKING:
    from ..config.loading import DeckConfig
    from ..engine.manifest import Manifest
    from ..export.deck import Deck, Slide
    from ..export.editable import TextBox
    from ..qa.reading import ReadText
    from ..qa.readings import Readings

__all__ = ["MISSING_EXTRAS", "EditableRefused", "editable_export"]

MISSING_EXTRAS = (
    "the editable PPTX needs python-pptx and the OCR: pip install 'nanobanana-async[pptx,qa]'"
)
_MAX_RESULTS = 32 * 2**20


class EditableRefused(ConfigError):
    """The editable PPTX cannot be made (bad input, a missing extra, over the budget):
    nothing was written or sent; ``str()`` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__("--editable", message)


@dataclass(frozen=True, slots=True)
class _Read:
    number: int
    data: bytes
    path: Path
    read: ReadText
    expected: tuple[str, ...]


def editable_export(
    output_dir: Path,
    dest: Path | None,
    config: DeckConfig | None,
    prompts: dict[int, str],
    *,
    dry_run: bool = False,
    max_cost: float | None = None,
    spent: float = 0.0,
) -> str:
    """Make (or price, ``dry_run``) the editable PPTX; the line to print.

    Args:
        output_dir: the deck's folder.
        dest: the file (default ``deck-editable.pptx`` in the folder).
        config: the deck's config, or ``None``: the environment's endpoint and key, and
            the model the results name.
        prompts: slide -> prompt (the notes, and the quotations a slide must show).
        dry_run: say what the plates would cost; send and write nothing.
        max_cost: the budget of the plates (default the config's ``max_cost``).
        spent: what the run before the export spent of the config's budget.

    Raises:
        EditableRefused: bad input, a missing extra, or over the budget; the message is
            one line and nothing was sent or written.
        ExportError: the file could not be written.
    """
    from ..engine.plates import (
        PlateSource,
        make_plates,
        plan_plates,
        plates_config,
        retried_before,
    )
    from ..export.deck import ExportError, read_deck

    _require_extras()
    try:
        deck = read_deck(output_dir, prompts)
    except ExportError as error:
        raise EditableRefused(f"nothing written: {error}") from None
    if missing := deck.without_image:
        reasons = "; ".join(f"{slide.number} ({slide.reason})" for slide in missing[:3])
        raise EditableRefused(
            f"{plural(len(missing), 'slide')} of {output_dir} "
            f"{'has' if len(missing) == 1 else 'have'} no image ({reasons}): make "
            f"{'it' if len(missing) == 1 else 'them'} first (nanobanana run); nothing written"
        )
    from ..engine.manifest import Manifest
    from ..qa.readings import Readings

    # Every slide and plate is read; a second export (or a check before it) reads none again.
    readings = Readings.default()
    manifest = Manifest.read(output_dir)
    expected = {spec.number: spec.expected_text for spec in config.slides} if config else {}
    read = [
        _read_slide(deck, slide, manifest, expected.get(slide.number), readings)
        for slide in deck.slides
    ]
    texted = [entry for entry in read if entry.read.lines]
    sources = [PlateSource(e.number, e.data, e.path, e.read.width, e.read.height) for e in texted]
    budget = max_cost if max_cost is not None else (config.max_cost if config else None)
    if budget is not None and max_cost is None:
        budget = max(0.0, budget - spent)
    model = None if config is not None else _results_model(output_dir)

    def build(retry: frozenset[int]) -> DeckConfig:
        return plates_config(config, output_dir, sources, model=model, retry=retry, max_cost=budget)

    try:
        plates = build(frozenset())
        if sources:
            plates = build(retried_before(build(frozenset(s.number for s in sources))))
            plan = plan_plates(plates)
        if dry_run:
            return _dry_run_line(len(deck.slides), sources, plan if sources else None)
        made = make_plates(plates, lambda image: _shows_text(image, readings)) if sources else None
    except ConfigError as error:
        raise EditableRefused(f"no plates: {error}; nothing written") from None
    return _write(deck, dest, config, read, made)


def _require_extras() -> None:
    from ..export.pptx import PptxUnavailable, require_pptx
    from ..qa.reading import QaUnavailable, require_qa

    try:
        require_pptx()
        require_qa("--editable")
    except (PptxUnavailable, QaUnavailable, ValueError):
        raise EditableRefused(MISSING_EXTRAS) from None


def _read_slide(
    deck: Deck,
    slide: Slide,
    manifest: Manifest,
    expected: tuple[str, ...] | None,
    readings: Readings,
) -> _Read:
    """A slide's original (the service's bytes, kept; else its file) and what it says."""
    from ..export.deck import read_image_file
    from ..qa.quotes import expected_text
    from .check import shown_original

    assert slide.path is not None
    number = slide.number
    path = shown_original(manifest, deck.output_dir, number, slide.path)
    data = read_image_file(path)
    said = expected if expected is not None else expected_text(slide.prompt or "")
    return _Read(number, data, path, _words(readings.read(data)), tuple(said))


def _words(read: ReadText) -> ReadText:
    """``read`` without the lines of no letter or digit: a rule or a bullet read as ``_``
    or ``-`` is a shape, which the plate keeps and no text box should repeat."""
    from ..qa.reading import ReadText

    lines = tuple(line for line in read.lines if any(c.isalnum() for c in line.text))
    return ReadText(lines, read.width, read.height)


def _shows_text(image: bytes, readings: Readings) -> bool:
    return bool(_words(readings.read(image)).lines)


def _results_model(output_dir: Path) -> str | None:
    """The model the deck's results name (the plates are made with it), if they do."""
    from ..files.reading import read_regular

    try:
        data = orjson.loads(read_regular(output_dir / RESULTS_COPY_NAME, _MAX_RESULTS, own=True))
    except (OSError, orjson.JSONDecodeError):
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) and model else None


def _dry_run_line(slides: int, sources: Sequence[object], plan: object) -> str:
    from ..engine.rerun import RunPlan

    head = f"export --dry-run (free, sends nothing): editable PPTX of {plural(slides, 'slide')}"
    if not isinstance(plan, RunPlan):
        return f"{head}; no slide shows text: no plate to make, $0.00"
    to_make = plan.to_buy
    kept = len(sources) - len(to_make)
    cost = plan.cost_usd
    price = "cost unknown" if cost is None else f"about ${cost:.2f}"
    line = f"{head}; {plural(len(to_make), 'plate')} to make ({slide_ranges(to_make)}), {price}"
    if not to_make:
        line = f"{head}; no plate to make"
    if kept:
        line += f", {kept} kept"
    if to_make:
        line += f"; a plate that still shows text is retried once, up to {price} more"
    without = slides - len(sources)
    if without:
        line += f"; {plural(without, 'slide')} without text as pictures"
    return line


def _write(
    deck: Deck, dest: Path | None, config: DeckConfig | None, read: list[_Read], made: object
) -> str:
    from ..engine.plates import Plates
    from ..export.editable import EditableSlide, text_boxes, write_editable_pptx
    from ..export.pptx import deck_aspect
    from .export import config_aspect

    plates = made if isinstance(made, Plates) else Plates({}, {}, 0.0, 0)
    slides: dict[int, EditableSlide] = {}
    boxes_count = 0
    for entry in read:
        if not entry.read.lines:
            continue
        boxes: tuple[TextBox, ...] = text_boxes(entry.read, entry.expected, entry.data)
        boxes_count += len(boxes)
        plate = plates.made.get(entry.number)
        if plate is not None:
            slides[entry.number] = EditableSlide(plate, boxes)
        else:
            shown = next(s.path for s in deck.slides if s.number == entry.number)
            assert shown is not None
            slides[entry.number] = EditableSlide(shown, boxes, hidden=True)
    aspect = config_aspect(config) or deck_aspect(deck)
    report = write_editable_pptx(deck, slides, dest, aspect=aspect)
    cost = plates.cost_usd
    paid = "cost unknown" if cost is None else f"${cost:.2f}"
    head = "export (free):" if not plates.requests else f"export ({paid}, "
    if plates.requests:
        head += f"{plural(plates.requests, 'request')}):"
    said = plural(boxes_count, "text box", "text boxes")
    line = (
        f"{head} {plural(len(report.slides), 'slide')} with {said} over text-free pictures"
        f" -> {printable(str(report.path))}"
    )
    if plates.failed:
        numbers = sorted(plates.failed)
        reasons = sorted(set(plates.failed.values()))
        line += (
            f"; {slide_ranges(numbers)} kept {'its' if len(numbers) == 1 else 'their'} "
            f"picture with the text boxes hidden ({printable('; '.join(reasons))})"
        )
    if report.previous is not None:
        line += f"; the earlier one kept as {printable(str(report.previous))}"
    return line
