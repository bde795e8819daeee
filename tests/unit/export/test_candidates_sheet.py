"""The candidates sheet of a slide of variants, checked on the pixels: each candidate is a
solid colour of its own, so which tile is which, and which one is framed, reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from nanobanana_async.exits import RESULTS_COPY_NAME
from nanobanana_async.export import (
    read_deck,
    write_candidate_sheets,
    write_contact_sheet,
)
from nanobanana_async.export.contact_sheet import FRAME, GAP, is_contact_sheet, sheet_layout

COLOURS = {1: (200, 30, 30), 2: (30, 200, 30), 3: (30, 30, 200)}
SLIDE = (120, 120, 40)  # slide 1's image


def make_deck(folder: Path, *, picked: int = 2) -> None:
    """Slide 1 plain; slide 3 of three candidates, candidate ``picked`` in place."""
    Image.new("RGB", (64, 36), SLIDE).save(folder / "slide-01.png")
    files = []
    for k, rgb in COLOURS.items():
        Image.new("RGB", (64, 36), rgb).save(folder / f"slide-03.v{k}.png")
        files.append(str(folder / f"slide-03.v{k}.png"))
    Image.new("RGB", (64, 36), COLOURS[picked]).save(folder / "slide-03.png")
    outputs: list[dict[str, Any]] = [
        {"slide": 1, "path": str(folder / "slide-01.png")},
        {"slide": 3, "path": str(folder / "slide-03.png"), "candidates": files, "picked": picked},
    ]
    data = {"outputs": outputs, "errors": [], "output_dir": str(folder)}
    (folder / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))


def tile_colour(
    sheet: Image.Image, index: int, count: int, *, one_row: bool = True
) -> tuple[int, int, int]:
    layout = sheet_layout(count, 36 / 64, one_row=one_row)
    x, y = layout.origin(index)
    pixel = sheet.getpixel((x + layout.tile_width // 2, y + layout.tile_height // 2))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def framed(sheet: Image.Image, index: int, count: int) -> bool:
    layout = sheet_layout(count, 36 / 64, one_row=True)
    x, y = layout.origin(index)
    return sheet.getpixel((x - GAP // 4 - 1, y + layout.tile_height // 2)) == FRAME


def test_the_candidates_are_side_by_side_in_order_the_picked_one_framed(tmp_path: Path) -> None:
    make_deck(tmp_path, picked=2)
    written = write_candidate_sheets(read_deck(tmp_path))
    assert written == [tmp_path / "candidates-03.png"]
    data = written[0].read_bytes()
    assert is_contact_sheet(data)  # marked as ours, like the deck's sheet
    with Image.open(written[0]) as opened:
        sheet = opened.convert("RGB")
    assert [tile_colour(sheet, i, 3) for i in range(3)] == list(COLOURS.values())
    assert [framed(sheet, i, 3) for i in range(3)] == [False, True, False]
    layout = sheet_layout(3, 36 / 64, one_row=True)
    assert (layout.rows, sheet.size) == (1, (layout.width, layout.height))  # side by side
    assert sheet.width > sheet.height

    make_deck(tmp_path, picked=3)  # a new pick moves the frame
    write_candidate_sheets(read_deck(tmp_path))
    with Image.open(written[0]) as opened:
        sheet = opened.convert("RGB")
    assert [framed(sheet, i, 3) for i in range(3)] == [False, False, True]


def test_the_deck_sheet_shows_the_current_image_only(tmp_path: Path) -> None:
    make_deck(tmp_path, picked=2)
    deck = read_deck(tmp_path)
    assert [slide.number for slide in deck.slides] == [1, 3]
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    assert [tile_colour(sheet, i, 2, one_row=False) for i in range(2)] == [SLIDE, COLOURS[2]]


def test_a_file_of_that_name_not_ours_is_kept(tmp_path: Path) -> None:
    make_deck(tmp_path)
    mine = tmp_path / "candidates-03.png"
    Image.new("RGB", (10, 10), (1, 2, 3)).save(mine)
    before = mine.read_bytes()
    write_candidate_sheets(read_deck(tmp_path))
    assert is_contact_sheet(mine.read_bytes())
    kept = [p.read_bytes() for p in (tmp_path / ".versions").iterdir()]
    assert kept == [before]  # the user's file moved aside, never lost


def test_a_slide_whose_edit_failed_shows_its_last_good_image(tmp_path: Path) -> None:
    Image.new("RGB", (64, 36), SLIDE).save(tmp_path / "slide-01.png")
    Image.new("RGB", (64, 36), COLOURS[1]).save(tmp_path / "slide-02.png")
    failure = {
        "slide": 2,
        "error": "edit step 2 of 2 failed: blocked",
        "timestamp": "t",
        "kind": "EditFailed",
        "path": str(tmp_path / "slide-02.png"),
        "edits_applied": 1,
        "edits": 2,
    }
    outputs = [{"slide": 1, "path": str(tmp_path / "slide-01.png")}]
    data = {"outputs": outputs, "errors": [failure], "output_dir": str(tmp_path)}
    (tmp_path / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))
    deck = read_deck(tmp_path)
    assert deck.slides[1].path == tmp_path / "slide-02.png"
    assert deck.slides[1].state == "failed"
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    assert tile_colour(sheet, 1, 2, one_row=False) == COLOURS[1]  # not a grey tile
