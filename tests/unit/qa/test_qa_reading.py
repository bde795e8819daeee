"""read_text with the real OCR, on slides drawn here with Pillow: several fonts, colours,
backgrounds and sizes. Each must match what was drawn, and a wrong string must be flagged.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from nanobanana_async.qa import (
    MISSING_QA,
    QaUnavailable,
    match_text,
    read_text,
    read_text_async,
    require_qa,
)

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")

_FONTS = Path("/usr/share/fonts/truetype/dejavu")


def font(name: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """``name`` from the machine's fonts, or Pillow's own scalable font when it is absent."""
    if name is not None and (_FONTS / name).exists():
        return ImageFont.truetype(str(_FONTS / name), size)
    return ImageFont.load_default(size)


def slide(
    heading: str,
    body: str,
    *,
    face: str | None,
    ink: tuple[int, int, int],
    page: tuple[int, int, int],
    scale: float = 1.0,
    title_px: int = 72,
    body_px: int = 36,
) -> bytes:
    """A 16:9 slide (1376x768 at ``scale`` 1) with a heading and a line of body."""
    size = (round(1376 * scale), round(768 * scale))
    image = Image.new("RGB", size, page)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], round(40 * scale)), fill=ink)  # a band, as slides have
    draw.text(
        (round(90 * scale), round(120 * scale)),
        heading,
        fill=ink,
        font=font(face, round(title_px * scale)),
    )
    draw.text(
        (round(90 * scale), round(330 * scale)),
        body,
        fill=ink,
        font=font(face, round(body_px * scale)),
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


CASES = [
    # heading, body, font, ink, page, scale, title px, body px
    ("Q3 Results", "Revenue up 24% year over year", None, (20, 28, 44), (248, 248, 245), 1, 72, 36),
    (
        "Roadmap 2027",
        "Ship the mobile app in spring",
        "DejaVuSans.ttf",
        (255, 255, 255),
        (28, 40, 92),
        1,
        80,
        40,
    ),
    (
        "Our Team",
        "Twelve engineers across three cities",
        "DejaVuSerif-Bold.ttf",
        (120, 20, 30),
        (250, 236, 210),
        1,
        64,
        32,
    ),
    (
        "Next Steps",
        "Hire two designers by March",
        "DejaVuSansMono.ttf",
        (230, 230, 120),
        (40, 40, 40),
        1,
        60,
        30,
    ),
    (
        "Customer Growth",
        "New accounts doubled since launch",
        "DejaVuSans-Oblique.ttf",
        (10, 90, 60),
        (210, 240, 225),
        2,
        72,
        36,
    ),
    (
        "Thank You",
        "Questions welcome at the end",
        "DejaVuSerif.ttf",
        (240, 240, 240),
        (150, 40, 110),
        2,
        96,
        44,
    ),
]


def swapped(text: str) -> str:
    """``text`` with two letters of its last word swapped (``Q3 Resutls``): a typical typo."""
    return text[:-3] + text[-2] + text[-3] + text[-1]


@pytest.mark.parametrize(
    ("heading", "body", "face", "ink", "page", "scale", "title_px", "body_px"), CASES
)
def test_drawn_slides_read_back_and_a_wrong_string_is_flagged(
    heading: str,
    body: str,
    face: str | None,
    ink: tuple[int, int, int],
    page: tuple[int, int, int],
    scale: int,
    title_px: int,
    body_px: int,
) -> None:
    data = slide(
        heading,
        body,
        face=face,
        ink=ink,
        page=page,
        scale=scale,
        title_px=title_px,
        body_px=body_px,
    )
    read = read_text(data)
    assert (read.width, read.height) == (1376 * scale, 768 * scale)
    assert match_text([heading, body], read).state == "ok", read.text
    wrong = match_text([swapped(heading)], read)
    assert wrong.state == "missing"
    assert wrong.missing[0].closest == heading
    heading_line = next(line for line in read.lines if line.text == heading)
    left, top, right, bottom = heading_line.box
    assert (0.04 < left < 0.1, 0.1 < top < 0.25, right < 0.8, bottom < 0.35) == (True,) * 4


def busy_slide() -> bytes:
    """A slide unlike the cases above: a gradient page with a picture beside the text, the
    heading light on a dark box (condensed bold), the body small italic serif over two
    lines, a 20 px footnote in the corner; a JPEG, as the model answers."""
    size = (1376, 768)
    top, bottom = Image.new("RGB", size, (18, 52, 96)), Image.new("RGB", size, (120, 170, 210))
    image = Image.composite(bottom, top, Image.linear_gradient("L").resize(size))
    draw = ImageDraw.Draw(image)
    for n in range(300):  # a "photo" of coloured blocks on the right, the same every run
        x, y, side = 860 + (n * 37) % 500, (n * 53) % 768, 8 + (n * 11) % 32
        draw.rectangle((x, y, x + side, y + side), fill=((n * 67) % 256, (n * 29) % 256, 140))
    draw.ellipse((900, 200, 1250, 550), fill=(240, 180, 40))
    draw.rounded_rectangle((60, 90, 800, 220), radius=20, fill=(10, 20, 40))
    white = (250, 250, 250)
    heading = font("DejaVuSansCondensed-Bold.ttf", 76)
    draw.text((90, 110), "Regional Sales", fill=white, font=heading)
    body = font("DejaVuSerif-Italic.ttf", 26)
    draw.text((90, 320), "Revenue grew in every region", fill=white, font=body)
    draw.text((90, 360), "for the fourth quarter running", fill=white, font=body)
    draw.text((90, 700), "Source: internal data, 2026", fill=(20, 30, 50), font=font(None, 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def test_a_busy_slide_reads_back_its_text_split_over_lines_included() -> None:
    read = read_text(busy_slide())
    sentence = "Revenue grew in every region for the fourth quarter running"
    expected = ["Regional Sales", sentence, "Source: internal data, 2026"]
    assert match_text(expected, read).state == "ok", read.text
    wrong = match_text([sentence.replace("fourth", "fuorth")], read)
    assert wrong.state == "missing", read.text


def test_a_blank_page_is_unreadable() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (1376, 768), (248, 248, 245)).save(buffer, "PNG")
    assert match_text(["Q3 Results"], read_text(buffer.getvalue())).state == "unreadable"


async def test_reads_run_on_their_own_pool_off_the_loop() -> None:
    data = slide("Agenda", "Three topics today", face=None, ink=(0, 0, 0), page=(255, 255, 255))
    first, second = await asyncio.gather(read_text_async(data), read_text_async(data))
    assert first == second
    assert match_text(["Agenda", "Three topics today"], first).state == "ok"


def test_without_the_extra_one_line_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    require_qa()  # installed here
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    with pytest.raises(QaUnavailable) as raised:
        require_qa("slides[0].check_text")
    assert str(raised.value) == f"slides[0].check_text: {MISSING_QA}"
    assert MISSING_QA == "the text check needs OCR: pip install 'nanobanana-async[qa]'"


def test_the_models_ship_with_the_wheel_nothing_is_downloaded(tmp_path: Path) -> None:
    # A fresh process with every socket refused builds the OCR and reads a slide.
    (tmp_path / "slide.png").write_bytes(
        slide("Offline", "No network needed", face=None, ink=(0, 0, 0), page=(255, 255, 255))
    )
    script = (
        "import socket, sys\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network is off in this test')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from pathlib import Path\n"
        "from nanobanana_async.qa import match_text, read_text\n"
        "read = read_text(Path(sys.argv[1]).read_bytes())\n"
        "print(match_text(['Offline', 'No network needed'], read).state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "slide.png")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr[-2000:]
