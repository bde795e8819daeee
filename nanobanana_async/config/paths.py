"""Paths in a config: the output folder, reference images and output file names.

A name must stay a plain file name inside ``output_dir``, and a relative path is read
against the config file's own folder.
"""

from __future__ import annotations

import math
import stat
import unicodedata
import warnings
from pathlib import Path
from typing import cast

from ..errors import ConfigError
from . import fields
from .schema import (
    IMAGE_EXTENSIONS,
    MAX_FILENAME_BYTES,
    MAX_INLINE_REQUEST_BYTES,
    MAX_REFERENCE_BYTES,
    REFERENCE_EXTENSIONS,
    ImageFormat,
)

__all__: list[str] = []  # private to the config package


def output_dir(value: object, base_dir: Path) -> Path:
    """Absolute and usable: it or its first existing ancestor must be a directory."""
    text = fields.string(value, "output_dir")
    if not text.strip():
        raise ConfigError("output_dir", "must not be empty; give the folder for the images")
    if "\x00" in text:
        raise ConfigError("output_dir", "must not contain a NUL character")
    if "${" in text:
        raise ConfigError("output_dir", "${VAR} is not expanded here; write the path itself")
    path = _absolute(text, base_dir, "output_dir")
    # The engine creates what is missing; what exists on the way must be directories.
    for existing in (path, *path.parents):
        try:
            info = existing.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError("output_dir", f"cannot use {existing}: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            break
        if existing == path:
            raise ConfigError("output_dir", f"{path} is a file, not a directory")
        raise ConfigError("output_dir", f"{path} cannot be created: {existing} is a file")
    return path


def reference_image(value: object, where: str, base_dir: Path) -> Path:
    """An image we can read and send now, rather than a failure in the middle of a paid run.

    It must decode as a png, jpg or webp, and fit inline in a request: the service takes
    20 MB per request, base64 included (:data:`~.schema.MAX_REFERENCE_BYTES`). A larger
    image is refused, not downscaled: what is sent stays what the user gave.
    """
    text = fields.string(value, where)
    if not text.strip() or "\x00" in text:
        raise ConfigError(where, "must be the path of an image file")
    if not text.lower().endswith(REFERENCE_EXTENSIONS):
        raise ConfigError(where, f"must be a {', '.join(REFERENCE_EXTENSIONS)} image")
    path = _absolute(text, base_dir, where)
    if not path.exists():
        raise ConfigError(where, f"file not found: {path}")
    if not path.is_file():
        raise ConfigError(where, f"{path} is not a file")
    try:
        path.open("rb").close()
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ConfigError(where, f"{path} is empty, not an image")
    if size > MAX_REFERENCE_BYTES:
        # The size rounded up and the limit down: "14.9 MB" is never shown as over "14.9".
        raise ConfigError(
            where,
            f"{path} is {math.ceil(size / 1e5) / 10:.1f} MB; the service takes at most "
            f"{MAX_INLINE_REQUEST_BYTES / 1e6:.0f} MB per request inline, which leaves "
            f"{math.floor(MAX_REFERENCE_BYTES / 1e5) / 10:.1f} MB for an image before base64; "
            "downscale it or save it as jpg or webp",
        )
    _check_decodes(path, where)
    return path


_REFERENCE_FORMATS = {"PNG", "JPEG", "WEBP"}  # Pillow's names of what the service is sent


def _check_decodes(path: Path, where: str) -> None:
    """Refuse a file Pillow cannot identify and verify, or of a format not sent."""
    from PIL import Image  # here: loading a deck without reference images needs no Pillow

    try:
        with warnings.catch_warnings():
            # Pillow only warns between its two pixel limits; either is too big to send.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind = image.format or "unknown"
                image.verify()  # reads the whole file: checksums, truncation
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConfigError(
            where, f"{path} has over {Image.MAX_IMAGE_PIXELS:,} pixels; downscale it"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        # Pillow's own words name the file again, or a decoder's internals: not shown.
        raise ConfigError(
            where, f"{path} does not decode as an image; give a png, jpg or webp file"
        ) from None
    if kind not in _REFERENCE_FORMATS:
        raise ConfigError(
            where, f"{path} is a {kind} image; the service takes png, jpg or webp, convert it"
        )


def _absolute(text: str, base_dir: Path, where: str) -> Path:
    try:
        return (base_dir / Path(text).expanduser()).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop, unknown ~user
        raise ConfigError(where, f"cannot resolve path {fields.quote(text)}: {exc}") from None


def output_filename(
    value: object, where: str, number: int, fmt: ImageFormat, *, explicit_format: bool
) -> tuple[str, ImageFormat]:
    """The file name and the format it implies; the checks keep it inside ``output_dir``."""
    if value is None:
        return f"slide-{number:02d}.{fmt}", fmt
    name = fields.string(value, where)
    _check_plain_name(name, where)
    _, dot, ext = name.rpartition(".")
    if not dot:
        name = f"{name}.{fmt}"
    else:
        implied = IMAGE_EXTENSIONS.get(f".{ext.lower()}")
        if implied is None:
            raise ConfigError(
                where,
                f"extension {fields.quote('.' + ext)} is not an image's; end it in .webp, .png, "
                ".jpg or .jpeg, or leave the extension off",
            )
        if explicit_format and implied != fmt:
            raise ConfigError(
                where, f"extension .{ext} contradicts this slide's format {fmt!r}; change one"
            )
        fmt = cast(ImageFormat, implied)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_FILENAME_BYTES:
        raise ConfigError(
            where, f"is {size} bytes in UTF-8; the limit is {MAX_FILENAME_BYTES}, shorten it"
        )
    return name, fmt


def _check_plain_name(name: str, where: str) -> None:
    """Refuse anything but one plain, visible name: the file must land in ``output_dir``.

    Refusing by shape, not by resolving and comparing prefixes, leaves no symlink or
    ``..`` trick to reason about, and keeps the rule the same on every platform.
    """
    if not name:
        raise ConfigError(where, "must not be empty; leave it out for slide-NN.<format>")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ConfigError(where, "must not contain control characters")
    if name in {".", ".."} or "/" in name or "\\" in name:
        raise ConfigError(
            where, f"{fields.quote(name)} is not a plain file name; no '/', '\\' or '..', "
            "the file goes straight into output_dir"
        )  # fmt: skip
    if ":" in name:
        raise ConfigError(where, "must not contain ':' (a drive or stream separator on Windows)")
    if name.startswith("."):
        raise ConfigError(where, "must not start with '.' (hidden files and our temporary files)")
    if name != name.strip() or name.endswith("."):
        raise ConfigError(where, "must not start or end with a space or end with '.'")
