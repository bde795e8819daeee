"""Reference images: read once, checked by what they hold, and kept as the bytes to send.

A reference image leaves the machine inline in every request of the slides that name it,
so what is sent must be what was checked, not whatever lies under its name later. The file
is opened once; the open descriptor, not the name, must be a regular file no larger than a
request takes (:data:`~.schema.MAX_REFERENCE_BYTES`); at most one byte past that is read,
so a file growing meanwhile cannot make it more; and those very bytes are decoded, kept as
base64 and sent, with the MIME type of the format they decode as (a PNG named ``.jpg`` goes
as ``image/png``). The loader reads each file so, once per config; the plan only places the
kept string in the bodies, and reads (the same way) only for a config not made by the loader.

A symlink is followed: linking an image from a shared folder is ordinary, and a link to
anything else (a key, a password file) fails the decode as any other non-image does.

One file, one string: 200 slides sharing a 10 MB logo hold one 13 MB base64 text, not 200.

The service's 20 MB inline limit is per request, not per image: :func:`check_inline_total`
holds the base64 of every image one request carries (a deck's style reference beside a
slide's own) to what the limit leaves them.
"""

from __future__ import annotations

import base64
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from ..errors import ConfigError
from ..files.reading import NotRegular, TooLarge, read_regular
from ..wording import plural
from .schema import INLINE_IMAGES_ROOM, MAX_INLINE_REQUEST_BYTES, MAX_REFERENCE_BYTES

__all__ = [
    "ReferenceImage",
    "check_inline_total",
    "checked_reference",
    "inline_total_problem",
    "read_reference",
]

# Pillow's names of the formats the service takes, and the MIME type each is sent as.
_MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True, repr=False)
class ReferenceImage:
    """A reference image as it will be sent: checked, and read once.

    Attributes:
        path: the file that was read, as the config names it (absolute; a symlink is
            followed but never resolved in the name, so no message tells its target).
        mime_type: the MIME type of the decoded format.
        data: the file's bytes in base64, the very text put in each request.
        size: the file's size in bytes.
    """

    path: Path
    mime_type: str
    data: str
    size: int

    def __repr__(self) -> str:
        # Never megabytes of base64 in a log line or a test failure.
        return f"ReferenceImage({self.path}, {self.mime_type}, {self.size} bytes)"


def read_reference(path: Path, where: str) -> ReferenceImage:
    """Read ``path`` once and check those bytes: a png, jpg or webp that fits a request.

    Raises:
        ConfigError: for ``where``, naming the file and what to do.
    """
    return checked_reference(_read_regular_file(path, where), path, where)


def checked_reference(data: bytes, path: Path, where: str) -> ReferenceImage:
    """``data``, read from ``path`` by the caller (at most :data:`MAX_REFERENCE_BYTES`),
    checked as :func:`read_reference` checks a file's bytes.

    Raises:
        ConfigError: for ``where``, naming the file and what is wrong with it.
    """
    if not data:
        raise ConfigError(where, f"{path} is empty, not an image")
    return ReferenceImage(
        path=path,
        mime_type=_decoded_type(data, path, where),
        data=base64.b64encode(data).decode("ascii"),
        size=len(data),
    )


def inline_total_problem(sizes: Iterable[int]) -> str | None:
    """Why images of these base64 lengths cannot go in one request together, or ``None``."""
    sizes = list(sizes)
    total = sum(sizes)
    if total <= INLINE_IMAGES_ROOM:
        return None
    return (
        f"its request would carry {plural(len(sizes), 'image')}, "
        f"{math.ceil(total / 1e5) / 10:.1f} MB in base64; the service takes "
        f"{MAX_INLINE_REQUEST_BYTES / 1e6:.0f} MB per request "
        f"inline, which leaves {math.floor(INLINE_IMAGES_ROOM / 1e5) / 10:.1f} MB for them"
    )


def check_inline_total(images: Iterable[ReferenceImage], where: str) -> None:
    """Refuse reference images that do not fit in one request together.

    Raises:
        ConfigError: for ``where``, naming the images' total and what to do.
    """
    images = list(images)
    problem = inline_total_problem(len(image.data) for image in images)
    if problem is not None:
        names = ", ".join(image.path.name for image in images)
        raise ConfigError(
            where, f"{problem} ({names}); downscale them, or save them as jpg or webp"
        )


def _read_regular_file(path: Path, where: str) -> bytes:
    try:
        # Followed: the user named this file (and its link) on purpose.
        data = read_regular(path, MAX_REFERENCE_BYTES, follow=True)
    except FileNotFoundError:
        raise ConfigError(where, f"file not found: {path}") from None
    except NotRegular as refused:
        what = "a file" if refused.kind == "a directory" else "a regular file"
        raise ConfigError(where, f"{path} is not {what}") from None
    except TooLarge as refused:
        raise ConfigError(where, _too_big(path, refused.size)) from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror or exc}") from None
    return data


def _too_big(path: Path, size: int) -> str:
    # The size rounded up and the limit down: "14.9 MB" is never shown as over "14.9".
    return (
        f"{path} is {math.ceil(size / 1e5) / 10:.1f} MB; the service takes at most "
        f"{MAX_INLINE_REQUEST_BYTES / 1e6:.0f} MB per request inline, which leaves "
        f"{math.floor(MAX_REFERENCE_BYTES / 1e5) / 10:.1f} MB for an image before base64; "
        "downscale it or save it as jpg or webp"
    )


def _decoded_type(data: bytes, path: Path, where: str) -> str:
    """The MIME type ``data`` decodes as; refuse what Pillow cannot identify and verify."""
    from PIL import Image  # here: loading a deck without reference images needs no Pillow

    try:
        with warnings.catch_warnings():
            # Pillow only warns between its two pixel limits; either is too big to send.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                kind = image.format or "unknown"
                image.verify()  # every chunk's checksum, truncation
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConfigError(
            where, f"{path} has over {Image.MAX_IMAGE_PIXELS:,} pixels; downscale it"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Pillow's own words name a decoder's internals: not shown.
        raise ConfigError(
            where, f"{path} does not decode as an image; give a png, jpg or webp file"
        ) from None
    mime = _MIME_TYPES.get(kind)
    if mime is None:
        raise ConfigError(
            where, f"{path} is a {kind} image; the service takes png, jpg or webp, convert it"
        )
    return mime
