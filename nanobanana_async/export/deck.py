"""A deck's folder as an exporter reads it: the slides in order, each its image or why not.

:func:`read_deck` reads the copy of the results a run leaves in ``output_dir``
(``nano-banana-results.json``): every slide of the config is in it, saved (``outputs``) or
not (``errors``: failed, or never sent when the run stopped), so the deck's order, its
failures and its gaps come from there. A slide whose image is not on disk is *missing*. A
folder without that file (images copied from elsewhere, or a run from before the copy
existed) is read by listing its ``slide-NN.<webp|png|jpg>`` images in number order, and
:attr:`Deck.notes` says so.

An image is looked for by its plain name in the folder being read, never at the absolute
path the results recorded: a slide's file is always a plain name inside ``output_dir`` (the
config refuses anything else), so a deck folder moved or copied elsewhere still reads, and
a results file edited to point elsewhere reaches nothing outside the folder. Only regular
files are taken: a symlink under a slide's name is not followed.

What is read is untrusted in the way the run files are: the results copy must be a regular
file of the user's own under :data:`MAX_RESULTS_BYTES`, opened without blocking (a FIFO
hangs nothing), and an image file is read under :data:`MAX_IMAGE_BYTES` and decoded only
as PNG, JPEG or WebP of at most :data:`~nanobanana_async.files.images.MAX_IMAGE_PIXELS`.
Every refusal is an :class:`ExportError` whose ``str()`` is one line.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, cast

import orjson
from PIL import Image

from ..config.schema import VARIANTS_RANGE
from ..errors import NanoBananaError
from ..exits import RESULTS_COPY_NAME
from ..files.atomic import file_kind
from ..files.deck_folders import THUMBS_DIR, folder_problem
from ..files.images import MAX_IMAGE_PIXELS
from ..files.reading import NotOwn, NotReadable, NotRegular, TooLarge, read_regular
from ..wording import plural

__all__ = [
    "IMAGE_FORMATS",
    "MAX_IMAGE_BYTES",
    "MAX_RESULTS_BYTES",
    "Deck",
    "ExportError",
    "ExportReport",
    "Slide",
    "SlideState",
    "TextState",
    "UnreadableImage",
    "image_size",
    "opaque",
    "open_image",
    "read_deck",
    "read_image_file",
]

# The results of 10,000 slides each failed on a long reason are a few MB (cli/status.py
# has the figures); a larger file is none of ours, and reading it would cost its size.
MAX_RESULTS_BYTES = 32 * 2**20
MAX_IMAGE_BYTES = 256 * 2**20
"""The largest image file read: a 40-megapixel PNG of noise is about 160 MB."""
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
"""The only decoders run on a deck's files: what a run writes."""

_LISTED = re.compile(r"^slide-(\d+)\.(?:webp|png|jpg|jpeg)$", re.IGNORECASE)
_MAX_REASON = 200  # characters of a failure's reason kept: one line on a terminal
_MAX_NUMBER = 999_999  # the config's largest slide number
_MATTE = (255, 255, 255)

SlideState = Literal["ok", "failed", "missing"]
TextState = Literal["ok", "missing", "unreadable"]
_TEXT_STATES: frozenset[str] = frozenset(("ok", "missing", "unreadable"))


class ExportError(NanoBananaError):
    """Nothing can be exported, or a file cannot be read or written; ``str()`` is one line."""


class UnreadableImage(ExportError):
    """One slide's image cannot be read or decoded; an exporter skips it and says why."""


@dataclass(frozen=True, slots=True)
class Slide:
    """One slide of the deck, in the deck's order.

    Attributes:
        number: the slide's number in the config (in a listed folder: from its file name).
        path: its image, a regular file directly inside the deck's folder; ``None`` when
            there is none (see ``state`` and ``reason``). A slide whose edit step failed
            has the last good image, and ``state`` ``failed``.
        state: ``ok`` (an image is there), ``failed`` (the run recorded an error for it)
            or ``missing`` (recorded as saved, but not on disk, or not a regular file).
        reason: why there is no image, one line (the run's error for a failed slide);
            ``""`` when there is one.
        prompt: the slide's prompt, when the caller gave it to :func:`read_deck` (the
            results file has none).
        candidates: a slide of several candidates (``variants``): each one's file in the
            folder, in order (``None`` where it is not a regular file there); the slide's
            ``path`` is the one in place, which export and the contact sheet show.
        picked: which candidate is the slide (from 1), when it has several.
        text: its text check's state (``ok``, ``missing`` or ``unreadable``) from the
            results' ``text_check``; ``None`` when its text was not checked.
    """

    number: int
    path: Path | None
    state: SlideState = "ok"
    reason: str = ""
    prompt: str | None = None
    candidates: tuple[Path | None, ...] = ()
    picked: int | None = None
    text: TextState | None = None


@dataclass(frozen=True, slots=True)
class Deck:
    """A deck's folder as read by :func:`read_deck`.

    Attributes:
        output_dir: the folder read.
        slides: every slide, in slide-number order; at least one has an image.
        listed: True when there was no results file and the folder's ``slide-NN`` images
            were listed instead (so failed slides are not known).
        notes: one-line remarks on how the deck was read, for the user.
    """

    output_dir: Path
    slides: tuple[Slide, ...]
    listed: bool = False
    notes: tuple[str, ...] = ()

    @property
    def without_image(self) -> tuple[Slide, ...]:
        """The slides with no image (failed or missing), in order."""
        return tuple(slide for slide in self.slides if slide.path is None)


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an exporter wrote.

    Attributes:
        path: the file written.
        slides: the numbers of the slides in it, in order.
        skipped: the slides left out, ``(number, reason)`` in slide order: no image (the
            deck's reason), or an image that could not be read.
        previous: where the file this one replaced was kept (``.versions/deck.2.pptx``),
            or ``None``.
    """

    path: Path
    slides: tuple[int, ...]
    skipped: tuple[tuple[int, str], ...] = ()
    previous: Path | None = None

    @property
    def note(self) -> str | None:
        """One line naming the skipped slides (``skipped slides 3 (failed: ...), 5 (...)``)."""
        if not self.skipped:
            return None
        word = "slide" if len(self.skipped) == 1 else "slides"
        listed = ", ".join(f"{number} ({reason})" for number, reason in self.skipped)
        return f"{self.path.name}: skipped {word} {listed}"


def read_deck(output_dir: Path, prompts: Mapping[int, str] | None = None) -> Deck:
    """Read the deck in ``output_dir``: its slides in order, each with its image or why not.

    Args:
        output_dir: the deck's folder (a run's ``output_dir``).
        prompts: slide number -> prompt, to carry into :attr:`Slide.prompt` (the PPTX's
            speaker notes); numbers not in the deck are ignored.

    Raises:
        ExportError: the folder cannot be read, its results copy is not one, or no slide
            has an image (the message says what was found instead).
    """
    try:
        info = os.stat(output_dir)
    except (OSError, ValueError) as exc:
        raise ExportError(_why(output_dir, exc)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ExportError(f"{output_dir} is {file_kind(info.st_mode)}, not a deck's folder")
    results = _read_results(output_dir / RESULTS_COPY_NAME)
    deck = _listed(output_dir) if results is None else _from_results(output_dir, results)
    if prompts:
        slides = tuple(replace(s, prompt=prompts.get(s.number, s.prompt)) for s in deck.slides)
        deck = replace(deck, slides=slides)
    if (unsafe := folder_problem(output_dir, THUMBS_DIR)) is not None:
        # Not the user's own (a symlink to another deck's, say): the sheet does not read it.
        note = f"{unsafe}: the contact sheet is drawn from the images"
        deck = replace(deck, notes=(*deck.notes, note))
    return deck


def read_image_file(path: Path) -> bytes:
    """The bytes of a slide's image: a regular file (not a symlink), at most 256 MiB.

    Raises:
        UnreadableImage: it is gone, not a regular file, too large or unreadable.
    """
    try:
        return read_regular(path, MAX_IMAGE_BYTES)
    except NotReadable as refused:
        raise UnreadableImage(f"{path.name} {refused.reason}") from None
    except OSError as exc:
        raise UnreadableImage(_why(path.name, exc)) from None


def open_image(data: bytes, name: str) -> Image.Image:
    """Open an image's bytes for decoding, its header read and no pixel decoded yet.

    Only PNG, JPEG and WebP are tried, and an image of more than ``MAX_IMAGE_PIXELS``
    is refused from its header, before it would cost memory.

    Args:
        data: the file's bytes (:func:`read_image_file`).
        name: the file's name, for the message.

    Raises:
        UnreadableImage: not such an image, or too large.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns (an error under -W error) past 89 MP: our own cap comes first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError:  # past 179 MP: refused by Pillow before our cap
        raise UnreadableImage(f"{name} has too many pixels to read") from None
    except (OSError, SyntaxError, ValueError):
        raise UnreadableImage(f"{name} is not a PNG, JPEG or WebP image") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise UnreadableImage(f"{name} is {width}x{height}, too large to read")
    return image


def image_size(data: bytes, name: str) -> tuple[int, int]:
    """An image's width and height from its header, nothing decoded.

    A WebP's are read from its first chunk here: Pillow opens a WebP through libwebp's
    animation decoder, which allocates two canvases of the image's size, and in a process
    whose heap holds freed images (a run's end) that memory is cleared first, 5 to 30 ms
    for a 2K slide where the header takes microseconds. Others as :func:`open_image`.

    Raises:
        UnreadableImage: not such an image, or too large (:func:`open_image`).
    """
    size = _webp_size(data)
    if size is None:
        with open_image(data, name) as image:
            return image.size
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise UnreadableImage(f"{name} is {width}x{height}, too large to read")
    return size


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a WebP (lossy, lossless or extended), by the format's spec
    (RFC 9649); ``None`` when ``data`` does not start as one of those does."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # after the 3-byte frame tag
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    elif chunk == b"VP8L" and data[20] == 0x2F:  # 14 bits each, minus one
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8X":  # the canvas: 24 bits each, minus one, after 4 bytes of flags
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    else:
        return None
    return (width, height) if width and height else None


def opaque(image: Image.Image, *, keep_grey: bool = False) -> Image.Image:
    """``image`` (decoded) as RGB, or grey if it is and ``keep_grey``; transparency on white.

    White, as a slide's background most often is (a plain conversion would give black).
    """
    if image.mode == "RGB" or (keep_grey and image.mode == "L"):
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _MATTE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


# -- the results copy ----------------------------------------------------------------------


def _read_results(path: Path) -> dict[str, Any] | None:
    """The JSON object in the results copy; ``None`` when there is no file at all."""
    try:
        data = read_regular(path, MAX_RESULTS_BYTES, own=True)
    except FileNotFoundError:
        return None
    except NotRegular as refused:
        tail = "" if refused.kind == "a symlink" else ", not a results file"
        raise ExportError(f"{path} {refused.reason}{tail}") from None
    except NotOwn as refused:
        raise ExportError(f"{path} {refused.reason}: not read") from None
    except TooLarge as refused:
        raise ExportError(f"{path} {refused.reason}: not a results file") from None
    except OSError as exc:
        raise ExportError(_why(path, exc)) from None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ExportError(f"{path} is not valid JSON: not a results file") from None
    if not isinstance(parsed, dict):
        raise ExportError(f"{path} holds no JSON object: not a results file")
    return parsed


def _entries(results: dict[str, Any], field: str, text: str, path: Path) -> list[tuple[int, str]]:
    """``(slide, text)`` of each entry of a results list, its fields checked."""
    entries = results.get(field, [])
    if not isinstance(entries, list):
        raise ExportError(f"{path}: {field!r} is not a list: not a results file")
    found: list[tuple[int, str]] = []
    for index, entry in enumerate(entries):
        number = entry.get("slide") if isinstance(entry, dict) else None
        value = entry.get(text) if isinstance(entry, dict) else None
        if type(number) is not int or not 0 <= number <= _MAX_NUMBER or not isinstance(value, str):
            raise ExportError(
                f"{path}: {field}[{index}] needs a slide number and a string {text!r}: "
                "not a results file"
            )
        found.append((number, value))
    return found


def _from_results(output_dir: Path, results: dict[str, Any]) -> Deck:
    results_path = output_dir / RESULTS_COPY_NAME
    slides: dict[int, Slide] = {}
    for number, recorded in _entries(results, "outputs", "path", results_path):
        if number not in slides:
            slides[number] = _saved(output_dir, number, recorded)
    for entry in results.get("outputs", []):  # checked by _entries: a dict, its slide an int
        if isinstance(files := entry.get("candidates"), list) and files:
            picked = entry.get("picked")
            slides[entry["slide"]] = replace(
                slides[entry["slide"]],
                candidates=tuple(
                    _candidate(output_dir, file) for file in files[: VARIANTS_RANGE[1]]
                ),
                picked=picked if type(picked) is int else None,
            )
        if (text := _text_state(entry.get("text_check"))) is not None:
            slides[entry["slide"]] = replace(slides[entry["slide"]], text=text)
    for index, (number, error) in enumerate(_entries(results, "errors", "error", results_path)):
        if number not in slides:
            reason = f"failed: {_one_line(error)}"
            # A step of an edit chain that failed keeps the last good image (EditFailed):
            # that image is the slide's, and is shown.
            kept = results["errors"][index].get("path")
            shown = _saved(output_dir, number, kept).path if isinstance(kept, str) else None
            slides[number] = Slide(number, shown, "failed", reason)
    ordered = tuple(slides[number] for number in sorted(slides))
    notes: list[str] = []
    recorded_dir = results.get("output_dir")
    if isinstance(recorded_dir, str) and recorded_dir and not _same_dir(recorded_dir, output_dir):
        notes.append(
            f"the results were written for {_one_line(recorded_dir)}: "
            f"the images are read by name from {output_dir}"
        )
    if not any(slide.path for slide in ordered):
        raise ExportError(f"nothing to export in {output_dir}: {_nothing(ordered)}")
    return Deck(output_dir, ordered, listed=False, notes=tuple(notes))


def _text_state(check: object) -> TextState | None:
    """The state of an output's ``text_check``; ``None`` when absent or not one of ours."""
    state = check.get("state") if isinstance(check, dict) else None
    return cast("TextState", state) if state in _TEXT_STATES else None


def _saved(output_dir: Path, number: int, recorded: str) -> Slide:
    name = Path(recorded).name
    if name in ("", ".", ".."):
        return Slide(number, None, "missing", f"missing: no file name in {recorded!r}")
    path = output_dir / name
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Slide(number, None, "missing", f"missing: {_one_line(name)} is not in the folder")
    except (OSError, ValueError) as exc:
        return Slide(number, None, "missing", "missing: " + _why(_one_line(name), exc))
    if not stat.S_ISREG(info.st_mode):
        kind = file_kind(info.st_mode)
        return Slide(number, None, "missing", f"missing: {_one_line(name)} is {kind}")
    return Slide(number, path)


def _candidate(output_dir: Path, recorded: object) -> Path | None:
    """A candidate's file, read by its plain name in the folder as a slide's is."""
    if not isinstance(recorded, str):
        return None
    found = _saved(output_dir, 0, recorded)
    return found.path


def _same_dir(recorded: str, output_dir: Path) -> bool:
    try:
        return os.path.samefile(recorded, output_dir)
    except (OSError, ValueError):
        return False


def _nothing(slides: tuple[Slide, ...]) -> str:
    if not slides:
        return "its results list no slide"
    failed = sum(slide.state == "failed" for slide in slides)
    counts = ((failed, "failed"), (len(slides) - failed, "missing"))
    parts = [f"{count} {word}" for count, word in counts if count]
    return f"none of its {plural(len(slides), 'slide')} has an image ({', '.join(parts)})"


# -- a folder without results --------------------------------------------------------------


def _listed(output_dir: Path) -> Deck:
    found: list[tuple[int, str]] = []
    try:
        with os.scandir(output_dir) as entries:
            for entry in entries:
                match = _LISTED.match(entry.name)
                if match and entry.is_file(follow_symlinks=False):
                    found.append((int(match[1]), entry.name))
    except OSError as exc:
        raise ExportError(_why(output_dir, exc)) from None
    if not found:
        raise ExportError(
            f"nothing to export in {output_dir}: no {RESULTS_COPY_NAME} and no "
            "slide-NN.webp/.png/.jpg image"
        )
    found.sort()
    slides = tuple(Slide(number, output_dir / name) for number, name in found)
    note = (
        f"no {RESULTS_COPY_NAME} in {output_dir}: its {plural(len(slides), 'slide-NN image')} are "
        "listed by number (failed slides are not known)"
    )
    return Deck(output_dir, slides, listed=True, notes=(note,))


# -- text ----------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """``text`` as one printable line of at most 200 characters."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 3] + "..."


def _why(where: object, exc: BaseException) -> str:
    """``where`` and what ``exc`` says of it, one line: ``slide-01.png: not found``."""
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
        return f"{where} is a symlink, not followed"
    if isinstance(exc, FileNotFoundError):
        return f"{where}: not found"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{where}: {exc.strerror}"
    return f"{where}: {_one_line(str(exc)) or type(exc).__name__}"
