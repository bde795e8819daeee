"""The marked copy a region edit sends beside its instruction: the box drawn on the image.

The API has no mask (design26 fact 8): a region is said in words and shown on a copy, as
region edits are done with these models (banana-slides sends a marked copy too). The copy
is the image at its own size, so the box sits where the words say; a magenta outline, the
colour slides least often use, with a white line inside it, so the box shows on a dark
slide and a light one alike.

The copy is deterministic (the same image and box give the same bytes, so a step's request
is the same on a rerun), and bounded: an image whose header claims more than
:data:`~.images.MAX_IMAGE_PIXELS` is refused before any pixel is decoded. Blocking
(decoding, drawing, encoding): call it from a worker thread when on the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO

from PIL import Image, ImageDraw, UnidentifiedImageError

from .images import MAX_IMAGE_PIXELS, ImageDecodeError, ImageTooLarge

__all__ = ["MARKING", "MARKING_QUALITY", "marked_copy"]

MARKING = 1
"""The version of the drawing: part of an edit step's key, so a change here redoes steps."""
MARKING_QUALITY = 90
"""JPEG quality of the copy: a guide for the model, not a deliverable; q90 keeps thin text."""

_MAGENTA = (255, 0, 255)
_WHITE = (255, 255, 255)
_DECODED_FORMATS = ("PNG", "JPEG", "WEBP")
# The outline's width, as a share of the image's shorter side: 5 px on a 1K slide, 15 on 4K.
_LINE_SHARE = 1 / 200
_MIN_LINE = 3
_EDGE = 1 + 1e-9  # 0.7 + 0.3 may land a hair past 1


def marked_copy(image: bytes, region: Sequence[float]) -> bytes:
    """``image`` as a JPEG with the box ``region`` (``x, y, w, h`` in fractions) drawn on it.

    The magenta outline lies just outside the box and the white line just inside it, so
    neither covers more of what the box holds than its inner line.

    Raises:
        ImageTooLarge: the image has more than :data:`~.images.MAX_IMAGE_PIXELS` pixels.
        ImageDecodeError: the bytes are not a PNG, JPEG or WebP that decodes.
        ValueError: ``region`` is not four fractions inside the image.
    """
    x, y, w, h = (float(value) for value in region)
    inside = min(x, y) >= 0 and min(w, h) > 0 and max(x + w, y + h) <= _EDGE
    if not inside:
        raise ValueError(f"region {tuple(region)} is not a box inside the image")
    picture = _decoded(image)
    width, height = picture.size
    line = max(_MIN_LINE, round(min(width, height) * _LINE_SHARE))
    inner = max(1, line // 2)
    left, top = round(x * width), round(y * height)
    right, bottom = round((x + w) * width) - 1, round((y + h) * height) - 1
    draw = ImageDraw.Draw(picture)
    # Outside the box: the magenta band, clipped by the image's edge where the box meets it.
    draw.rectangle(
        (left - line, top - line, right + line, bottom + line), outline=_MAGENTA, width=line
    )
    draw.rectangle((left, top, right, bottom), outline=_WHITE, width=inner)
    buffer = BytesIO()
    # 4:4:4: the outline is a colour signal, which chroma subsampling would smear to grey.
    picture.save(buffer, format="JPEG", quality=MARKING_QUALITY, subsampling=0)
    return buffer.getvalue()


def _decoded(data: bytes) -> Image.Image:
    """The image as RGB (transparency on white), decoded only once its header is in bounds."""
    try:
        opened = Image.open(BytesIO(data), formats=_DECODED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            f"the image has more than the {MAX_IMAGE_PIXELS:,} pixels marked at most"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageDecodeError(
            f"the image to mark ({len(data)} bytes) is not PNG, JPEG or WebP: {exc}"
        ) from None
    with opened:
        width, height = opened.size
        if width * height > MAX_IMAGE_PIXELS:
            raise ImageTooLarge(
                f"the image is {width}x{height}, more than the {MAX_IMAGE_PIXELS:,} pixels "
                "marked at most"
            )
        try:
            opened.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageDecodeError(f"the image to mark does not decode: {exc}") from None
        if opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info:
            rgba = opened.convert("RGBA")
            flat = Image.new("RGB", rgba.size, _WHITE)
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return opened.convert("RGB")
