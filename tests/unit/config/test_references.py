"""Reference images (references.py): read once, checked by content, shared by slides.

What is checked is what is sent: the loader opens each file once, must find a regular
file of a size the service takes, decodes those bytes, and keeps them (base64) with the
MIME type of the decoded format. The tests of planning what is sent are in
``tests/unit/engine/test_engine_plan.py``.
"""

from __future__ import annotations

import base64
import os
import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from config_testing import deck, load, one, refusal
from PIL import Image
from privileges import permissions_enforced

from nanobanana_async.config.schema import INLINE_IMAGES_ROOM, MAX_REFERENCE_BYTES


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def test_each_file_is_read_once_and_kept_with_its_decoded_type(tmp_path: Path) -> None:
    logo, photo = image_bytes("PNG"), image_bytes("JPEG")
    (tmp_path / "logo.png").write_bytes(logo)
    (tmp_path / "photo.png").write_bytes(photo)  # a jpeg, whatever its name says
    raw = deck({"reference_image": "logo.png"})
    raw["slides"] += [
        {"number": 2, "prompt": "b", "reference_image": str(tmp_path / "logo.png")},
        {"number": 3, "prompt": "c", "reference_image": "photo.png"},
        {"number": 4, "prompt": "d"},
    ]
    config = load(raw, tmp_path)
    assert [s.reference_image for s in config.slides] == [
        tmp_path / "logo.png", tmp_path / "logo.png", tmp_path / "photo.png", None,
    ]  # fmt: skip
    images = config.reference_images
    assert set(images) == {tmp_path / "logo.png", tmp_path / "photo.png"}
    assert images[tmp_path / "logo.png"].mime_type == "image/png"
    assert images[tmp_path / "logo.png"].data == base64.b64encode(logo).decode("ascii")
    assert images[tmp_path / "photo.png"].mime_type == "image/jpeg"
    assert images[tmp_path / "photo.png"].size == len(photo)
    # Shown briefly: a repr never carries megabytes of base64.
    assert repr(images[tmp_path / "logo.png"]) == (
        f"ReferenceImage({tmp_path / 'logo.png'}, image/png, {len(logo)} bytes)"
    )


def test_a_symlink_to_an_image_is_followed_and_one_to_anything_else_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "logo.webp").write_bytes(image_bytes("WEBP"))
    (tmp_path / "logo.png").symlink_to(tmp_path / "assets" / "logo.webp")
    (image,) = load(deck({"reference_image": "logo.png"}), tmp_path).reference_images.values()
    # Named as the config names it: the link's target is never told.
    assert (image.path, image.mime_type) == (tmp_path / "logo.png", "image/webp")
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n")
    (tmp_path / "ref.png").symlink_to(tmp_path / ".ssh" / "id_rsa")
    (tmp_path / "gone.png").symlink_to(tmp_path / ".ssh" / "id_ed25519")
    error = refusal(deck({"reference_image": "ref.png"}), tmp_path)
    assert (error.field, error.problem) == (
        "slide 1 (slides[0]).reference_image",
        f"{tmp_path / 'ref.png'} does not decode as an image; give a png, jpg or webp file",
    )
    missing = refusal(deck({"reference_image": "gone.png"}), tmp_path)
    assert missing.problem == f"file not found: {tmp_path / 'gone.png'}"
    assert ".ssh" not in str(error) + str(missing)


@pytest.mark.parametrize("kind", ["fifo", "device", "missing"])
def test_only_a_regular_file_is_read(tmp_path: Path, kind: str) -> None:
    link = tmp_path / "ref.png"
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe")  # opened without blocking: no writer ever comes
        link.symlink_to(tmp_path / "pipe")
        expected = f"{link} is not a regular file"
    elif kind == "device":
        link.symlink_to("/dev/zero")
        expected = f"{link} is not a regular file"
    else:
        link.symlink_to(tmp_path / "gone.png")
        expected = f"file not found: {link}"
    error = refusal(deck({"reference_image": "ref.png"}), tmp_path)
    # The link as the config names it, never its target.
    assert (error.field, error.problem) == ("slide 1 (slides[0]).reference_image", expected)


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.jpg", "JPEG"), ("b.jpeg", "JPEG"), ("c.webp", "WEBP")]
)
def test_reference_images_of_every_accepted_kind(tmp_path: Path, name: str, fmt: str) -> None:
    (tmp_path / name).write_bytes(image_bytes(fmt))
    assert one(deck({"reference_image": name}), tmp_path).reference_image == tmp_path / name


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty, not an image"),
        (b"\x89PNG", "does not decode as an image"),
        (b"just some notes\n", "does not decode as an image"),
        (image_bytes("PNG", (64, 64))[:60], "does not decode as an image"),  # cut short
        (image_bytes("GIF"), "is a GIF image; the service takes png, jpg or webp, convert it"),
    ],
    ids=["empty", "png magic only", "text", "truncated png", "gif named png"],
)
def test_a_reference_that_is_not_an_image_is_refused(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / "ref.png").write_bytes(content)
    error = refusal(deck({"reference_image": "ref.png"}), tmp_path)
    assert error.field == "slide 1 (slides[0]).reference_image"
    assert problem in error.problem
    assert "\n" not in str(error)


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG declaring ``width`` x ``height`` pixels, with no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", b"")


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["past the warning", "past the error"])
def test_a_reference_of_too_many_pixels_is_refused(tmp_path: Path, side: int) -> None:
    (tmp_path / "bomb.png").write_bytes(png_header(side, side))
    error = refusal(deck({"reference_image": "bomb.png"}), tmp_path)
    assert error.field == "slide 1 (slides[0]).reference_image"
    assert error.problem.endswith("pixels; downscale it")


def test_a_reference_too_big_to_send_inline_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "huge.png"
    with image.open("wb") as handle:
        handle.truncate(23_400_000)  # sparse: no 23 MB written
    error = refusal(deck({"reference_image": "huge.png"}), tmp_path)
    assert (error.field, error.problem) == (
        "slide 1 (slides[0]).reference_image",
        f"{image} is 23.4 MB; the service takes at most 20 MB per request inline, which "
        "leaves 14.8 MB for an image before base64; downscale it or save it as jpg or webp",
    )
    # The limit itself: a file of exactly that size gets past the size check to the decode.
    with image.open("wb") as handle:
        handle.truncate(MAX_REFERENCE_BYTES)
    assert "does not decode" in refusal(deck({"reference_image": "huge.png"}), tmp_path).problem
    with image.open("wb") as handle:
        handle.truncate(MAX_REFERENCE_BYTES + 1)
    assert "downscale it" in refusal(deck({"reference_image": "huge.png"}), tmp_path).problem
    # Base64 makes 4 bytes of 3: the largest file still fits in the request, with room left.
    assert MAX_REFERENCE_BYTES * 4 / 3 < 20_000_000 - 180_000
    assert MAX_REFERENCE_BYTES > 14_500_000


def test_unreadable_reference_image(tmp_path: Path) -> None:
    image = tmp_path / "ref.png"
    image.write_bytes(b"")
    image.chmod(0)
    with permissions_enforced():  # root too
        error = refusal(deck({"reference_image": str(image)}), tmp_path)
    assert error.field == "slide 1 (slides[0]).reference_image"
    assert "cannot read" in error.problem


def test_the_style_reference_is_read_as_a_slides_and_shared_with_them(tmp_path: Path) -> None:
    brand = image_bytes("JPEG")
    (tmp_path / "brand.png").write_bytes(brand)  # a jpeg, whatever its name says
    raw = deck({"reference_image": "./brand.png"}, style_reference="brand.png")
    raw["slides"].append({"number": 2, "prompt": "b"})
    config = load(raw, tmp_path)
    assert config.style_reference == tmp_path / "brand.png"
    assert set(config.reference_images) == {tmp_path / "brand.png"}  # one file, read once
    image = config.reference_images[tmp_path / "brand.png"]
    assert (image.mime_type, image.data) == ("image/jpeg", base64.b64encode(brand).decode())
    (tmp_path / "brand.png").write_text("not an image")
    error = refusal(deck(style_reference="brand.png"), tmp_path)
    assert (error.field, error.problem) == (
        "style_reference",
        f"{tmp_path / 'brand.png'} does not decode as an image; give a png, jpg or webp file",
    )


def stored_png(path: Path, size: int) -> None:
    """A png of about ``size`` bytes that decodes: pixels stored, not compressed."""
    side = int((size / 3) ** 0.5)
    Image.new("RGB", (side, side), (10, 120, 200)).save(path, "PNG", compress_level=0)


def test_the_images_of_one_request_share_its_inline_limit(tmp_path: Path) -> None:
    # Each fits alone; the style reference and a slide's own do not fit together.
    stored_png(tmp_path / "brand.png", 8_000_000)
    stored_png(tmp_path / "photo.png", 8_000_000)
    sizes = [(tmp_path / name).stat().st_size for name in ("brand.png", "photo.png")]
    assert max(sizes) < MAX_REFERENCE_BYTES < sum(sizes)
    load(deck({"reference_image": "photo.png"}), tmp_path)
    load(deck({"reference_image": "brand.png"}, style_reference="brand.png"), tmp_path)
    raw = deck(style_reference="brand.png")
    raw["slides"].append({"number": 2, "prompt": "b", "reference_image": "photo.png"})
    error = refusal(raw, tmp_path)
    total = sum(-(-size // 3) * 4 for size in sizes)
    assert (error.field, error.problem) == (
        "slide 2 (slides[1]).reference_image",
        f"its request would carry 2 images, {-(-total // 100_000) / 10:.1f} MB in base64; the "
        f"service takes 20 MB per request inline, which leaves {INLINE_IMAGES_ROOM // 100_000 / 10}"
        " MB for them (brand.png, photo.png); downscale them, or save them as jpg or webp",
    )
