"""Saving images as the engine does (:func:`save_received`): the right format and pixels,
sources kept as-is when they already fit."""

from __future__ import annotations

import os
import stat
import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from nanobanana_async.files.atomic import TEMP_SUFFIX
from nanobanana_async.files.images import (
    MAX_IMAGE_PIXELS,
    ImageDecodeError,
    ImageTooLarge,
    SavedImage,
    encode_image,
    image_is_complete,
    save_received,
)

WIDTH, HEIGHT = 96, 54


def _picture(mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (WIDTH, HEIGHT), "white" if mode != "RGBA" else (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 50, 40), fill=(200, 30, 30) + ((255,) if mode == "RGBA" else ()))
    draw.line((0, 53, 95, 0), fill=(20, 20, 160) + ((255,) if mode == "RGBA" else ()), width=3)
    return image


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _open(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


async def test_png_to_lossless_webp_is_pixel_exact(tmp_path: Path) -> None:
    source = _picture()
    dest = tmp_path / "slide-01.webp"
    saved = await save_received(_encode(source, "PNG"), dest, fmt="webp", quality=90, lossless=True)

    assert saved == SavedImage(dest, dest.stat().st_size, WIDTH, HEIGHT)
    with _open(dest) as result:
        assert result.format == "WEBP"
        assert result.size == (WIDTH, HEIGHT)
        assert ImageChops.difference(result.convert("RGB"), source).getbbox() is None


async def test_jpeg_to_lossy_webp(tmp_path: Path) -> None:
    dest = tmp_path / "slide-02.webp"
    saved = await save_received(
        _encode(_picture(), "JPEG"), dest, fmt="webp", quality=80, lossless=False
    )
    with _open(dest) as result:
        assert result.format == "WEBP"
        assert result.mode == "RGB"
        assert (saved.width, saved.height) == result.size == (WIDTH, HEIGHT)
    assert saved.size_bytes == dest.stat().st_size


async def test_jpeg_passthrough_is_byte_identical(tmp_path: Path) -> None:
    data = _encode(_picture(), "JPEG")
    dest = tmp_path / "slide-03.jpg"
    saved = await save_received(data, dest, fmt="jpg", quality=20, lossless=False)
    assert dest.read_bytes() == data
    assert saved.size_bytes == len(data)


async def test_png_passthrough_is_byte_identical(tmp_path: Path) -> None:
    data = _encode(_picture(), "PNG")
    dest = tmp_path / "slide-04.png"
    await save_received(data, dest, fmt="png", quality=90, lossless=False)
    assert dest.read_bytes() == data


async def test_rgba_png_to_jpg_flattens_on_white(tmp_path: Path) -> None:
    dest = tmp_path / "slide-05.jpg"
    await save_received(
        _encode(_picture("RGBA"), "PNG"), dest, fmt="jpg", quality=90, lossless=False
    )
    with _open(dest) as result:
        assert result.format == "JPEG"
        assert result.mode == "RGB"
        red, green, blue = result.getpixel((80, 5))  # type: ignore[misc]
        assert min(red, green, blue) > 240  # transparent corner became white, not black


async def test_palette_png_to_jpg(tmp_path: Path) -> None:
    dest = tmp_path / "slide-06.jpg"
    palette = _picture().convert("P", palette=Image.Palette.ADAPTIVE)
    await save_received(_encode(palette, "PNG"), dest, fmt="jpg", quality=90, lossless=False)
    with _open(dest) as result:
        assert (result.format, result.mode) == ("JPEG", "RGB")


async def test_jpeg_to_png(tmp_path: Path) -> None:
    dest = tmp_path / "slide-07.png"
    await save_received(_encode(_picture(), "JPEG"), dest, fmt="png", quality=90, lossless=False)
    with _open(dest) as result:
        assert (result.format, result.size) == ("PNG", (WIDTH, HEIGHT))


async def test_rgba_keeps_alpha_in_webp(tmp_path: Path) -> None:
    dest = tmp_path / "slide-08.webp"
    await save_received(
        _encode(_picture("RGBA"), "PNG"), dest, fmt="webp", quality=90, lossless=True
    )
    with _open(dest) as result:
        assert result.mode == "RGBA"


async def test_saved_image_is_world_readable_and_no_temp_left(tmp_path: Path) -> None:
    dest = tmp_path / "slide-09.webp"
    await save_received(_encode(_picture(), "PNG"), dest, fmt="webp", quality=90, lossless=False)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["slide-09.webp"]


@pytest.mark.parametrize("body", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
async def test_undecodable_body_raises_one_line(tmp_path: Path, body: bytes) -> None:
    dest = tmp_path / "slide-10.webp"
    with pytest.raises(ImageDecodeError) as caught:
        await save_received(body, dest, fmt="webp", quality=90, lossless=False)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert "\n" not in message
    assert "0x" not in message  # no "<_io.BytesIO object at 0x...>" from Pillow
    assert not dest.exists()


async def test_truncated_jpeg_is_a_decode_error(tmp_path: Path) -> None:
    data = _encode(_picture(), "JPEG")
    with pytest.raises(ImageDecodeError, match="does not decode"):
        await save_received(
            data[: len(data) // 2], tmp_path / "x.jpg", fmt="jpg", quality=90, lossless=False
        )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_image_is_complete_accepts_whole_images(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"slide.{fmt.lower()}"
    path.write_bytes(_encode(_picture(), fmt))
    assert image_is_complete(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_image_is_complete_rejects_truncated(tmp_path: Path, fmt: str, keep: float) -> None:
    data = _encode(_picture(), fmt)
    path = tmp_path / f"slide.{fmt.lower()}"
    path.write_bytes(data[: int(len(data) * keep)])
    assert not image_is_complete(path)


def test_image_is_complete_rejects_png_cut_after_pixels(tmp_path: Path) -> None:
    data = _encode(_picture(), "PNG")
    path = tmp_path / "slide.png"
    path.write_bytes(data[:-1])  # Pillow alone would load this
    assert not image_is_complete(path)


def test_image_is_complete_rejects_non_files(tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    real.write_bytes(_encode(_picture(), "PNG"))
    link = tmp_path / "link.png"
    link.symlink_to(real)
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "empty.png").write_bytes(b"")
    assert not image_is_complete(link)
    assert not image_is_complete(tmp_path / "dir.png")
    assert not image_is_complete(tmp_path / "empty.png")
    assert not image_is_complete(tmp_path / "missing.png")
    assert not any(p.name.endswith(TEMP_SUFFIX) for p in tmp_path.iterdir())


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(16)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("width", "height"),
    [
        pytest.param(8000, 6000, id="48 MP, under Pillow's own limit"),
        pytest.param(13000, 13000, id="169 MP, Pillow would only warn"),
        pytest.param(60000, 60000, id="3.6 GP"),
    ],
)
async def test_an_image_of_too_many_pixels_is_refused_before_it_is_decoded(
    tmp_path: Path, width: int, height: int
) -> None:
    # 8000x6000 RGB would take 144 MB once decoded; refused on its header, nothing is.
    dest = tmp_path / "slide-11.webp"
    data = _png_claiming(width, height)
    with pytest.raises(ImageTooLarge) as caught:
        await save_received(data, dest, fmt="webp", quality=90, lossless=False)
    assert isinstance(caught.value, ImageDecodeError)
    assert f"{MAX_IMAGE_PIXELS:,}" in str(caught.value)
    assert not dest.exists()
    path = tmp_path / "slide-11.png"
    path.write_bytes(data)
    assert not image_is_complete(path)


def test_the_pixel_limit_is_well_above_a_4k_slide_and_leaves_pillow_alone() -> None:
    assert MAX_IMAGE_PIXELS >= 2 * 5504 * 3072  # gemini-3-pro-image, 16:9, 4K
    before = Image.MAX_IMAGE_PIXELS
    image = Image.new("RGB", (64, 64), "white")
    encode_image(_encode(image, "PNG"), fmt="png", quality=90, lossless=False)
    assert before == Image.MAX_IMAGE_PIXELS
