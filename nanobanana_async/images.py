"""Turn the bytes the model returned into the file the user asked for.

The service answers with PNG or JPEG; the config asks for WebP, PNG or JPEG. When the two
already agree the original bytes are kept as they are: re-encoding a JPEG as JPEG only loses
quality and costs CPU. Otherwise Pillow decodes, converts and encodes in memory, and the
result is written with :func:`~nanobanana_async.atomic.write_atomic`, so a file under its
final name is always a whole image (which is what :func:`image_is_complete` checks when a
run resumes).

Everything here is blocking and CPU-bound (decoding a 4K image takes tens of milliseconds,
encoding lossless WebP several hundred): the engine calls it through
``anyio.to_thread.run_sync``, never on the event loop.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError

from .atomic import write_atomic

__all__ = ["ImageDecodeError", "ImageFormat", "SavedImage", "image_is_complete", "save_image"]

ImageFormat = Literal["webp", "png", "jpg"]

# Pillow's name for the format of each config value.
_PIL_FORMAT: dict[str, str] = {"webp": "WEBP", "png": "PNG", "jpg": "JPEG"}
# libwebp's effort knob (0-6). 4 is libwebp's own default and where file size levels off:
# on a 2K slide, methods 0-2 gave lossy files 7-25% larger, while 5-6 were no smaller and
# took 10-50% longer (lossless: 5-6 took 50% longer for 1%). Encoding is the CPU-bound step
# of a run, so the extra effort would slow the deck for nothing.
_WEBP_METHOD = 4
# zlib level 6 is the usual balance; ``optimize`` tries several filters and levels and is
# several times slower for a few percent.
_PNG_COMPRESS_LEVEL = 6
# Transparent areas land on white when a format without alpha (JPEG) is asked for: slides
# have light backgrounds, and black (what a plain RGBA->RGB conversion gives) rarely fits.
_MATTE = (255, 255, 255)
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


class ImageDecodeError(ValueError):
    """The bytes returned as an image are not an image Pillow can decode."""


@dataclass(frozen=True, slots=True)
class SavedImage:
    """An image written under its final name.

    Attributes:
        path: where it was written (``dest`` as given).
        size_bytes: the size of the file.
        width: in pixels.
        height: in pixels.
    """

    path: Path
    size_bytes: int
    width: int
    height: int


def save_image(
    data: bytes, dest: Path, *, fmt: ImageFormat, quality: int, lossless: bool
) -> SavedImage:
    """Decode ``data``, convert it to ``fmt`` if needed, and write it atomically to ``dest``.

    Synchronous and CPU-bound: the engine runs it in a worker thread
    (``anyio.to_thread.run_sync``) so the event loop keeps serving other slides.

    Args:
        data: the image bytes from the response (PNG or JPEG, usually).
        dest: the final path; its directory must exist. Written with mode 0644, since the
            images are the deliverable and are meant to be opened and shared.
        fmt: the format to save in. A source already in that format is kept byte for byte.
        quality: 1-100, for lossy WebP and JPEG (for lossless WebP libwebp reads it as
            compression effort).
        lossless: WebP only: encode losslessly (crisp text and diagrams).

    Returns:
        The path, final size and dimensions.

    Raises:
        ImageDecodeError: ``data`` does not decode as an image.
        OSError: the file could not be written.
    """
    with _decode(data) as image:
        width, height = image.size
        if _same_format(image.format, fmt):
            encoded = data
        else:
            encoded = _encode(image, fmt, quality=quality, lossless=lossless)
    write_atomic(dest, encoded, mode=0o644)
    return SavedImage(path=dest, size_bytes=len(encoded), width=width, height=height)


def image_is_complete(path: Path) -> bool:
    """Whether ``path`` is a whole image: a regular file (not a symlink) that fully decodes.

    A resumed run keeps such a file instead of paying for it again. ``Image.verify()`` is not
    enough (it accepts a truncated JPEG), so the pixels are decoded with ``load()``; a PNG
    must also end with its ``IEND`` chunk, since Pillow loads one cut just after the pixels.
    Never raises: anything unexpected means "generate it again".
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False  # missing, unreadable, or a symlink (ELOOP)
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return False
            with Image.open(file) as image:
                image.load()
                if image.format == "PNG":
                    file.seek(-len(_PNG_END), os.SEEK_END)
                    return file.read() == _PNG_END
            return True
    except Exception:
        return False


@contextlib.contextmanager
def _decode(data: bytes) -> Iterator[Image.Image]:
    try:
        image = Image.open(BytesIO(data))
        image.load()
    except UnidentifiedImageError:
        raise ImageDecodeError(
            f"the returned image data ({len(data)} bytes) is not in a known image format"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Pillow reports corrupt data as any of these, depending on the codec.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(
            f"the returned image data ({len(data)} bytes) does not decode: {reason}"
        ) from None
    with image:
        yield image


def _same_format(source: str | None, fmt: ImageFormat) -> bool:
    # WebP too: a WebP source re-encoded as WebP gains nothing (lossless cannot restore
    # what lossy removed) and loses a generation if lossy.
    return source == _PIL_FORMAT[fmt]


def _encode(image: Image.Image, fmt: ImageFormat, *, quality: int, lossless: bool) -> bytes:
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc  # keep the colours the model meant
    if fmt == "jpg":
        image = _without_alpha(image) if image.mode not in ("RGB", "L", "CMYK") else image
        options.update(quality=quality, optimize=True)
    elif fmt == "webp":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        options.update(quality=quality, lossless=lossless, method=_WEBP_METHOD)
    else:
        options.update(compress_level=_PNG_COMPRESS_LEVEL)
    buffer = BytesIO()
    image.save(buffer, format=_PIL_FORMAT[fmt], **options)
    return buffer.getvalue()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _without_alpha(image: Image.Image) -> Image.Image:
    if not _has_alpha(image):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, _MATTE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
