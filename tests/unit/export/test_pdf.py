"""The PDF, read back: Pillow cannot open a PDF as an image, but its PDF parser reads the
page tree (through the xref table, as a viewer does), and each page's image stream is
decoded here as a viewer would (a JPEG as is; Flate with PNG predictors rewrapped as a
PNG), so the pages' order, sizes and pixels are checked, not only that a file appeared."""

from __future__ import annotations

import os
import random
import re
import stat
import struct
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat, PdfParser

from nanobanana_async.exits import RESULTS_COPY_NAME
from nanobanana_async.export import pdf as pdf_module
from nanobanana_async.export import read_deck, write_pdf
from nanobanana_async.export.deck import Deck, ExportError, open_image
from nanobanana_async.export.pdf import PAGE_LONG_SIDE, page_size
from nanobanana_async.files.images import image_mode


@dataclass
class Page:
    media_box: list[float]
    width: int  # of its image, in pixels
    height: int
    filter: str
    colours: int  # 1 grey, 3 RGB
    stream: bytes

    def decoded(self) -> Image.Image:
        """The page's image, decoded from the stream as a PDF reader would."""
        if self.filter == "DCTDecode":
            return Image.open(BytesIO(self.stream))
        assert self.filter == "FlateDecode"
        return Image.open(BytesIO(png_around(self.width, self.height, self.colours, self.stream)))


def png_around(width: int, height: int, colours: int, idat: bytes) -> bytes:
    """A PNG whose pixel data is ``idat``: Flate with PNG predictors is exactly that."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    colour_type = {1: 0, 3: 2}[colours]  # PNG's grey, RGB
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def pages_of(path: Path) -> list[Page]:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-1.4\n")
    assert data.rstrip().endswith(b"%%EOF")
    parser = PdfParser.PdfParser(buf=data)
    found: list[Page] = []
    for ref in parser.pages:
        page: Any = parser.read_indirect(ref)
        assert page[b"Type"] == PdfParser.PdfName("Page")
        xobject: Any = parser.read_indirect(page[b"Resources"][b"XObject"][b"Im0"])
        info = xobject.dictionary
        assert info[b"Subtype"] == PdfParser.PdfName("Image")
        assert info[b"BitsPerComponent"] == 8
        colours = {b"DeviceRGB": 3, b"DeviceGray": 1}[info[b"ColorSpace"].name]
        if info[b"Filter"] == PdfParser.PdfName("FlateDecode"):
            parms = info[b"DecodeParms"]  # what a reader undoes: PNG's row filters
            assert (parms[b"Predictor"], parms[b"Colors"]) == (15, colours)
            assert (parms[b"BitsPerComponent"], parms[b"Columns"]) == (8, info[b"Width"])
        found.append(
            Page(
                media_box=[float(v) for v in page[b"MediaBox"]],
                width=info[b"Width"],
                height=info[b"Height"],
                filter=info[b"Filter"].name_as_str(),
                colours=colours,
                stream=bytes(xobject.buf),
            )
        )
    # Counted again on the raw bytes, independently of the parser: one page object each.
    assert len(re.findall(rb"/Type\s*/Page(?![a-z])", data)) == len(found)
    parser.close()
    return found


def results(folder: Path, outputs: dict[int, str], errors: dict[int, str] | None = None) -> None:
    data = {
        "outputs": [
            {"slide": n, "path": str(folder / name), "size_kb": 1} for n, name in outputs.items()
        ],
        "errors": [{"slide": n, "error": e, "timestamp": "t"} for n, e in (errors or {}).items()],
    }
    (folder / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))


def noise(size: tuple[int, int], seed: int) -> Image.Image:
    """An image whose every pixel matters: a lossy step anywhere would show."""
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))


def test_one_page_per_slide_in_order_each_the_shape_and_resolution_of_its_image(
    tmp_path: Path,
) -> None:
    sizes = {1: (160, 90), 2: (90, 160), 3: (120, 120), 4: (200, 100), 5: (64, 48)}
    names: dict[int, str] = {}
    for number, size in sizes.items():
        name = f"slide-{number:02d}.png"
        Image.new("RGB", size, (number * 40, 80, 160)).save(tmp_path / name)
        names[number] = name
    report = write_pdf(read_deck(tmp_path), tmp_path / "out.pdf")
    assert report.path == tmp_path / "out.pdf"
    assert report.slides == (1, 2, 3, 4, 5)
    assert report.skipped == ()
    assert report.note is None
    pages = pages_of(report.path)
    assert [(p.width, p.height) for p in pages] == list(sizes.values())  # order, resolution
    for page, (width, height) in zip(pages, sizes.values(), strict=True):
        x0, y0, x1, y1 = page.media_box
        assert (x0, y0) == (0, 0)
        assert max(x1, y1) == pytest.approx(PAGE_LONG_SIDE)
        assert x1 / y1 == pytest.approx(width / height, rel=1e-4)
    assert pages[0].media_box == [0, 0, 960, 540]  # a 16:9 slide: 13.33 x 7.5 in


def test_a_png_keeps_every_pixel_and_a_jpeg_every_byte(tmp_path: Path) -> None:
    rgb = noise((48, 27), 1)
    rgb.save(tmp_path / "slide-01.png")  # 8-bit RGB: its data goes in as it is
    rgba = noise((40, 30), 2).convert("RGBA")
    rgba.putalpha(255)
    rgba.putpixel((0, 0), (200, 0, 0, 0))  # one transparent pixel: lands on white
    rgba.save(tmp_path / "slide-02.png")
    palette = noise((20, 10), 3).quantize(16)
    palette.save(tmp_path / "slide-03.png")
    noise((64, 36), 4).save(tmp_path / "slide-04.jpg", quality=80)
    noise((32, 18), 5).save(tmp_path / "slide-05.webp", lossless=True)
    grey = noise((30, 20), 6).convert("L")
    grey.save(tmp_path / "slide-06.png")
    grey.save(tmp_path / "slide-07.jpg", quality=85)
    jpeg_bytes = (tmp_path / "slide-04.jpg").read_bytes()
    pages = pages_of(write_pdf(read_deck(tmp_path)).path)
    assert [p.filter for p in pages] == [
        "FlateDecode",
        "FlateDecode",
        "FlateDecode",
        "DCTDecode",
        "FlateDecode",
        "FlateDecode",
        "DCTDecode",
    ]
    assert [p.colours for p in pages] == [3, 3, 3, 3, 3, 1, 1]
    assert pages[0].stream in (tmp_path / "slide-01.png").read_bytes()  # the IDAT, untouched
    assert pages[0].decoded().tobytes() == rgb.tobytes()
    flattened = pages[1].decoded()
    assert flattened.getpixel((0, 0)) == (255, 255, 255)
    opaque = rgba.getpixel((5, 5))
    assert isinstance(opaque, tuple)
    assert flattened.getpixel((5, 5)) == opaque[:3]
    assert pages[2].decoded().tobytes() == palette.convert("RGB").tobytes()
    assert pages[3].stream == jpeg_bytes
    with Image.open(tmp_path / "slide-05.webp") as webp:
        assert pages[4].decoded().tobytes() == webp.convert("RGB").tobytes()
    assert pages[5].decoded().tobytes() == grey.tobytes()
    assert pages[6].stream == (tmp_path / "slide-07.jpg").read_bytes()


def test_a_lossy_webp_becomes_a_jpeg_of_its_full_size_and_close_to_it(tmp_path: Path) -> None:
    slide = Image.linear_gradient("L").resize((320, 180)).convert("RGB")
    draw = ImageDraw.Draw(slide)
    for x in range(0, 320, 7):  # fine lines and text: what a low quality or 4:2:0 blurs
        draw.line((x, 0, 320 - x, 180), fill=(255, x * 3 % 256, 0))
    draw.text((10, 10), "Quarterly results 2026", fill=(0, 0, 255))
    slide.save(tmp_path / "slide-01.webp", quality=90)
    (page,) = pages_of(write_pdf(read_deck(tmp_path)).path)
    assert page.filter == "DCTDecode"
    with page.decoded() as decoded, Image.open(tmp_path / "slide-01.webp") as webp:
        assert decoded.size == (320, 180)
        difference = ImageStat.Stat(ImageChops.difference(decoded, webp.convert("RGB")))
    # Quality 95 at 4:4:4 stays within about 1.5 a channel; Pillow's default 75, 4:2:0: 5+.
    assert max(difference.mean) < 2.5


def test_slides_without_an_image_are_skipped_and_named(tmp_path: Path) -> None:
    for number in (1, 2, 4, 6):
        Image.new("RGB", (16 * number, 9), (number * 30, 0, 0)).save(
            tmp_path / f"slide-{number:02d}.png"
        )
    (tmp_path / "slide-06.png").write_bytes(b"\xff\xd8\xff not really")  # no longer an image
    results(
        tmp_path,
        {n: f"slide-{n:02d}.png" for n in (1, 2, 4, 5, 6)},
        {3: "the prompt was blocked (SAFETY)"},
    )
    report = write_pdf(read_deck(tmp_path))
    assert report.path == tmp_path / "deck.pdf"
    assert report.slides == (1, 2, 4)
    assert report.skipped == (
        (3, "failed: the prompt was blocked (SAFETY)"),
        (5, "missing: slide-05.png is not in the folder"),
        (6, "slide-06.png is not a PNG, JPEG or WebP image"),
    )
    assert report.note == (
        "deck.pdf: skipped slides 3 (failed: the prompt was blocked (SAFETY)), "
        "5 (missing: slide-05.png is not in the folder), "
        "6 (slide-06.png is not a PNG, JPEG or WebP image)"
    )
    assert [p.width for p in pages_of(report.path)] == [16, 32, 64]


def test_a_corrupt_jpeg_is_skipped_not_embedded_broken(tmp_path: Path) -> None:
    noise((256, 144), 1).save(tmp_path / "slide-01.jpg", quality=90)
    whole = (tmp_path / "slide-01.jpg").read_bytes()
    (tmp_path / "slide-01.jpg").write_bytes(whole[: len(whole) // 2])
    Image.new("RGB", (16, 9)).save(tmp_path / "slide-02.png")
    report = write_pdf(read_deck(tmp_path))
    assert report.slides == (2,)
    ((number, reason),) = report.skipped
    assert number == 1
    assert reason.startswith("slide-01.jpg does not decode: ")


def test_nothing_readable_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "slide-01.png").write_bytes(b"not an image")
    deck = read_deck(tmp_path)
    with pytest.raises(ExportError) as caught:
        write_pdf(deck)
    assert str(caught.value) == f"no slide of {tmp_path} has an image to put in a PDF"
    assert not (tmp_path / "deck.pdf").exists()
    with pytest.raises(ExportError):
        write_pdf(Deck(tmp_path, ()))


def test_the_pdf_is_written_atomically_and_shared_as_the_images_are(tmp_path: Path) -> None:
    Image.new("RGB", (16, 9)).save(tmp_path / "slide-01.png")
    deck = read_deck(tmp_path)
    dest = tmp_path / "deck.pdf"
    dest.write_bytes(b"the previous export")
    write_pdf(deck, dest)
    assert len(pages_of(dest)) == 1
    assert stat.S_IMODE(os.stat(dest).st_mode) == image_mode()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ExportError) as caught:
        write_pdf(deck, tmp_path / "missing" / "deck.pdf")
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'missing' / 'deck.pdf'}: No such file or directory"
    )


def test_one_slide_is_decoded_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image is closed (its pixels freed) before the next one is opened."""
    for number in range(1, 6):
        noise((64, 36), number).save(tmp_path / f"slide-{number:02d}.webp", quality=90)
    opened: list[Image.Image] = []

    def spy(data: bytes, name: str) -> Image.Image:
        for earlier in opened:
            with pytest.raises(ValueError, match="closed image"):
                earlier.getpixel((0, 0))
        image = open_image(data, name)
        opened.append(image)
        return image

    monkeypatch.setattr(pdf_module, "open_image", spy)
    report = write_pdf(read_deck(tmp_path))
    assert len(opened) == 5
    assert report.slides == (1, 2, 3, 4, 5)


def test_page_size() -> None:
    assert page_size(1376, 768) == pytest.approx((960, 535.81), abs=0.01)
    assert page_size(768, 1376) == pytest.approx((535.81, 960), abs=0.01)
    assert page_size(5504, 3072) == page_size(1376, 768)  # 4K or 1K: the same page
