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
from ..engine.originals import MAX_ORIGINAL_BYTES
from ..errors import ConfigError
from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..files.deck_folders import kept_file, read_kept
from ..follow.summary import printable
from ..qa import ReadText, TextCheck, expected_text, match_text, require_qa
from ..qa.readings import Readings
from ..wording import plural, slide_ranges

__all__ = ["check_command", "shown_original"]


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


def shown_original(manifest: Manifest, output_dir: Path, number: int, image: Path) -> Path:
    """The image slide ``number``'s file ``image`` was made from: its kept original (the
    service's bytes, which a run's text check read) when the manifest says the file shows
    it, else the file itself."""
    record = manifest.slides.get(number)
    if record is not None and record.original and record.file == image.name:
        original = output_dir / record.original
        if kept_file(original):
            return original
    return image


def _check(
    number: int, image: Path, expected: tuple[str, ...], readings: Readings, manifest: Manifest
) -> TextCheck | None:
    """What slide ``number``'s ``image`` is found to say; ``None`` when there is no image."""
    source = shown_original(manifest, image.parent, number, image)
    try:
        data = read_kept(source, MAX_ORIGINAL_BYTES) if source != image else image.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return match_text(expected, ReadText((), 0, 0))  # there, but not readable: unreadable
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
    readings = Readings.default()  # an image read before (a run, a check) is not read again
    manifests: dict[Path, Manifest] = {}
    for slide, (image, expected) in slides.items():
        folder = image.parent
        if folder not in manifests:
            manifests[folder] = Manifest.read(folder)
        check = _check(slide, image, expected, readings, manifests[folder])
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
