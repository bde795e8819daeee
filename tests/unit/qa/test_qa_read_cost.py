"""What the cheaper read keeps: text is found on a small copy of the slide (DET_SIDE) and
read from the MAX_SIDE image, a 2K JPEG decoded at half scale. Small text must still be
found and read, at 1K and at 2K: 16 px on a 768 px slide (2 % of its height; a 10 pt
footnote on a 7.5 in slide is 1.9 %). Found down to 12-13 px here (9 px when detection
ran at 1376 px), so these leave a margin. And the readers: one per core, those after the
first behind the process's other threads, so a burst of slides is read at once without
the extra readers taking a core from conversion.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from nanobanana_async.qa import match_text, read_text, read_text_async
from nanobanana_async.qa.reading import OCR_WORKERS, READER_NICE

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")

_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
_TEXT = ["Pricing Strategy", "Source: internal survey of 1,240 customers", "Margin 31%"]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(_FONT), size) if _FONT.exists() else ImageFont.load_default(size)


def small_print(px: int, scale: int) -> bytes:
    """A JPEG slide (1376x768 times ``scale``): a heading, and two lines ``px`` high at 1K
    (a footnote at the bottom, a figure at the right), as the model answers."""
    image = Image.new("RGB", (1376 * scale, 768 * scale), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.text((90 * scale, 120 * scale), _TEXT[0], fill=(20, 20, 40), font=_font(64 * scale))
    draw.text((90 * scale, 650 * scale), _TEXT[1], fill=(90, 90, 90), font=_font(px * scale))
    draw.text((800 * scale, 400 * scale), _TEXT[2], fill=(200, 60, 30), font=_font(px * scale))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


@pytest.mark.parametrize(("px", "scale"), [(16, 1), (20, 1), (16, 2), (20, 2)])
def test_small_print_is_found_and_read_at_1k_and_2k(px: int, scale: int) -> None:
    read = read_text(small_print(px, scale))
    assert (read.width, read.height) == (1376 * scale, 768 * scale)
    assert match_text(_TEXT, read).state == "ok", read.text
    footnote = next(line for line in read.lines if "survey" in line.text)
    left, top, _right, bottom = footnote.box  # fractions of the image as given, at any scale
    assert (0.05 < left < 0.08, 0.83 < top < 0.86, 0.86 < bottom < 0.9) == (True,) * 3


def _nice(thread: threading.Thread) -> int:
    """A thread's nice value, from /proc (field 19 of its stat, after the name's ')')."""
    assert thread.native_id is not None
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's nice is Linux's")
async def test_readers_one_per_core_the_extra_ones_behind_the_process() -> None:
    assert max(1, min(4, len(os.sched_getaffinity(0)))) == OCR_WORKERS
    data = small_print(20, 1)
    reads = await asyncio.gather(*(read_text_async(data) for _ in range(OCR_WORKERS)))
    assert {match_text(_TEXT, read).state for read in reads} == {"ok"}
    readers = [t for t in threading.enumerate() if t.name.startswith("nanobanana-ocr")]
    assert len(readers) == OCR_WORKERS
    mine = _nice(threading.current_thread())
    nices = sorted(_nice(reader) for reader in readers)
    assert nices == [mine] + [min(19, mine + READER_NICE)] * (OCR_WORKERS - 1)
