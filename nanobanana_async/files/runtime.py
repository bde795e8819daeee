"""The user's private runtime folder: what the runs of one machine share while it is up.

``$XDG_RUNTIME_DIR/nano-banana/``, else ``$TMPDIR/nano-banana-<uid>/``, created 0700. A
folder there that is not a real directory of the user's, or that others can write into, is
not used (``None``): whoever can write in it could stall runs through the quota ledger, or
plant what a reading cache says an image shows.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["private_dir", "runtime_folder"]


def private_dir(path: Path) -> bool:
    """A real directory of ours that nobody else can write into."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def runtime_folder(env: Mapping[str, str] | None = None, *parts: str) -> Path | None:
    """The private runtime folder (made if missing), or ``parts`` under it, each made 0700;
    ``None`` when one of them is not :func:`private_dir`."""
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and private_dir(Path(runtime)):
        folder = Path(runtime) / "nano-banana"
    else:
        temp = env.get("TMPDIR") or tempfile.gettempdir()
        folder = Path(temp) / f"nano-banana-{os.getuid()}"
    for part in ("", *parts):
        folder = folder / part if part else folder
        with contextlib.suppress(OSError):
            folder.mkdir(mode=0o700, exist_ok=True)
        if not private_dir(folder):
            return None
    return folder
