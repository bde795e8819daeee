"""Reading a slide's text back: offline OCR, loaded once, one image at a time.

The OCR is RapidOCR (PP-OCRv6 detection and recognition on onnxruntime), an optional
extra (``nanobanana-async[qa]``): its wheel ships the models, so nothing is downloaded at
run time. :func:`require_qa` says, before anything is sent, whether it is installed;
:func:`read_text` reads one image.

Why it is built so:

- *Loaded once, lazily.* The first read builds the engine (about a second), under a lock,
  so two threads never build two; a process that never checks text never imports it.
- *Bounded, and the extra readers behind conversion.* OCR is CPU-bound (about 0.4 s a
  slide). Reads take one of :data:`OCR_WORKERS` slots, each on :data:`OCR_THREADS`
  onnxruntime thread. :func:`read_text_async` reads on its own pool, not the event
  loop's default executor, so waiting reads never hold threads other work needs. Its
  first reader runs at the process's priority, sharing the machine as any thread does;
  on Linux the others run :data:`READER_NICE` steps nicer, so the scheduler gives them
  only what conversion, pacing and other programs leave: one reader per core, since a
  deck whose quota comes in windows ends with a burst of images to read while nothing
  else runs. Where a thread's priority cannot be lowered, one reader.
- *Downscaled.* An image whose long side passes :data:`MAX_SIDE` is reduced to it first
  (a 2K JPEG is decoded at half scale, no resampling): slide text is large, and a 2K
  slide reads as well at 1K sizes. Text is then *found* on a copy whose long side is
  :data:`DET_SIDE` (detection was 3/4 of a read's CPU at 1400 px) and *read* from the
  :data:`MAX_SIDE` image, so small text keeps its pixels where they are needed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "DET_SIDE",
    "MAX_SIDE",
    "MISSING_QA",
    "OCR_THREADS",
    "OCR_WORKERS",
    "READER_NICE",
    "QaUnavailable",
    "ReadText",
    "TextLine",
    "read_text",
    "read_text_async",
    "require_qa",
]

MISSING_QA = "the text check needs OCR: pip install 'nanobanana-async[qa]'"
MAX_SIDE = 1376
"""Long side (px) an image is reduced to before it is read: a 1K 16:9 slide's, and half a
2K one's, so a 2K JPEG decodes straight to it (Pillow's draft mode)."""
DET_SIDE = 736
"""Long side (px) of the copy text is detected on (RapidOCR's ``Det.limit_side_len``, with
``limit_type: max``; its default, ``min``, enlarges a 1K slide's short side to 736 and
detects on 1376x768). On Pillow-drawn slides at 1K, text down to 12-13 px high is found
and read (9 px at 1376 px detection), for a third of the CPU (benchmarks/README.md)."""
READER_NICE = 10
"""How much nicer than the process a reader after the first runs (Linux): at 10 the
scheduler's weights give a busy normal thread about ten times its share of a core."""
_LOWERED = sys.platform.startswith("linux")  # only there is a thread's nice its own


def _readers() -> int:
    if not _LOWERED:
        return 1
    return max(1, min(4, len(os.sched_getaffinity(0))))


OCR_WORKERS = _readers()
"""Reads at once in this process: one per core this process may use (at most 4: each
holds a read's buffers), or 1 where a reader's priority cannot be lowered."""
OCR_THREADS = 1
"""onnxruntime's threads for one read: one core, the reader's own thread (which is why its
nice applies to the read). On 2 busy cores one thread read a 1K slide in 1.1-1.3 s, two
in 1.9-3.0 s (benchmarks/README.md)."""
_MIN_SCORE = 0.5  # RapidOCR's own default: lines it is less sure of are dropped


class QaUnavailable(ConfigError):
    """The ``qa`` extra is missing: a config asked for the text check (exit 2, nothing sent)."""

    def __init__(self, field: str = "check_text") -> None:
        super().__init__(field, MISSING_QA)


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of text read.

    Attributes:
        text: what was read, as read.
        box: (left, top, right, bottom), fractions of the image from its top left.
        score: the recogniser's confidence, 0-1.
    """

    text: str
    box: tuple[float, float, float, float]
    score: float


@dataclass(frozen=True, slots=True)
class ReadText:
    """What an image says, line by line in reading order (top to bottom, then left to right).

    Attributes:
        lines: the lines read; empty when no text was found.
        width: the image's width in pixels, as given.
        height: its height.
    """

    lines: tuple[TextLine, ...]
    width: int
    height: int

    @property
    def text(self) -> str:
        """Every line, one per line."""
        return "\n".join(line.text for line in self.lines)


def require_qa(field: str = "check_text") -> None:
    """Raise :class:`QaUnavailable` (naming ``field``) unless the ``qa`` extra is installed.

    Cheap: it finds the packages without importing them (onnxruntime takes a second).
    """
    if any(importlib.util.find_spec(name) is None for name in ("rapidocr", "onnxruntime")):
        raise QaUnavailable(field)


_engine: Any = None
_engine_lock = threading.Lock()
_slots = threading.BoundedSemaphore(OCR_WORKERS)
_pool: ThreadPoolExecutor | None = None
_readers_started = itertools.count()  # the pool's first reader keeps the process's priority


def _load() -> Any:
    """The OCR engine, built on first use (thread-safe)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr import RapidOCR
            except ImportError:
                raise QaUnavailable() from None
            _engine = RapidOCR(
                params={
                    "Global.log_level": "error",
                    "Global.use_cls": False,  # slides are upright: no angle classifier
                    "Det.limit_type": "max",
                    "Det.limit_side_len": DET_SIDE,
                    # One line a batch: a batch pads every line to its widest (a heading
                    # padded to a sentence's width); on a CPU batching saves nothing.
                    "Rec.rec_batch_num": 1,
                    "EngineConfig.onnxruntime.intra_op_num_threads": OCR_THREADS,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
        return _engine


def _reading_order(lines: Sequence[TextLine]) -> tuple[TextLine, ...]:
    """Rows top to bottom (a line whose middle is within another's height shares its row)."""
    ordered = sorted(lines, key=lambda line: line.box[1])
    rows: list[list[TextLine]] = []
    for line in ordered:
        middle = (line.box[1] + line.box[3]) / 2
        if rows and rows[-1][0].box[1] <= middle <= rows[-1][0].box[3]:
            rows[-1].append(line)
        else:
            rows.append([line])
    return tuple(line for row in rows for line in sorted(row, key=lambda line: line.box[0]))


def read_text(image: bytes, *, max_side: int = MAX_SIDE) -> ReadText:
    """The text ``image`` (encoded: PNG, JPEG, WebP, ...) shows. Blocking: call it off the loop.

    Args:
        image: the encoded image.
        max_side: the long side it is read at, if larger (0: never reduced).

    Raises:
        QaUnavailable: the ``qa`` extra is not installed.
        PIL.UnidentifiedImageError: ``image`` does not decode.
    """
    from PIL import Image

    engine = _load()
    with Image.open(io.BytesIO(image)) as opened:
        width, height = opened.size
        if max_side and max(width, height) > max_side:
            scale = max_side / max(width, height)
            opened.draft("RGB", (round(width * scale), round(height * scale)))  # JPEG only
        picture = opened.convert("RGB")
    if max_side and max(width, height) > max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    seen_width, seen_height = picture.size
    with _slots:
        result = engine(picture)
    lines = []
    for points, text, score in zip(
        result.boxes if result.boxes is not None else (),
        result.txts or (),
        result.scores or (),
        strict=False,
    ):
        if not text.strip() or score < _MIN_SCORE:
            continue
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        box = (
            max(0.0, min(xs) / seen_width),
            max(0.0, min(ys) / seen_height),
            min(1.0, max(xs) / seen_width),
            min(1.0, max(ys) / seen_height),
        )
        lines.append(TextLine(text.strip(), box, round(float(score), 4)))
    return ReadText(_reading_order(lines), width, height)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _engine_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(
                OCR_WORKERS, thread_name_prefix="nanobanana-ocr", initializer=_behind
            )
        return _pool


def _behind() -> None:
    """Lower this reader thread's priority, unless it is the pool's first (Linux:
    ``setpriority`` on its thread id)."""
    if _LOWERED and next(_readers_started):
        thread = threading.get_native_id()
        # Raising one's own nice needs no privilege; a sandbox that refuses it leaves the
        # reader at the process's priority.
        with contextlib.suppress(OSError):
            os.setpriority(
                os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + READER_NICE
            )


async def read_text_async(image: bytes, *, max_side: int = MAX_SIDE) -> ReadText:
    """:func:`read_text` on the OCR's own pool of :data:`OCR_WORKERS` threads, all but the
    first lowered behind the process's other threads."""
    import asyncio  # here: the config imports this module, and the CLI starts without asyncio

    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), lambda: read_text(image, max_side=max_side))
