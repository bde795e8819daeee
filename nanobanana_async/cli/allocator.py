"""Who tunes the C allocator for a CLI run: glibc's mmap threshold, pinned at 1 MiB.

Why: a run holds many large, short-lived buffers (the decoded 4K images Pillow works on and
the encoded ``bytes`` of each answer, 2 to 68 MB). glibc serves a block above its mmap
threshold with its own ``mmap`` and returns it to the system on ``free``, but the threshold
is dynamic: after the first large block is freed it rises to that block's size (up to
32 MiB on 64-bit), and later buffers then come from the per-thread arena heaps, which seldom
give freed memory back. So peak RSS wandered: a 100-slide deck of 4K images against a
10-slide one measured anywhere from 1.00x to 1.40x, from run to run. With
the threshold pinned at 1 MiB (``MALLOC_MMAP_THRESHOLD_=1048576``, which also turns the
dynamic adjustment off) the ratio was a steady 1.13.

Only ``nanobanana run`` calls :func:`pin_mmap_threshold`, at its start: importing
``nanobanana_async`` changes nothing, since a library must not change its host's
allocator. A threshold the user chose (``MALLOC_MMAP_THRESHOLD_`` or
``glibc.malloc.mmap_threshold`` in ``GLIBC_TUNABLES``) is left alone; glibc has already
applied it. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["MMAP_THRESHOLD", "pin_mmap_threshold"]

MMAP_THRESHOLD = 1 << 20
"""Bytes: blocks this large or larger get their own mapping, given back when freed."""

_M_MMAP_THRESHOLD = -3  # from glibc's <malloc.h>
_USER_VARIABLE = "MALLOC_MMAP_THRESHOLD_"
_USER_TUNABLE = "glibc.malloc.mmap_threshold"


def pin_mmap_threshold(libc: Any = None, environ: Mapping[str, str] | None = None) -> bool:
    """Set glibc's mmap threshold to :data:`MMAP_THRESHOLD`, if that is ours to do.

    Never raises: a tuning knob is no reason to stop a run.

    Args:
        libc: the C library to call, by default the one this process runs on
            (``ctypes.CDLL(None)``); a parameter so tests can hand in another.
        environ: where to look for the user's own setting, by default ``os.environ``.

    Returns:
        Whether the threshold was set: ``False`` off glibc, when the user set one, or when
        ``mallopt`` refused.
    """
    env = os.environ if environ is None else environ
    if _USER_VARIABLE in env or _USER_TUNABLE in env.get("GLIBC_TUNABLES", ""):
        return False
    if libc is None and not sys.platform.startswith("linux"):
        return False
    try:
        # Here, not at the top: ``nanobanana --help`` should not pay for ctypes.
        import ctypes

        lib = ctypes.CDLL(None) if libc is None else libc
        # Only glibc has this symbol (musl's mallopt is a stub that changes nothing).
        if not hasattr(lib, "gnu_get_libc_version"):
            return False
        mallopt = lib.mallopt
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except Exception:
        return False
