"""The deck's own images read back to be sent: the kept originals, and a slide's image.

Under ``"consistency": "first-slide"`` the first slide's image, as the service sent it, goes
with every other slide: the plan reads it from ``.originals/`` when it keeps the first
slide, the run when it has just made it (or, failing an original, from the image itself).
Both read it here, as any file someone else may have put in place: through the deck's own
folder, never a symlink, never blocking, capped, then checked as a reference image is. A
re-encode reads its original under :data:`MAX_ORIGINAL_BYTES`.
"""

from __future__ import annotations

from pathlib import Path

from ..config.references import ReferenceImage, checked_reference
from ..config.schema import MAX_REFERENCE_BYTES
from ..errors import ConfigError
from ..files.deck_folders import UnsafeFolder, read_kept
from ..files.reading import NotReadable, read_regular
from ..service.client import DEFAULT_MAX_ANSWER_BYTES

__all__ = ["MAX_ORIGINAL_BYTES", "kept_reference"]

MAX_ORIGINAL_BYTES = DEFAULT_MAX_ANSWER_BYTES * 3 // 4
"""The largest original read back: the image of the largest answer read, decoded from its
base64 (48 MiB). A bigger file under an original's name was not sent by the service."""


def kept_reference(path: Path, where: str, *, kept: bool = True) -> ReferenceImage:
    """The deck's image at ``path``, read to be sent as the first slide's image.

    Read as an untrusted file (no symlink, never blocking, at most what a request takes),
    then checked as a reference image is.

    Args:
        kept: ``path`` is an original in the deck's ``.originals`` (read through that
            folder); ``False``: a slide's image in the deck's folder.

    Raises:
        ConfigError: for ``where``, saying what is wrong with the file.
    """
    try:
        if kept:
            data = read_kept(path, MAX_REFERENCE_BYTES)
        else:
            data = read_regular(path, MAX_REFERENCE_BYTES)
    except FileNotFoundError:
        raise ConfigError(where, f"{path} is not there") from None
    except UnsafeFolder as unsafe:  # the folder, not the file
        raise ConfigError(where, str(unsafe)) from None
    except NotReadable as refused:
        raise ConfigError(where, f"{path} {refused.reason}") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror or exc}") from None
    return checked_reference(data, path, where)
