"""Who tunes the C allocator for a CLI run: glibc's mmap threshold, pinned at 1 MiB.

A run frees many large, short-lived buffers (decoded images, encoded answers); under glibc's
dynamic threshold they come to live in arena heaps that seldom give memory back, and peak
memory wandered from run to run. Only ``nanobanana run`` calls :func:`pin_mmap_threshold`
(a library must not change its host's allocator), never over a threshold the user set
(``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES``); off glibc it does nothing.
Why: docs/design.md, "Memory".
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
