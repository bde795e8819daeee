"""The answer to "remove every piece of text": the slide drawn again without its text.

An editable PPTX puts text boxes over a text-free picture of each slide (a *plate*), made
by asking the model to remove the text and change nothing else. The emulator answers such
a request, recognised by its wording (:func:`removes_text`: "remove" and "text" in one
sentence, as a person or a client would say it), with the image it was given, its text
gone: its own slides are grey ink on a plain page (the title, the body, the footer), with
colour only in the accents, so every low-chroma pixel of a row that differs from the
row's background (its colour at the right edge, where nothing is drawn) is painted with
that background. The accents, the swatches of colour and the top band stay. The OCR then
reads nothing on the answer, as on a real model's good plate.

A request scripted ``keeps-text`` (:mod:`.faults`) is answered with the image unchanged,
text and all: the stubborn plate a client must notice by reading it back.
"""

from __future__ import annotations

import io
import re

from PIL import Image, ImageChops, ImageFilter

from .compression import Segment
from .editing import MAX_PIXELS
from .render import encode_image
from .turns import InlineImage

__all__ = ["removes_text", "without_text"]

_REMOVE = re.compile(r"\b(remove|erase|delete|take out|strip)\b[^.!?]*\btext\b", re.IGNORECASE)
# A pixel this far (0-255, the largest channel difference) from its row's background is drawn.
_DRAWN = 24
# Below this chroma (the largest channel less the smallest, 0-255) a drawn pixel is ink:
# the emulator's inks are near grey (at most 30), its accents far above (130 and more).
_GREY = 60


def removes_text(instruction: str) -> bool:
    """Whether ``instruction`` asks for the image's text to be removed."""
    return _REMOVE.search(instruction) is not None


def without_text(
    base: InlineImage, *, width: int, height: int, mime_type: str, keep: bool = False
) -> Segment | None:
    """``base`` at ``width`` x ``height`` with its text painted out (module docstring);
    unchanged but for its size when ``keep`` (a scripted ``keeps-text``). ``None`` when
    ``base`` is not an image that decodes, or is too large."""
    try:
        opened = Image.open(io.BytesIO(base.data))
        if opened.size[0] * opened.size[1] > MAX_PIXELS:
            return None
        image = opened.convert("RGB")
    except Exception:  # anything a hostile or broken image makes Pillow raise
        return None
    if image.size != (width, height):
        image = image.resize((width, height))
    if not keep:
        image = _painted_out(image)
    return encode_image(image, mime_type)


def _painted_out(image: Image.Image) -> Image.Image:
    width, height = image.size
    edge = image.crop((width - 1, 0, width, height))
    background = edge.resize((width, height), Image.Resampling.NEAREST)
    drawn = ImageChops.difference(image, background).split()
    differs = ImageChops.lighter(ImageChops.lighter(drawn[0], drawn[1]), drawn[2])
    drawn_mask = differs.point(lambda value: 255 if value > _DRAWN else 0)
    red, green, blue = image.split()
    most = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    least = ImageChops.darker(ImageChops.darker(red, green), blue)
    grey = ImageChops.subtract(most, least).point(lambda chroma: 255 if chroma < _GREY else 0)
    ink = ImageChops.multiply(drawn_mask, grey).filter(ImageFilter.MaxFilter(5))
    result = image.copy()
    result.paste(background, mask=ink)
    return result
