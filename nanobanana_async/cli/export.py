"""``nanobanana export``: a deck's folder as the files it is delivered in.

``nanobanana export OUTPUT_DIR [--pptx [FILE]] [--pdf [FILE]] [--contact-sheet [FILE]]
[--config CONFIG]`` writes each file asked for, in ``OUTPUT_DIR`` unless a FILE is given
(``deck.pptx``, ``deck.pdf``, ``contact-sheet.png``); asked for none, it writes the PPTX
and the PDF, and without python-pptx the PDF alone, saying why. The speaker notes hold each
slide's prompt as written (before a style preset wraps it), read from the deck's manifest,
where every run records them; ``--config`` gives them instead, and the slides their shape
(the config's aspect ratio, the most common among its slides), else the first image's.
``run --export pptx,pdf`` does the same at the end of a run (:func:`export_after_run`).

A PPTX already in place is never replaced by one with fewer notes (the line says which
slides, and how to give their prompts), and one replaced by a different presentation is
kept in ``.versions/`` (the line names it): see :mod:`nanobanana_async.export.replaced`.

It prints one line per file written (``export (free): 9 slides as pictures ->
/deck/deck.pptx; skipped slide 4``), then once the skipped slides and why, grouped by reason.
The line says what an agent would otherwise have to ask: an export sends nothing and costs
nothing, and each slide of the PPTX or PDF is one picture (the image as made), not text
that can be edited. Exit codes: 0 every
file asked for written; 1 when one could not be (the others still are); 2 a usage error, a
bad config, ``--pptx`` without python-pptx, or an ``OUTPUT_DIR`` with nothing to export
(not a deck's folder, or no slide with an image), found before anything is written.

The export modules (Pillow, python-pptx) are imported only when a file is written, so
``nanobanana --help`` and ``run``'s ``--export`` option load neither.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..follow.summary import printable
from ..wording import plural, slide_ranges

if TYPE_CHECKING:
    from ..config.loading import DeckConfig
    from ..export.deck import Deck

__all__ = ["EXPORT_KINDS", "export_after_run", "export_command", "export_kinds"]

EXPORT_KINDS = ("pptx", "pdf", "contact-sheet")
"""What can be exported free, in the order the files are written."""
EDITABLE = "pptx-editable"
"""``run --export pptx-editable``: the editable PPTX (:mod:`.editable`), which buys plates."""
_DEFAULT_KINDS = ("pptx", "pdf")
_NAMES = {"pptx": "PPTX", "pdf": "PDF", "contact-sheet": "contact sheet"}
_MAX_REASONS = 5  # groups of skipped slides named on the reasons line; the rest counted
_WRITTEN = "export (free):"  # how a line of a file written begins

Target = Path | bool | None
"""A file asked for: ``None`` not asked, ``True`` at its default path, or a path."""


def export_kinds(text: str) -> frozenset[str]:
    """``pptx,pdf`` -> {"pptx", "pdf"}: argparse's type for ``run --export``."""
    kinds = frozenset(part.strip().lower() for part in text.split(","))
    known = (*EXPORT_KINDS, EDITABLE)
    unknown = sorted(kinds - set(known))
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"must be {', '.join(known[:-1])} or {known[-1]}, comma-separated, got {text!r}"
        )
    return kinds


def export_command(
    output_dir: Path,
    *,
    pptx: Target = None,
    pdf: Target = None,
    contact_sheet: Target = None,
    config: Path | None = None,
    editable: Target = None,
    dry_run: bool = False,
    max_cost: float | None = None,
) -> int:
    """``nanobanana export``: write the files asked for; the exit code (module docstring).

    ``editable``: the editable PPTX too (:mod:`.editable`), priced and not made with
    ``dry_run``, its plates within ``max_cost`` (else the config's).
    """
    from ..errors import ConfigError
    from ..export.deck import ExportError, read_deck
    from ..export.pptx import PptxUnavailable, require_pptx

    output_dir = output_dir.absolute()  # the lines name whole paths, as run's does
    asked = {"pptx": pptx, "pdf": pdf, "contact-sheet": contact_sheet}
    targets: dict[str, Path | None] = {
        kind: _dest(target) for kind, target in asked.items() if target is not None
    }
    if editable is None and (dry_run or max_cost is not None):
        flag = "--dry-run" if dry_run else "--max-cost"
        _error(f"{flag} is for --editable, whose plates cost money; the other exports are free")
        return EXIT_USAGE
    if editable is not None:
        return _editable_command(output_dir, _dest(editable), targets, config, dry_run, max_cost)
    try:
        batch = _load(config) if config is not None else None
        if "pptx" in targets:
            require_pptx()
        elif not targets:
            targets = dict.fromkeys(_DEFAULT_KINDS)
            try:
                require_pptx()
            except PptxUnavailable as missing:
                del targets["pptx"]
                _error(f"no PPTX: {missing}", "notice")
        deck = read_deck(output_dir, _prompts(output_dir, batch))
    except (ConfigError, ExportError) as error:
        _error(str(error))
        return EXIT_USAGE
    for note in deck.notes:
        _error(note, "notice")
    lines, failures = _export(deck, targets, batch)
    for line in lines:
        print(line)
    for failure in failures:
        _error(failure)
    return EXIT_FAILED if failures else EXIT_OK


def _editable_command(
    output_dir: Path,
    dest: Path | None,
    others: Mapping[str, Path | None],
    config_file: Path | None,
    dry_run: bool,
    max_cost: float | None,
) -> int:
    """``export DIR --editable``: the editable PPTX first (refused: exit 2, nothing
    written), then any other file asked for."""
    from ..errors import ConfigError
    from ..export.deck import ExportError, read_deck
    from .editable import editable_export

    try:
        batch = _load(config_file) if config_file is not None else None
        prompts = _prompts(output_dir, batch)
        line = editable_export(output_dir, dest, batch, prompts, dry_run=dry_run, max_cost=max_cost)
    except ConfigError as error:
        _error(str(error))
        return EXIT_USAGE
    except ExportError as error:
        _error(f"no editable PPTX: {error}")
        return EXIT_FAILED
    print(line)
    if dry_run or not others:
        return EXIT_OK
    lines, failures = _export(read_deck(output_dir, prompts), others, batch)
    for written in lines:
        print(written)
    for failure in failures:
        _error(failure)
    return EXIT_FAILED if failures else EXIT_OK


def export_after_run(
    output_dir: Path, kinds: frozenset[str], config: DeckConfig | None, spent: float = 0.0
) -> list[str]:
    """What ``run --export KINDS`` does once the run is over: write the files, never raise.

    Args:
        output_dir: the folder the run wrote (for ``run --emulator``, the dry run's).
        kinds: from :func:`export_kinds`; each file goes to its default path in the folder.
        config: the run's config, for the prompts and the slides' shape.
        spent: what the run spent of the config's ``max_cost`` (the editable PPTX's plates
            have what is left).

    Returns:
        Lines for the run to print after its own, each beginning ``export``: how the deck
        was read, if worth saying; one line per file, written (``export (free): 9 slides as
        pictures -> /deck/deck.pptx``), then the skipped slides' reasons, if any; then one
        per file not written (``export: no PPTX: ...``). They do not change the run's exit code.
    """
    from ..export.deck import ExportError, read_deck

    targets: dict[str, Path | None] = {kind: None for kind in EXPORT_KINDS if kind in kinds}
    output_dir = output_dir.absolute()
    try:
        deck = read_deck(output_dir, _prompts(output_dir, config))
    except ExportError as error:
        return [f"export: nothing written: {printable(str(error))}"]
    lines, failures = _export(deck, targets, config)
    notes = [f"export: {printable(note)}" for note in deck.notes]
    if EDITABLE in kinds:
        from ..errors import ConfigError
        from .editable import editable_export

        prompts = _prompts(output_dir, config)
        try:
            lines.append(editable_export(output_dir, None, config, prompts, spent=spent))
        except (ConfigError, ExportError) as error:
            failures.append(f"no editable PPTX: {printable(str(error))}")
    return [*notes, *lines, *(f"export: {failure}" for failure in failures)]


def _export(
    deck: Deck, targets: Mapping[str, Path | None], config: DeckConfig | None
) -> tuple[list[str], list[str]]:
    """Write each target; (one line per file written and the reasons line, one line per
    file not written)."""
    from ..export.contact_sheet import write_contact_sheet
    from ..export.deck import ExportError
    from ..export.pdf import write_pdf
    from ..export.pptx import deck_aspect, write_pptx
    from ..export.replaced import NotesWouldBeLost

    lines: list[str] = []
    failures: list[str] = []
    skipped: dict[int, str] = {}
    for kind in EXPORT_KINDS:
        if kind not in targets:
            continue
        dest = targets[kind]
        try:
            if kind == "contact-sheet":
                path = write_contact_sheet(deck, dest)
                lines.append(f"{_WRITTEN} {_count(len(deck.slides))} -> {printable(str(path))}")
                continue
            if kind == "pptx":
                aspect = config_aspect(config) or deck_aspect(deck)
                report = write_pptx(deck, dest, aspect=aspect)
            else:
                report = write_pdf(deck, dest)
        except NotesWouldBeLost as error:
            fix = "; give --config CONFIG with their prompts, or move it away first"
            failures.append(f"no {_NAMES[kind]}: {printable(str(error))}{fix}")
            continue
        except ExportError as error:
            failures.append(f"no {_NAMES[kind]}: {printable(str(error))}")
            continue
        count = len(report.slides)
        pictures = f"{_count(count)} as {'a picture' if count == 1 else 'pictures'}"
        line = f"{_WRITTEN} {pictures} -> {printable(str(report.path))}"
        if report.skipped:
            line += f"; skipped {slide_ranges(number for number, _ in report.skipped)}"
        if report.previous is not None:
            line += f"; the earlier one kept as {printable(str(report.previous))}"
        lines.append(line)
        for number, reason in report.skipped:
            skipped.setdefault(number, reason)
    if skipped:
        lines.append(f"export: skipped {_reasons(skipped)}")
    return lines, failures


def _dest(target: Path | bool) -> Path | None:
    return target.absolute() if isinstance(target, Path) else None


def _load(config: Path) -> DeckConfig:
    from ..config.loading import load_config

    return load_config(config, env=dict(os.environ))


def _prompts(output_dir: Path, config: DeckConfig | None) -> dict[int, str]:
    """Each slide's prompt as written: the config's, else the one the deck's manifest
    recorded when the slide was made (read by the engine's own reader, which never raises)."""
    from ..engine.manifest import Manifest

    recorded = Manifest.read(output_dir).slides
    prompts = {number: record.prompt for number, record in recorded.items() if record.prompt}
    if config is not None:
        prompts.update((spec.number, spec.prompt) for spec in config.slides)
    return prompts


def config_aspect(config: DeckConfig | None) -> tuple[int, int] | None:
    """The config's aspect ratio, the most common among its slides (the first on a tie);
    ``None`` without a config, or when it does not read as ``W:H``."""
    ratios = Counter(spec.aspect_ratio for spec in config.slides) if config else Counter()
    if not ratios:
        return None
    width, _, height = ratios.most_common(1)[0][0].partition(":")
    if not (width.isdecimal() and height.isdecimal() and int(width) and int(height)):
        return None
    return int(width), int(height)


def _count(slides: int) -> str:
    return plural(slides, "slide")


def _reasons(skipped: Mapping[int, str]) -> str:
    """``slides 3, 5 (failed: blocked); slide 7 (missing: ...)``, by reason, in slide order."""
    groups: dict[str, list[int]] = {}
    for number in sorted(skipped):
        groups.setdefault(skipped[number], []).append(number)
    shown = [
        f"{slide_ranges(numbers)} ({printable(reason)})"
        for reason, numbers in list(groups.items())[:_MAX_REASONS]
    ]
    more = sum(len(numbers) for numbers in list(groups.values())[_MAX_REASONS:])
    return "; ".join(shown) + (f"; and {_count(more)} more" if more else "")


def _error(message: str, kind: str = "error") -> None:
    print(f"nanobanana: {kind}: {printable(message)}", file=sys.stderr)
