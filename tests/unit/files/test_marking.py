"""The marked copy of a region edit: the box drawn where the words say, the same bytes each time.

The image is a flat grey, so each pixel read tells what was drawn there (JPEG noise aside).
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import pytest
from PIL import Image

from nanobanana_async.files.images import MAX_IMAGE_PIXELS, ImageDecodeError, ImageTooLarge
from nanobanana_async.files.marking import marked_copy

GREY = (128, 128, 128)
BOX = (0.25, 0.2, 0.5, 0.4)  # x 100-299, y 60-179 on 400x300


def _image(size: tuple[int, int] = (400, 300), mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buffer = BytesIO()
    colour = (*GREY, 0) if mode == "RGBA" else GREY
    Image.new(mode, size, colour).save(buffer, fmt)
    return buffer.getvalue()


def _pixels(data: bytes) -> Image.Image:
    with Image.open(BytesIO(data)) as opened:
        assert opened.format == "JPEG"
        return opened.convert("RGB")


def _near(pixel: object, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_the_box_is_outlined_magenta_outside_and_white_inside() -> None:
    marked = _pixels(marked_copy(_image(), BOX))
    assert marked.size == (400, 300)  # at the image's own size
    # The line is 3 px (the least): magenta just outside the box, white just inside.
    assert _near(marked.getpixel((98, 120)), (255, 0, 255))
    assert _near(marked.getpixel((200, 58)), (255, 0, 255))
    assert _near(marked.getpixel((301, 120)), (255, 0, 255))
    assert _near(marked.getpixel((200, 181)), (255, 0, 255))
    assert _near(marked.getpixel((100, 120)), (255, 255, 255))
    assert _near(marked.getpixel((200, 179)), (255, 255, 255))
    # What the box holds, and the rest of the image, are left as they were.
    for inside in ((200, 120), (110, 70), (290, 170)):
        assert _near(marked.getpixel(inside), GREY, 6), inside
    for outside in ((10, 10), (390, 290), (90, 120), (200, 50)):
        assert _near(marked.getpixel(outside), GREY, 6), outside


def test_the_same_input_gives_the_same_bytes() -> None:
    image = _image(fmt="JPEG")
    assert marked_copy(image, BOX) == marked_copy(image, BOX)
    assert marked_copy(image, BOX) != marked_copy(image, (0.1, 0.1, 0.2, 0.2))


def test_a_box_on_the_edge_is_clipped_by_the_image() -> None:
    marked = _pixels(marked_copy(_image(), (0, 0, 1, 1)))
    assert _near(marked.getpixel((0, 150)), (255, 255, 255))
    assert _near(marked.getpixel((200, 150)), GREY, 6)


def test_transparency_lands_on_white() -> None:
    marked = _pixels(marked_copy(_image(mode="RGBA"), BOX))
    assert _near(marked.getpixel((10, 10)), (255, 255, 255), 6)


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``, with no pixels behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = b""
    for kind, body in ((b"IHDR", ihdr), (b"IDAT", b"\x00")):
        crc = struct.pack(">I", zlib.crc32(kind + body))
        chunks += struct.pack(">I", len(body)) + kind + body + crc
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_an_image_past_the_pixel_cap_is_refused_undecoded() -> None:
    side = int(MAX_IMAGE_PIXELS**0.5) + 1
    with pytest.raises(ImageTooLarge, match="marked at most"):
        marked_copy(_png_header(side, side), BOX)


@pytest.mark.parametrize("data", [b"", b"not an image", _png_header(10, 10)])
def test_what_is_not_an_image_is_refused(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        marked_copy(data, BOX)


@pytest.mark.parametrize(
    "region", [(-0.1, 0, 0.5, 0.5), (0, 0, 0, 0.5), (0.6, 0, 0.5, 0.5), (0, 0.5, 0.5, 0.6)]
)
def test_a_box_outside_the_image_is_refused(region: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="not a box inside the image"):
        marked_copy(_image(), region)
