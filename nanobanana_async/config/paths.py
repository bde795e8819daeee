"""Paths in a config: the output folder, reference images' names and output file names.

A name must stay a plain file name inside ``output_dir``, and a relative path is read
against ``base_dir``: the folder of the config file it was written in, as most tools read
the paths of their config files (the file says where, wherever it is run from); for a
config given as a mapping, the working directory, unless the caller of ``load_config``
says. :func:`anchored` makes them absolute for a config that is moved before it is read.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..errors import ConfigError
from . import fields
from .schema import IMAGE_EXTENSIONS, MAX_FILENAME_BYTES, REFERENCE_EXTENSIONS, ImageFormat

__all__: list[str] = []  # private to the config package


def anchored(raw: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``raw`` with its relative paths (``output_dir``, ``style_reference``, each slide's
    ``reference_image``) joined to ``base_dir``, for a config written elsewhere to be read.

    Only plain relative strings change: an absolute path, ``~``, or anything not a string
    is left for the loader to take or refuse in its own words.
    """

    def anchor(value: object) -> object:
        relative = isinstance(value, str) and value and not value.startswith("~")
        if relative and not Path(str(value)).is_absolute():
            return str(base_dir / str(value))
        return value

    out = dict(raw)
    for name in ("output_dir", "style_reference"):
        if name in out:
            out[name] = anchor(out[name])
    slides = out.get("slides")
    if isinstance(slides, list):
        out["slides"] = [
            {**slide, "reference_image": anchor(slide["reference_image"])}
            if isinstance(slide, Mapping) and "reference_image" in slide
            else slide
            for slide in slides
        ]
    return out


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
    """The absolute path of a reference image, as given: joined to ``base_dir`` and
    normalised in its spelling (``./a/../b.png`` is ``b.png``, so one file spelt two ways is
    read once), no link resolved: what messages name is what the config says, never where
    a symlink points (``ref.png`` linked to ``~/.ssh/id_rsa`` must not tell that name).

    Only the name is checked here: what the file holds is :mod:`.references`' to read and
    check, once, and the bytes it checked are the ones sent.
    """
    text = fields.string(value, where)
    if not text.strip() or "\x00" in text:
        raise ConfigError(where, "must be the path of an image file")
    if not text.lower().endswith(REFERENCE_EXTENSIONS):
        raise ConfigError(where, f"must be a {', '.join(REFERENCE_EXTENSIONS)} image")
    try:
        return Path(os.path.normpath(base_dir / Path(text).expanduser()))
    except RuntimeError as exc:  # an unknown ~user
        raise ConfigError(where, f"cannot resolve path {fields.quote(text)}: {exc}") from None


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
