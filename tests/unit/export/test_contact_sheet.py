"""The contact sheet, checked on the pixels: each slide is a distinct solid colour, so
where each tile landed, how big, and in which order, can be read back from the PNG."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
from PIL import Image, ImageChops

from nanobanana_async.config.schema import ASPECT_RATIOS, MAX_SLIDES
from nanobanana_async.exits import RESULTS_COPY_NAME
from nanobanana_async.export import contact_sheet as contact_sheet_module
from nanobanana_async.export import read_deck, write_contact_sheet
from nanobanana_async.export.contact_sheet import (
    ABSENT,
    MAX_HEIGHT,
    MAX_SIDE,
    MIN_TILE,
    TEXT_FRAME,
    sheet_layout,
)
from nanobanana_async.export.deck import Deck, ExportError, Slide, open_image
from nanobanana_async.files.images import image_mode

Box = tuple[int, int, int, int]
RED = (170, 0, 0)  # the label of a slide with no image
AMBER_TEXT = (175, 95, 0)  # the label of a slide whose text missed, and the legend
QUIET = (110, 110, 110)  # the label of a slide whose text was not read
WHITE = (255, 255, 255)


def colour(index: int) -> tuple[int, int, int]:
    """A colour of its own for each slide, none of them the sheet's white, grey or text."""
    return (10 + 4 * index, 200 - 3 * index, 100 + (index % 7) * 20)


def make_deck(
    folder: Path,
    count: int,
    *,
    size: tuple[int, int] = (64, 36),
    failed: tuple[int, ...] = (),
    missing: tuple[int, ...] = (),
    text: dict[int, str] | None = None,
) -> Deck:
    """Slides 1..count, each a solid-colour PNG, with a results copy as a run leaves it;
    ``text``: slide -> the state of its ``text_check``."""
    outputs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        path = folder / f"slide-{number:02d}.png"
        if number in failed:
            errors.append({"slide": number, "error": "blocked", "timestamp": "t"})
            continue
        if number not in missing:
            Image.new("RGB", size, colour(number)).save(path)
        outputs.append({"slide": number, "path": str(path), "size_kb": 1})
        if text and number in text:
            outputs[-1]["text_check"] = {"state": text[number]}
    data = {"outputs": outputs, "errors": errors, "output_dir": str(folder)}
    (folder / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))
    return read_deck(folder)


def where(sheet: Image.Image, rgb: tuple[int, int, int]) -> tuple[Box | None, int]:
    """The bounding box of the pixels of exactly ``rgb``, and how many there are."""
    bands = [
        band.point(lambda v, c=c: 255 if v == c else 0)
        for band, c in zip(sheet.split(), rgb, strict=True)
    ]
    mask = ImageChops.multiply(ImageChops.multiply(bands[0], bands[1]), bands[2])
    return mask.getbbox(), mask.histogram()[255]


def has_dark(region: Image.Image) -> bool:
    """Whether text is drawn in ``region``: a pixel darker than any slide colour or the grey."""
    darkest, _ = region.convert("L").getextrema()
    assert isinstance(darkest, int)
    return darkest < 100


def has_red(region: Image.Image) -> bool:
    return where(region, RED)[1] > 0


@pytest.mark.parametrize(
    ("count", "columns", "narrowest"), [(1, 1, 1500), (7, 2, 550), (50, 6, 200)]
)
def test_the_tiles_are_in_order_in_a_grid_that_fits(
    tmp_path: Path, count: int, columns: int, narrowest: int
) -> None:
    deck = make_deck(tmp_path, count)
    path = write_contact_sheet(deck)
    assert path == tmp_path / "contact-sheet.png"
    with Image.open(path) as drawn:
        assert drawn.format == "PNG"
        assert drawn.width <= MAX_SIDE
        assert drawn.height <= MAX_SIDE
        sheet = drawn.convert("RGB")
    boxes: list[Box] = []
    for number in range(1, count + 1):
        box, pixels = where(sheet, colour(number))
        assert box is not None, f"slide {number} is not on the sheet"
        width, height = box[2] - box[0], box[3] - box[1]
        assert pixels == width * height  # one solid rectangle: nothing drawn over it
        boxes.append(box)
    sizes = {(b[2] - b[0], b[3] - b[1]) for b in boxes}
    assert len(sizes) == 1  # every tile the same size
    ((width, height),) = sizes
    assert width >= narrowest  # the sheet is used, not a column of stamps
    assert abs(height - width * 36 / 64) <= 1  # the slides' shape
    lefts = sorted({b[0] for b in boxes})
    tops = sorted({b[1] for b in boxes})
    assert len(lefts) == columns
    assert len(tops) == math.ceil(count / columns)
    # Reading order: left to right, then the next row down.
    assert [(tops.index(b[1]), lefts.index(b[0])) for b in boxes] == [
        divmod(i, columns) for i in range(count)
    ]
    layout = sheet_layout(count, 36 / 64)
    for index, box in enumerate(boxes):
        x, y = layout.origin(index)
        assert box == (x, y, x + width, y + height)
        label = sheet.crop((x, y + height, x + width, y + height + layout.label_height))
        assert has_dark(label)  # its number, in black
        assert not has_red(label)


def test_failed_and_missing_slides_are_grey_tiles_that_say_so(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 5, failed=(3,), missing=(5,))
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(5, 36 / 64)
    for number in (1, 2, 4):
        box, _ = where(sheet, colour(number))
        assert box is not None
        assert box[:2] == layout.origin(number - 1)  # slide 4 stays in the 4th place
    for number in (3, 5):
        assert where(sheet, colour(number))[0] is None
        x, y = layout.origin(number - 1)
        tile = sheet.crop((x, y, x + layout.tile_width, y + layout.tile_height))
        assert tile.getpixel((3, 3)) == ABSENT
        assert tile.getpixel((layout.tile_width - 4, layout.tile_height - 4)) == ABSENT
        assert has_dark(tile)  # "failed" / "missing" written on it
        label = sheet.crop(
            (x, y + layout.tile_height, x + layout.tile_width, y + layout.tile_height + 40)
        )
        assert has_red(label)


def test_a_slide_whose_text_missed_is_framed_in_amber_and_a_legend_says_why(
    tmp_path: Path,
) -> None:
    states = {2: "missing", 3: "ok", 4: "unreadable"}
    deck = make_deck(tmp_path, 5, failed=(5,), text=states)
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(5, 36 / 64, legend=True)
    assert sheet.size == (layout.width, layout.height)
    half = 4  # the frame's width: half the gap between tiles
    for number in (1, 2, 3, 4):
        x, y = layout.origin(number - 1)
        box, pixels = where(sheet, colour(number))
        # The image is kept whole: the mark is around it, never over it.
        assert box == (x, y, x + layout.tile_width, y + layout.tile_height)
        assert pixels == layout.tile_width * layout.tile_height
        bottom = y + layout.tile_height + layout.label_height
        around = [
            sheet.getpixel((x - half + 1, y + layout.tile_height // 2)),  # left
            sheet.getpixel((x + layout.tile_width + 1, y + 5)),  # right
            sheet.getpixel((x + layout.tile_width // 2, y - half + 1)),  # above
            sheet.getpixel((x + layout.tile_width // 2, bottom + 1)),  # under the label
        ]
        framed = number == 2
        assert around == [TEXT_FRAME if framed else WHITE] * 4, number
        label = sheet.crop((x, y + layout.tile_height, x + layout.tile_width, bottom))
        assert (where(label, AMBER_TEXT)[1] > 0) is framed, number
        assert (where(label, QUIET)[1] > 0) is (number == 4), number  # "4: text unread"
        assert not has_red(label)
    # The failed slide is marked as failed, not for its text.
    x, y = layout.origin(4)
    assert sheet.getpixel((x - half + 1, y + layout.tile_height // 2)) == WHITE
    # The legend: a line of amber under the last row.
    last_row = layout.origin(4)[1] + layout.tile_height + layout.label_height
    legend = sheet.crop((0, last_row + 2, layout.width, layout.height))
    assert where(legend, AMBER_TEXT)[1] > 0


def test_a_sheet_with_no_text_mark_has_no_legend(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 3, text={1: "ok", 2: "ok"})
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(3, 36 / 64)
    assert sheet.size == (layout.width, layout.height)
    assert where(sheet, TEXT_FRAME)[1] == 0
    assert where(sheet, AMBER_TEXT)[1] == 0


def test_an_image_that_does_not_decode_is_marked_unreadable(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 3, size=(640, 360))
    broken = tmp_path / "slide-02.png"
    broken.write_bytes(broken.read_bytes()[:200])  # cut in its pixel data
    with Image.open(write_contact_sheet(deck)) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(3, 36 / 64)
    assert where(sheet, colour(1))[0] is not None
    assert where(sheet, colour(3))[0] is not None
    x, y = layout.origin(1)
    assert sheet.getpixel((x + 3, y + 3)) == ABSENT


def test_a_big_jpeg_is_decoded_already_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.new("RGB", (4000, 2250), (30, 90, 200)).save(tmp_path / "slide-01.jpg", quality=90)
    Image.new("RGB", (64, 36), (200, 90, 30)).save(tmp_path / "slide-02.png")
    opened: list[Image.Image] = []

    def spy(data: bytes, name: str) -> Image.Image:
        image = open_image(data, name)
        opened.append(image)
        return image

    monkeypatch.setattr(contact_sheet_module, "open_image", spy)
    path = write_contact_sheet(read_deck(tmp_path), tmp_path / "sheet.png")
    # The JPEG (opened for its shape, then for its tile) was decoded at 1/2 scale or less.
    jpeg_tile = opened[1]
    assert jpeg_tile.size[0] <= 2000
    with Image.open(path) as opened_sheet:
        sheet = opened_sheet.convert("RGB")
    layout = sheet_layout(2, 2250 / 4000)
    x, y = layout.origin(0)
    centre = sheet.getpixel((x + layout.tile_width // 2, y + layout.tile_height // 2))
    assert isinstance(centre, tuple)
    assert all(abs(a - b) <= 4 for a, b in zip(centre, (30, 90, 200), strict=True))


def test_images_of_another_shape_are_fitted_on_a_cell_and_alpha_lands_on_white(
    tmp_path: Path,
) -> None:
    Image.new("RGB", (64, 36), (0, 120, 0)).save(tmp_path / "slide-01.png")
    Image.new("RGBA", (36, 64), (255, 0, 0, 0)).save(tmp_path / "slide-02.webp", lossless=True)
    with Image.open(write_contact_sheet(read_deck(tmp_path))) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(2, 36 / 64)  # the deck's shape is the first image's
    x, y = layout.origin(1)
    middle = (x + layout.tile_width // 2, y + layout.tile_height // 2)
    assert sheet.getpixel(middle) == (255, 255, 255)  # transparent: white, not black
    assert sheet.getpixel((x + 2, y + 2)) == contact_sheet_module.CELL  # beside the portrait


def test_the_sheet_is_written_atomically_as_an_image_file(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 2)
    dest = tmp_path / "out.png"
    dest.symlink_to(tmp_path / "target.png")
    assert write_contact_sheet(deck, dest) == dest
    assert not dest.is_symlink()  # replaced, not followed
    assert not (tmp_path / "target.png").exists()
    assert stat.S_IMODE(os.stat(dest).st_mode) == image_mode()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ExportError) as caught:
        write_contact_sheet(deck, tmp_path / "no" / "such" / "sheet.png")
    assert str(caught.value).startswith(f"cannot write {tmp_path / 'no' / 'such' / 'sheet.png'}: ")
    assert "\n" not in str(caught.value)


def test_a_deck_of_no_slide_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"the deck has no slide$"):
        write_contact_sheet(Deck(tmp_path, ()))
    only_missing = Deck(tmp_path, (Slide(1, None, "missing", "missing: gone"),))
    with Image.open(write_contact_sheet(only_missing)) as sheet:
        assert max(sheet.size) <= MAX_SIDE


@pytest.mark.parametrize("aspect", [9 / 16, 1.0, 16 / 9, 3 / 4])
def test_every_layout_fits_and_wastes_no_row(aspect: float) -> None:
    for count in [*range(1, 120), 250, 500, 1000]:
        layout = sheet_layout(count, aspect)
        assert layout.width <= MAX_SIDE
        assert layout.height <= MAX_SIDE
        assert layout.columns * layout.rows >= count
        assert (layout.rows - 1) * layout.columns < count  # no empty last row
        assert layout.tile_width >= MIN_TILE
        assert abs(layout.tile_height - layout.tile_width * aspect) <= 0.5
        last = layout.origin(count - 1)
        assert last[0] + layout.tile_width <= layout.width
        assert last[1] + layout.tile_height + layout.label_height <= layout.height


def test_a_deck_too_big_for_the_bounds_grows_taller_not_unreadable() -> None:
    layout = sheet_layout(5000, 9 / 16)
    assert layout.tile_width == MIN_TILE
    assert layout.width <= MAX_SIDE
    assert layout.columns * layout.rows >= 5000
    with pytest.raises(ValueError, match="needs tiles"):
        sheet_layout(0, 1.0)


def _ratio(text: str) -> float:
    width, height = text.split(":")
    return int(height) / int(width)


@pytest.mark.parametrize("aspect", [*map(_ratio, ASPECT_RATIOS), 30_000.0, 1 / 30_000])
def test_the_sheet_is_bounded_for_any_deck_and_any_shape(aspect: float) -> None:
    # Any shape: the first image's header says it, and anything can be in a deck's folder.
    assert MAX_HEIGHT <= 15_000  # 1600 x 15,000: 24 MP, what view_deck may decode
    for count in (1, 2, 7, 1000, 2000, MAX_SLIDES):
        layout = sheet_layout(count, aspect)
        assert layout.width <= MAX_SIDE
        assert layout.height <= (MAX_SIDE if count <= 1000 else MAX_HEIGHT)
        assert layout.columns * layout.rows >= count


def test_an_image_of_an_absurd_shape_first_does_not_make_a_huge_sheet(tmp_path: Path) -> None:
    make_deck(tmp_path, 3)
    Image.new("RGB", (1, 3000), colour(1)).save(tmp_path / "slide-01.png")  # 3 KB of PNG
    with Image.open(write_contact_sheet(read_deck(tmp_path))) as sheet:
        assert max(sheet.size) <= MAX_SIDE  # it was 1576 x 72,017 (340 MB drawn)


def test_a_deck_of_many_slides_is_drawn_from_the_small_copies_the_run_kept(
    tmp_path: Path,
) -> None:
    # A fresh small copy stands in for its image (here deliberately another colour, to
    # see which was drawn); a stale one (older than the image) does not.
    from nanobanana_async.files.images import thumb_path

    deck_dir = tmp_path / "deck"
    deck_dir.mkdir()
    for n in range(1, 13):
        Image.new("RGB", (1376, 768), (200, 0, 0)).save(deck_dir / f"slide-{n:02d}.png")
    thumbs = thumb_path(deck_dir / "slide-01.png").parent
    thumbs.mkdir()
    Image.new("RGB", (480, 268), (0, 0, 200)).save(thumb_path(deck_dir / "slide-01.png"), "JPEG")
    Image.new("RGB", (480, 268), (0, 200, 0)).save(thumb_path(deck_dir / "slide-02.png"), "JPEG")
    old = (deck_dir / "slide-02.png").stat().st_mtime_ns
    os.utime(thumb_path(deck_dir / "slide-02.png"), ns=(old - 10**9, old - 10**9))

    sheet_path = write_contact_sheet(read_deck(deck_dir))

    layout = sheet_layout(12, 768 / 1376)
    with Image.open(sheet_path) as sheet:
        rgb = sheet.convert("RGB")
        first = cast(tuple[int, int, int], rgb.getpixel(_centre(layout, 0)))
        second = cast(tuple[int, int, int], rgb.getpixel(_centre(layout, 1)))
    assert (first[0] < 60, first[2] > 150) == (True, True)  # the fresh small copy (blue)
    assert (second[0] > 150, second[1] < 60) == (True, True)  # the image (red): copy stale


def _centre(layout: Any, index: int) -> tuple[int, int]:
    x, y = layout.origin(index)
    return x + layout.tile_width // 2, y + layout.tile_height // 2
