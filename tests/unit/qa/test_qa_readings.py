"""Readings kept: the same image is read by the OCR once, from a private folder of the
user's; a reading file that is not one of ours, or not a reading, is a miss and replaced."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from nanobanana_async.qa.readings import Readings

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")


def label(text: str) -> bytes:
    """A small picture of ``text``: a quick read."""
    image = Image.new("RGB", (360, 90), "white")
    ImageDraw.Draw(image).text((16, 20), text, fill="black", font=ImageFont.load_default(40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_is_read_once_and_the_reading_kept_privately(tmp_path: Path) -> None:
    image = label("Q3 Results")
    first = Readings(tmp_path)
    read = first.read(image)
    assert " ".join(line.text for line in read.lines) == "Q3 Results"
    (kept,) = tmp_path.iterdir()
    assert kept.stat().st_mode & 0o777 == 0o600
    again = Readings(tmp_path)  # another process, as it were
    assert again.read(image) == read
    assert (first.reads, again.reads) == (1, 0)
    other = Readings(tmp_path, max_side=200)  # read otherwise: another reading
    other.read(image)
    assert other.reads == 1


def test_a_reading_file_that_is_not_one_of_ours_is_a_miss_and_replaced(tmp_path: Path) -> None:
    image = label("Revenue")
    Readings(tmp_path).read(image)
    (kept,) = tmp_path.iterdir()
    fake = tmp_path.parent / "fake.json"
    fake.write_text('{"width": 1, "height": 1, "lines": [["Profit", [0, 0, 1, 1], 1.0]]}')
    for planted in ("not json", "wrong shape", "symlink"):
        kept.unlink()
        if planted == "symlink":
            kept.symlink_to(fake)
        else:
            kept.write_text("{" if planted == "not json" else '{"lines": "Profit"}')
        readings = Readings(tmp_path)
        assert [line.text for line in readings.read(image).lines] == ["Revenue"], planted
        assert readings.reads == 1, planted
        assert not kept.is_symlink()


def test_no_folder_reads_every_time_and_the_oldest_go_past_the_cap(tmp_path: Path) -> None:
    image = label("Team")
    none = Readings(None)
    none.read(image)
    none.read(image)
    assert none.reads == 2
    for n in range(6):  # readings of other images, older than the one read now
        old = tmp_path / f"{n:040x}.json"
        old.write_text("{}")
        os.utime(old, (1000 + n, 1000 + n))
    Readings(tmp_path, max_kept=4).read(image)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3  # three quarters of the cap: the newest two old ones and this
    assert f"{4:040x}.json" in names
    assert f"{5:040x}.json" in names


def test_the_default_folder_is_private_or_none(tmp_path: Path) -> None:
    env = {"TMPDIR": str(tmp_path)}
    folder = Readings.default(env).folder
    assert folder == tmp_path / f"nano-banana-{os.getuid()}" / "readings"
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)  # others could plant what a slide says: not used
    assert Readings.default(env).folder is None
