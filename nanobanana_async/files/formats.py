"""The formats an image is saved in: named here, below the config that asks for them.

A name of its own, with nothing to import, so the config (which reads a format) and the
image writer (which writes one) share it without the config's room and this one each
importing the other.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ImageFormat"]

# Formats match case-insensitively; these are the lower-case spellings. "jpeg" is the
# upstream skill's and PIL's name for jpg.
ImageFormat = Literal["webp", "png", "jpg"]
