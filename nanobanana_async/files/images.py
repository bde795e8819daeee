"""Turn the bytes the model returned into the file the user asked for.

A source already in the asked format is kept byte for byte (re-encoding only loses quality
and costs CPU); otherwise Pillow converts it in memory and :func:`~.atomic.write_atomic`
writes it, so a file under its final name is a whole image (:func:`image_is_complete`
checks that on resume). Before the slow conversion the received bytes are staged as a hidden
``.<final name>.received``, which a resumed run converts instead of paying again. All of it
blocks and runs in worker threads. Why: docs/design.md, "Saving images".
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import anyio
import anyio.from_thread
import anyio.lowlevel

# WebP registered up front: saving (or opening) a format that Pillow's first five (BMP, GIF,
# JPEG, PPM, PNG) do not cover otherwise makes it import every one of its ~45 plugins
# (Image.init), tens of ms of each process that converts a slide.
from PIL import (
    Image,
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401  (registers itself)
)

from .atomic import write_atomic
from .deck_folders import ORIGINALS_DIR, THUMBS_DIR, VERSIONS_DIR, deck_folder, kept_file
from .formats import ImageFormat

__all__ = [
    "IMAGE_MODE",
    "MAX_IMAGE_PIXELS",
    "THUMB_SIZE",
    "EncodedImage",
    "ImageDecodeError",
    "ImageFormat",
    "ImageTooLarge",
    "SavedImage",
    "discard_staged",
    "encode_image",
    "found_original",
    "image_is_complete",
    "image_mode",
    "keep_unit",
    "keep_version",
    "original_path",
    "read_staged",
    "save_received",
    "stage_received",
    "staged_path",
    "thumb_path",
    "unit_original_name",
    "unit_staged_path",
]


# Pillow's name for the format of each config value.
_PIL_FORMAT: dict[str, str] = {"webp": "WEBP", "png": "PNG", "jpg": "JPEG"}
# libwebp's effort knob (0-6). 4 is libwebp's own default and where file size levels off:
# lower methods give larger files, higher ones files no smaller for more time (figures:
# benchmarks/README.md). Encoding is the CPU-bound step of a run, so the extra effort
# would slow the deck for nothing.
_WEBP_METHOD = 4
# zlib level 6 is the usual balance; ``optimize`` tries several filters and levels, which
# is much slower for files hardly smaller.
_PNG_COMPRESS_LEVEL = 6
# Transparent areas land on white when a format without alpha (JPEG) is asked for: slides
# have light backgrounds, and black (what a plain RGBA->RGB conversion gives) rarely fits.
_MATTE = (255, 255, 255)
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# The only decoders ever run: the service sends JPEG or PNG, and we write those and WebP.
# Pillow would otherwise try every format it knows on bytes from the network.
_DECODED_FORMATS = ("PNG", "JPEG", "WEBP")
_STAGED_SUFFIX = ".received"
_T = TypeVar("_T")

IMAGE_MODE = 0o644
"""Permissions of a saved image at most: the deliverable, meant to be opened and shared.

The user's umask takes away from it (a umask of 077 makes images private, 027 keeps them
to the group) but never adds to it: an image is never group- or world-writable.
"""


@functools.cache
def image_mode() -> int:
    """:data:`IMAGE_MODE` under this process's umask (read once, and without changing it
    where ``/proc`` tells it: the ``os.umask`` round trip is not safe among threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return IMAGE_MODE & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return IMAGE_MODE & ~umask


MAX_IMAGE_PIXELS = 40_000_000
"""The most pixels an image may have to be decoded: width x height, read from its header.

A 4K slide is 5504x3072 (17 MP, the largest size the service makes); this is more than
twice that. Decoded, an image takes 3 or 4 bytes a pixel whatever its file's size, so a
13000x13000 PNG of a few kilobytes would take half a gigabyte before any conversion
copied it (Pillow's own limit only warns below 179 MP). The header is read before any
pixel is, and Pillow's global ``Image.MAX_IMAGE_PIXELS`` is left alone: it belongs to
the program using this library.
"""


class ImageDecodeError(ValueError):
    """The bytes returned as an image are not an image Pillow can decode."""


class ImageTooLarge(ImageDecodeError):
    """The image's header claims more than :data:`MAX_IMAGE_PIXELS`: it is never decoded."""


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
    previous: Path | None = None
    original: Path | None = None


THUMB_SIZE = 640
"""The least longer side of the copies in ``.thumbs`` (of an image that large): a contact
sheet of 7 or more slides needs no more."""


def keep_version(dest: Path) -> Path | None:
    """Move the image at ``dest`` (if any) into the folder's versions; return where it went.

    Versions are numbered from 2 (the file in place is the first), never overwritten: a
    paid image replaced by a rerun stays, so the user can go back.

    Raises:
        UnsafeFolder: ``.versions`` is not a real folder of the user's (a symlink to
            someone else's, say): the image stays where it is.
        OSError: it could not be kept; it stays where it is.
    """
    try:
        info = dest.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None  # a symlink or folder is not an image of ours to keep
    with deck_folder(dest.parent, VERSIONS_DIR, create=True) as versions:
        for number in itertools.count(2):
            try:  # fails if taken: never over an earlier version
                kept = versions.link(dest, f"{dest.stem}.{number}{dest.suffix}")
            except FileExistsError:
                continue
            os.unlink(dest)
            return kept
    raise AssertionError("unreachable")


def original_path(dest: Path, data: bytes) -> Path:
    """Where the service's bytes for ``dest`` are kept, named for their own format."""
    ext = ".png" if data.startswith(b"\x89PNG") else ".webp" if data[8:12] == b"WEBP" else ".jpg"
    return dest.parent / ORIGINALS_DIR / f"{dest.name}{ext}"


def unit_original_name(dest: Path, tag: str, data: bytes) -> str:
    """The name in ``.originals`` of one unit of a slide's edit chain (``tag``: ``v2.<key16>``,
    ``e1.<key16>``): the slide's file, the unit, its key, the bytes' own format."""
    return f"{dest.name}.{tag}{original_path(dest, data).suffix}"


def found_original(dest: Path, tag: str) -> Path | None:
    """The original kept of the unit ``tag`` of the slide at ``dest``, if one is there (a
    regular file of the user's, in the deck's real ``.originals``). Never raises."""
    for ext in (".png", ".jpg", ".webp"):
        path = dest.parent / ORIGINALS_DIR / f"{dest.name}.{tag}{ext}"
        if kept_file(path):
            return path
    return None


def unit_staged_path(dest: Path, tag: str) -> Path:
    """Where the bytes received for one unit of the slide at ``dest`` wait to be kept."""
    return dest.with_name(f".{dest.name}.{tag}{_STAGED_SUFFIX}")


@dataclass(frozen=True, slots=True)
class EncodedImage:
    """An image converted in memory, ready to be written.

    Attributes:
        data: the bytes of the file.
        width: in pixels.
        height: in pixels.
    """

    data: bytes
    width: int
    height: int
    thumbnail: bytes | None = None


def thumb_path(dest: Path) -> Path:
    """Where the small copy of the image at ``dest`` is kept."""
    return dest.parent / THUMBS_DIR / f"{dest.name}.jpg"


def _thumbnail(image: Image.Image) -> bytes:
    """A JPEG of ``image`` made while it is decoded anyway: drawing a contact sheet then
    decodes no full-size image again.

    Reduced by the largest whole factor that keeps the longer side at least
    :data:`THUMB_SIZE` (under twice that): one box-average pass. A resize to exactly
    :data:`THUMB_SIZE` afterwards cost more than the reduction itself (7 ms of a 2K
    slide's 11), for a copy the sheet scales to its tile anyway.
    """
    factor = max(1, max(image.size) // THUMB_SIZE)
    small = image.reduce(factor) if factor > 1 else image.copy()
    if small.mode not in ("RGB", "L"):
        small = _without_alpha(small) if _has_alpha(small) else small.convert("RGB")
    buffer = BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def encode_image(
    data: bytes, *, fmt: ImageFormat, quality: int, lossless: bool, thumbnail: bool = False
) -> EncodedImage:
    """Decode ``data`` and convert it to ``fmt`` in memory (the slow part of saving).

    A source already in ``fmt`` is kept byte for byte. Arguments as :func:`save_received`.

    Raises:
        ImageDecodeError: ``data`` does not decode as an image.
    """
    with _decode(data) as image:
        width, height = image.size
        if _same_format(image.format, fmt):
            return EncodedImage(data, width, height, _thumbnail(image) if thumbnail else None)
        encoded = _encode(image, fmt, quality=quality, lossless=lossless)
        return EncodedImage(encoded, width, height, _thumbnail(image) if thumbnail else None)


def staged_path(dest: Path) -> Path:
    """Where the bytes received for ``dest`` wait while they are converted."""
    return dest.with_name(f".{dest.name}{_STAGED_SUFFIX}")


def stage_received(data: bytes, dest: Path) -> None:
    """Keep the bytes received for ``dest`` on disk until :func:`discard_staged`.

    Raises:
        OSError: they could not be written.
    """
    write_atomic(staged_path(dest), data, mode=0o600)


def keep_unit(dest: Path, name: str, staged: Path) -> Path:
    """Move a unit's staged bytes into the deck's ``.originals`` as ``name``; its path.

    Raises:
        OSError: they could not be moved (the folder unfit included).
    """
    with deck_folder(dest.parent, ORIGINALS_DIR, create=True) as originals:
        return originals.move_in(staged, name)


def read_staged(dest: Path, staged: Path | None = None) -> bytes | None:
    """The bytes staged for ``dest`` (or at ``staged``) if they are a whole image, else
    ``None``. Never raises."""
    try:
        fd = os.open(staged or staged_path(dest), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            data = file.read()
        with _decode(data):
            return data
    except (OSError, ImageDecodeError):
        return None


def discard_staged(dest: Path) -> None:
    """Remove the bytes staged for ``dest``, if any."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(staged_path(dest))


async def save_received(
    data: bytes,
    dest: Path,
    *,
    fmt: ImageFormat,
    quality: int,
    lossless: bool,
    keep: bool = False,
    retire: Path | None = None,
    converting: anyio.CapacityLimiter | None = None,
    original_name: str | None = None,
    staged: Path | None = None,
) -> SavedImage:
    """Convert ``data`` to ``fmt`` in a thread, write it to ``dest``, drop the staged copy.

    If the awaiting task is cancelled, this returns (raises) at once; the conversion goes on
    in its thread but writes nothing, so the staged bytes stay for a resumed run.

    Args:
        data: the image bytes from the response (PNG or JPEG, usually).
        dest: the final path; its directory must exist. Written with mode 0644, since the
            images are the deliverable and are meant to be opened and shared.
        fmt: the format to save in. A source already in that format is kept byte for byte.
        quality: 1-100, for lossy WebP and JPEG (for lossless WebP libwebp reads it as
            compression effort).
        lossless: WebP only: encode losslessly (crisp text and diagrams).
        keep: keep what a rerun needs: an image already at ``dest`` goes to the versions
            (:func:`keep_version`), and the staged bytes become the original
            (:func:`original_path`) instead of being dropped.
        retire: the slide's earlier image under another name (its format or file name
            changed): moved to the versions once the new one is in place, so the folder
            holds one image per slide and nothing paid for is lost.
        converting: held while the image is decoded and encoded, not while it is written:
            it bounds the conversions at once (one per core), and a thread waiting on
            ``fsync`` under it would leave its core idle.
        original_name: ``keep`` a unit of an edit chain: its original's name in
            ``.originals`` (:func:`unit_original_name`), moved from ``staged`` if given,
            else written from ``data`` unless already there; the slide's own staged copy
            is not touched.
        staged: with ``original_name``, where the unit's bytes were staged, if they were.

    Returns:
        The path, final size and dimensions, and where the previous image and the
        original went.

    Raises:
        ImageDecodeError: ``data`` does not decode as an image.
        OSError: the file could not be written.
    """

    def convert(abandoned: threading.Event) -> EncodedImage | None:
        if abandoned.is_set():
            return None
        return encode_image(data, fmt=fmt, quality=quality, lossless=lossless, thumbnail=keep)

    def save(encoded: EncodedImage, abandoned: threading.Event) -> SavedImage | None:
        if abandoned.is_set():
            return None  # the run ended meanwhile: the staged bytes wait for --resume
        previous = keep_version(dest) if keep else None
        write_atomic(dest, encoded.data, mode=image_mode())
        if retire is not None:
            previous = keep_version(retire) or previous
        if encoded.thumbnail is not None:
            # Only a convenience for the contact sheet: the image is saved, whatever this
            # costs (a full disk, or a .thumbs not the user's, fails the copy, not the slide).
            with (
                contextlib.suppress(OSError),
                deck_folder(dest.parent, THUMBS_DIR, create=True) as thumbs,
            ):
                thumbs.write(thumb_path(dest).name, encoded.thumbnail, mode=image_mode())
        original = None
        if keep:
            name = original_name or original_path(dest, data).name
            source = staged_path(dest) if original_name is None else staged
            try:
                with deck_folder(dest.parent, ORIGINALS_DIR, create=True) as originals:
                    try:  # the staged bytes: the original
                        if source is None:
                            raise FileNotFoundError(name)
                        original = originals.move_in(source, name)
                    except FileNotFoundError:
                        if originals.stat(name) is None:  # a re-encode: already kept, else
                            original = originals.write(name, data, mode=0o600)
                        else:
                            original = originals.path / name
            except OSError:
                # The image is saved; without its original a later format change costs a
                # request instead of a re-encode, nothing more.
                with contextlib.suppress(OSError):
                    if original_name is None:
                        discard_staged(dest)
                original = None
        else:
            discard_staged(dest)
        return SavedImage(
            dest, len(encoded.data), encoded.width, encoded.height, previous, original
        )

    async with converting if converting is not None else contextlib.nullcontext():
        encoded = await _in_daemon_thread(convert)
    assert encoded is not None  # None only once abandoned, and then nobody is waiting
    saved = await _in_daemon_thread(functools.partial(save, encoded))
    assert saved is not None  # None only once abandoned, and then nobody is waiting
    return saved


async def _in_daemon_thread(function: Callable[[threading.Event], _T]) -> _T:
    """Run ``function`` in a daemon thread; when cancelled, stop waiting and tell it so.

    Not ``anyio.to_thread.run_sync``: cancelling that waits for the thread to finish, and
    its threads are joined when the interpreter exits, so a run interrupted during a
    seconds-long 4K encode would overrun its promise to stop within two seconds. A daemon
    thread is left behind (and dropped at exit); the event it is given says it was
    abandoned, so it skips whatever it had still to do. Callers bound how many run at once.
    """
    token = anyio.lowlevel.current_token()
    finished = anyio.Event()
    abandoned = threading.Event()
    outcome: list[tuple[_T | None, BaseException | None]] = []

    def target() -> None:
        try:
            outcome.append((function(abandoned), None))
        except BaseException as exc:  # handed over to the waiting task
            outcome.append((None, exc))
        with contextlib.suppress(Exception):  # the run is over: nobody to tell
            anyio.from_thread.run_sync(finished.set, token=token)

    threading.Thread(target=target, name="nanobanana-save", daemon=True).start()
    try:
        await finished.wait()
    except BaseException:
        abandoned.set()
        raise
    result, error = outcome[0]
    if error is not None:
        raise error
    return cast(_T, result)


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
            with _open(file) as image:
                image.load()
                if image.format == "PNG":
                    file.seek(-len(_PNG_END), os.SEEK_END)
                    return file.read() == _PNG_END
            return True
    except Exception:
        return False


def _open(file: IO[bytes]) -> Image.Image:
    """Open an image for decoding once its header says it is small enough (pixels unread).

    Raises:
        ImageTooLarge: more than :data:`MAX_IMAGE_PIXELS`.
        UnidentifiedImageError: not PNG, JPEG or WebP.
    """
    try:
        image = Image.open(file, formats=_DECODED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Past Pillow's own limit (89 MP warns; raises at 179 MP, or if warnings are errors).
        raise ImageTooLarge(
            f"the returned image has more than the {MAX_IMAGE_PIXELS:,} pixels decoded at "
            f"most ({exc})"
        ) from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise ImageTooLarge(
            f"the returned image is {width}x{height}, more than the {MAX_IMAGE_PIXELS:,} "
            "pixels decoded at most"
        )
    return image


@contextlib.contextmanager
def _decode(data: bytes) -> Iterator[Image.Image]:
    try:
        image = _open(BytesIO(data))
        image.load()
    except ImageTooLarge:
        raise
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
