"""The PPTX, read back with python-pptx: each slide is a distinct solid colour, so which
image landed on which slide, how big and where, can be checked on the file itself."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from pptx import Presentation
from pptx.shapes.picture import Picture
from pptx.slide import Slide as PptxSlide

from nanobanana_async.exits import RESULTS_COPY_NAME
from nanobanana_async.export.deck import Deck, ExportError, read_deck
from nanobanana_async.export.pptx import (
    DEFAULT_ASPECT,
    MISSING_PPTX,
    PPTX_NAME,
    deck_aspect,
    slide_aspect,
    slide_size,
    write_pptx,
)
from nanobanana_async.files.images import image_mode

EMU_PER_INCH = 914_400


def colour(number: int) -> tuple[int, int, int]:
    """A colour of its own for each slide, far from the others and from black."""
    return (40 + 50 * (number % 4), 220 - 40 * (number % 5), 60 + 30 * (number % 6))


def save(path: Path, size: tuple[int, int], fill: tuple[int, ...], **options: Any) -> Path:
    mode = "RGBA" if len(fill) == 4 else "RGB"
    Image.new(mode, size, fill).save(path, **options)
    return path


def make_deck(
    folder: Path,
    count: int,
    *,
    size: tuple[int, int] = (64, 36),
    ext: str = "png",
    failed: tuple[int, ...] = (),
    prompts: dict[int, str] | None = None,
) -> Deck:
    """Slides 1..count, each a solid-colour image, with a results copy as a run leaves it."""
    outputs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number in range(1, count + 1):
        path = folder / f"slide-{number:02d}.{ext}"
        if number in failed:
            errors.append({"slide": number, "error": "blocked", "timestamp": "t"})
            continue
        save(path, size, colour(number))
        outputs.append({"slide": number, "path": str(path), "size_kb": 1})
    data = {"outputs": outputs, "errors": errors, "output_dir": str(folder)}
    (folder / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))
    return read_deck(folder, prompts)


def picture(slide: PptxSlide) -> Picture:
    """The slide's one picture (its other shape is the title, above the slide)."""
    (shape,) = [shape for shape in slide.shapes if isinstance(shape, Picture)]
    return shape


def pixel(shape: Picture) -> tuple[int, ...]:
    with Image.open(BytesIO(shape.image.blob)) as image:
        value = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert isinstance(value, tuple)
    return value


def close(a: tuple[int, ...], b: tuple[int, ...], slack: int = 4) -> bool:
    return all(abs(x - y) <= slack for x, y in zip(a, b, strict=True))


def test_one_slide_per_image_in_slide_order_and_the_skipped_said(tmp_path: Path) -> None:
    make_deck(tmp_path, 5, failed=(2,))
    (tmp_path / "slide-04.png").unlink()  # recorded as saved, gone from the disk

    report = write_pptx(read_deck(tmp_path))

    assert report.path == tmp_path / PPTX_NAME
    assert report.slides == (1, 3, 5)
    assert report.skipped == (
        (2, "failed: blocked"),
        (4, "missing: slide-04.png is not in the folder"),
    )
    slides = list(Presentation(str(report.path)).slides)
    assert [pixel(picture(slide)) for slide in slides] == [colour(1), colour(3), colour(5)]


def test_the_slides_have_the_decks_shape_16_9_by_default(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 1)
    default = Presentation(str(write_pptx(deck).path))
    assert (default.slide_width, default.slide_height) == (12_192_000, 6_858_000)  # 13.333x7.5 in

    portrait = Presentation(str(write_pptx(deck, tmp_path / "p.pptx", aspect=(9, 16)).path))
    assert (portrait.slide_width, portrait.slide_height) == (6_858_000, 12_192_000)


@pytest.mark.parametrize(
    ("aspect", "inches"),
    [
        ((16, 9), (13.333, 7.5)),
        ((4, 3), (10, 7.5)),
        ((1, 1), (7.5, 7.5)),
        ((21, 9), (17.5, 7.5)),
        ((2, 3), (7.5, 11.25)),
        ((8, 1), (56, 7)),  # the long side at PowerPoint's largest
        ((1, 8), (7, 56)),
        ((1376, 768), (13.4375, 7.5)),
        ((500, 1), (56, 1)),  # the short side at the smallest: no longer the shape
    ],
)
def test_slide_size(aspect: tuple[int, int], inches: tuple[float, float]) -> None:
    width, height = slide_size(aspect)
    assert width / EMU_PER_INCH == pytest.approx(inches[0], abs=1e-3)
    assert height / EMU_PER_INCH == pytest.approx(inches[1], abs=1e-3)


def test_slide_size_refuses_a_shape_without_sides() -> None:
    with pytest.raises(ValueError, match="positive"):
        slide_size((0, 9))


@pytest.mark.parametrize(
    "size",
    [(64, 36), (1376, 768), (1344, 768), (40, 40), (30, 90), (200, 20), (37, 23)],
    ids=str,
)
@pytest.mark.parametrize("aspect", [(16, 9), (9, 16), (1, 1)], ids=str)
def test_an_image_is_as_large_as_fits_centred_and_never_stretched(
    tmp_path: Path, size: tuple[int, int], aspect: tuple[int, int]
) -> None:
    deck = make_deck(tmp_path, 1, size=size)
    presentation = Presentation(str(write_pptx(deck, aspect=aspect).path))
    slide_w, slide_h = presentation.slide_width, presentation.slide_height
    assert slide_w is not None
    assert slide_h is not None
    shape = picture(presentation.slides[0])
    left, top, width, height = shape.left, shape.top, shape.width, shape.height
    image_w, image_h = size

    # its shape: width/height equals the image's, to the EMU (1/914400 in) rounded
    assert abs(width * image_h - height * image_w) <= max(image_w, image_h)
    # as large as fits: one side touches the slide's edges, the other stays inside
    assert (width == slide_w and height <= slide_h) or (height == slide_h and width <= slide_w)
    # centred
    assert abs(2 * left + width - slide_w) <= 1
    assert abs(2 * top + height - slide_h) <= 1
    assert shape.crop_left == shape.crop_right == shape.crop_top == shape.crop_bottom == 0


def test_the_bars_are_black(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 1, size=(40, 40))
    slide = Presentation(str(write_pptx(deck).path)).slides[0]
    assert str(slide.background.fill.fore_color.rgb) == "000000"


def test_the_prompt_is_in_the_speaker_notes(tmp_path: Path) -> None:
    prompts = {
        1: "A lighthouse at dusk,\nwarm light",
        2: "Tabs\tstay; CRLF\r\nends a line; \x1b and \ufffe cannot be kept",
    }
    deck = make_deck(tmp_path, 3, prompts=prompts)
    slides = list(Presentation(str(write_pptx(deck).path)).slides)

    assert slides[0].notes_slide.notes_text_frame.text == prompts[1]
    assert slides[1].notes_slide.notes_text_frame.text == (
        "Tabs\tstay; CRLF\nends a line; \ufffd and \ufffd cannot be kept"
    )
    assert not slides[2].has_notes_slide  # no prompt given for slide 3: no notes


def test_each_slide_has_a_title_above_it_and_its_prompt_as_alt_text(tmp_path: Path) -> None:
    long = "A quarterly revenue chart with three bars rising from left to right over a grid"
    prompts = {1: "Team  offsite\nagenda", 2: long, 3: "Team offsite agenda"}
    deck = make_deck(tmp_path, 4, prompts=prompts)
    presentation = Presentation(str(write_pptx(deck).path))

    titles: list[str] = []
    alts: list[str] = []
    names: list[str] = []
    for slide in presentation.slides:
        title = slide.shapes.title
        assert title is not None  # the title placeholder: what screen readers announce
        assert title.top + title.height <= 0  # just above the slide: read, never seen
        assert slide.shapes[0].shape_id == title.shape_id  # read before the picture
        titles.append(title.text_frame.text)
        shown = picture(slide)
        alts.append(*shown.element.xpath("p:nvPicPr/p:cNvPr/@descr"))
        names.append(shown.name)
    assert titles == [
        "Team offsite agenda",
        "A quarterly revenue chart with three bars rising from left\u2026",
        "Team offsite agenda (slide 3)",  # unique, as a title is navigated by
        "Slide 4",  # no prompt known
    ]
    assert alts == [prompts[1], long, prompts[3], "Slide 4"]
    assert names == [f"Slide {n} image" for n in (1, 2, 3, 4)]


def test_png_and_jpeg_are_embedded_byte_for_byte(tmp_path: Path) -> None:
    png = save(tmp_path / "slide-01.png", (64, 36), colour(1))
    jpeg = save(tmp_path / "slide-02.jpg", (64, 36), colour(2), quality=90)
    slides = list(Presentation(str(write_pptx(read_deck(tmp_path)).path)).slides)
    assert picture(slides[0]).image.blob == png.read_bytes()
    assert picture(slides[1]).image.blob == jpeg.read_bytes()


def test_webp_becomes_png_when_lossless_or_transparent_else_jpeg(tmp_path: Path) -> None:
    save(tmp_path / "slide-01.webp", (64, 36), colour(1), quality=90)
    save(tmp_path / "slide-02.webp", (64, 36), colour(2), lossless=True)
    save(tmp_path / "slide-03.webp", (64, 36), (*colour(3), 128), quality=90)
    slides = [picture(s) for s in Presentation(str(write_pptx(read_deck(tmp_path)).path)).slides]

    assert [s.image.content_type for s in slides] == ["image/jpeg", "image/png", "image/png"]
    assert close(pixel(slides[0]), colour(1))
    assert pixel(slides[1]) == colour(2)  # lossless stays exact
    with Image.open(BytesIO(slides[2].image.blob)) as transparent:
        assert transparent.mode == "RGBA"
        value = transparent.getpixel((0, 0))
        assert isinstance(value, tuple)
        assert close(value, (*colour(3), 128))


def test_a_converted_webp_keeps_its_colour_profile(tmp_path: Path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    save(tmp_path / "slide-01.webp", (64, 36), colour(1), quality=90, icc_profile=icc)
    save(tmp_path / "slide-02.webp", (64, 36), colour(2), lossless=True, icc_profile=icc)
    slides = [picture(s) for s in Presentation(str(write_pptx(read_deck(tmp_path)).path)).slides]
    for shape in slides:
        with Image.open(BytesIO(shape.image.blob)) as embedded:
            assert embedded.info.get("icc_profile") == icc


def test_an_image_that_does_not_read_is_skipped_with_why(tmp_path: Path) -> None:
    make_deck(tmp_path, 3)
    whole = (tmp_path / "slide-02.png").read_bytes()
    (tmp_path / "slide-02.png").write_bytes(whole[: len(whole) // 2])  # truncated
    (tmp_path / "slide-03.png").write_bytes(b"not an image at all")

    report = write_pptx(read_deck(tmp_path))

    assert report.slides == (1,)
    assert [number for number, _ in report.skipped] == [2, 3]
    assert report.skipped[0][1].startswith("slide-02.png does not decode")
    assert report.skipped[1][1] == "slide-03.png is not a PNG, JPEG or WebP image"
    assert len(Presentation(str(report.path)).slides) == 1


def test_no_image_that_reads_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    make_deck(tmp_path, 2)
    for number in (1, 2):
        (tmp_path / f"slide-0{number}.png").write_bytes(b"garbage")
    with pytest.raises(ExportError, match=r"no slide of .* has an image to put in a PPTX"):
        write_pptx(read_deck(tmp_path))
    assert not (tmp_path / PPTX_NAME).exists()


def test_the_file_is_replaced_whole_with_the_images_mode(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 2)
    dest = tmp_path / "out.pptx"
    dest.write_bytes(b"an older deck")
    os.chmod(dest, 0o600)

    report = write_pptx(deck, dest)

    assert stat.S_IMODE(dest.stat().st_mode) == image_mode()
    assert len(Presentation(str(dest)).slides) == 2
    # The file it replaced (not a presentation: no notes to keep) is kept, as a version.
    assert report.previous == tmp_path / ".versions" / "out.2.pptx"
    assert report.previous.read_bytes() == b"an older deck"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".versions"]


def test_a_destination_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 1)
    with pytest.raises(ExportError, match=r"^cannot write .*nowhere/deck.pptx: No such file"):
        write_pptx(deck, tmp_path / "nowhere" / "deck.pptx")


@pytest.mark.parametrize(
    ("size", "aspect"),
    [
        ((1376, 768), (16, 9)),  # the service's 16:9 at 1K
        ((1344, 768), (16, 9)),  # another model's
        ((768, 1376), (9, 16)),
        ((1024, 1024), (1, 1)),
        ((1200, 896), (4, 3)),
        ((1000, 100), (1000, 100)),  # no ratio of the service's near: its own shape
    ],
)
def test_slide_aspect_takes_the_services_ratio_nearest(
    size: tuple[int, int], aspect: tuple[int, int]
) -> None:
    assert slide_aspect(*size) == aspect


def test_the_decks_aspect_is_its_first_readable_images(tmp_path: Path) -> None:
    save(tmp_path / "slide-01.png", (10, 10), colour(1))
    save(tmp_path / "slide-02.png", (768, 1376), colour(2))
    (tmp_path / "slide-01.png").write_bytes(b"garbage")
    assert deck_aspect(read_deck(tmp_path)) == (9, 16)

    (tmp_path / "slide-02.png").write_bytes(b"garbage")
    assert deck_aspect(read_deck(tmp_path)) == DEFAULT_ASPECT


def test_without_python_pptx_the_message_is_one_line(tmp_path: Path) -> None:
    make_deck(tmp_path, 1)
    script = (
        "import sys\n"
        "sys.modules['pptx'] = None  # as if python-pptx were not installed\n"
        "from pathlib import Path\n"
        "from nanobanana_async.export.deck import read_deck\n"
        "from nanobanana_async.export.pptx import write_pptx\n"
        "try:\n"
        "    write_pptx(read_deck(Path(sys.argv[1])))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc, sep=': ')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == f"PptxUnavailable: {MISSING_PPTX}\n"
    assert MISSING_PPTX == "PPTX export needs python-pptx: pip install 'nanobanana-async[pptx]'"
    assert not (tmp_path / PPTX_NAME).exists()
