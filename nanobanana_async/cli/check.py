"""``nanobanana check DIR_OR_CONFIG``: a deck already made, its text read back; nothing sent.

A config says what each slide must say (``text``, else its prompt's quotations; the
slides it checks, or every slide when it checks none, since asking is the command). A
deck folder alone has only the prompts its manifest keeps: their quotations are checked,
and a folder whose manifest gives none is refused (nothing to know the text from). One
line per slide with text, then a summary; exit 0 when every one reads right, 1 when
some miss (or has no image), 2 for bad input or without the ``qa`` extra.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from ..config.loading import load_config
from ..engine.manifest import Manifest
from ..errors import ConfigError
from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..follow.summary import printable
from ..qa import ReadText, TextCheck, expected_text, match_text, require_qa
from ..qa.readings import Readings
from ..wording import plural, slide_ranges

__all__ = ["check_command"]


def _from_config(path: Path) -> dict[int, tuple[Path, tuple[str, ...]]]:
    """Slide number -> (its image, what it must say), for the slides the config checks."""
    config = load_config(path, env=dict(os.environ))
    slides = [s for s in config.slides if s.expected_text]
    if not slides:  # the deck asks for no check: the command does, for every slide
        slides = [s for s in config.slides if dataclasses.replace(s, check_text=True).expected_text]
    return {
        s.number: (config.output_dir / s.output_filename, s.text or expected_text(s.prompt))
        for s in slides
    }


def _from_folder(folder: Path) -> dict[int, tuple[Path, tuple[str, ...]]]:
    """Slide number -> (its image, its prompt's quotations), from the deck's manifest."""
    manifest = Manifest.read(folder)
    return {
        number: (folder / record.file, quoted)
        for number, record in sorted(manifest.slides.items())
        if record.prompt and (quoted := expected_text(record.prompt))
    }


def _check(image: Path, expected: tuple[str, ...], readings: Readings) -> TextCheck | None:
    """What ``image`` is found to say; ``None`` when there is no image."""
    try:
        data = image.read_bytes()
    except FileNotFoundError:
        return None
    try:
        read = readings.read(data)
    except Exception:  # any failure to read it (OCR, decoding): "unreadable", as in a run
        read = ReadText((), 0, 0)
    return match_text(expected, read)


def _line(slide: int, check: TextCheck | None) -> str:
    if check is None:
        return f"slide {slide}: no image (not made yet)"
    if check.state != "missing":
        return f"slide {slide}: {check.state}"
    misses = "; ".join(
        f"missing '{printable(m.expected)}' (closest read: '{printable(m.closest)}')"
        if m.closest
        else f"missing '{printable(m.expected)}'"
        for m in check.missing
    )
    return f"slide {slide}: {misses}"


def check_command(target: Path) -> int:
    """Check the text of the deck ``target`` (a config file or a deck folder); the exit code."""
    try:
        require_qa("check")
        if target.is_dir():
            slides = _from_folder(target)
            if not slides:
                raise ConfigError(
                    "",
                    f"{printable(str(target))}: its manifest gives no slide's text; "
                    "check the config instead: nanobanana check slides.json",
                )
        else:
            slides = _from_config(target)
            if not slides:
                raise ConfigError(
                    "", 'no slide states "text" or quotes text in its prompt: nothing to check'
                )
    except ConfigError as error:
        print(f"nanobanana: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    wrong: list[int] = []
    readings = Readings.default()  # an image read before (by a check or an export) is not again
    for slide, (image, expected) in slides.items():
        check = _check(image, expected, readings)
        if check is None or check.state != "ok":
            wrong.append(slide)
        print(_line(slide, check), flush=True)
    summary = f"checked {plural(len(slides), 'slide')} (free, sends nothing): "
    parts = [f"{len(slides) - len(wrong)} ok"] if len(wrong) < len(slides) else []
    if wrong:
        shown = slide_ranges(wrong).split(" ", 1)[1]
        parts.append(f"{plural(len(wrong), 'slide')} with text to check ({shown})")
    print(summary + "; ".join(parts))
    return EXIT_FAILED if wrong else EXIT_OK
