"""Permission checks that run as root too: root without the powers that skip them.

Root reads a file of mode 000 and writes into a folder of mode 0500, so a test of what a
refused read or write does used to skip under root, and CI runs as root. Root's pass comes
from three capabilities, not from its uid: ``CAP_DAC_OVERRIDE`` (read, write, search past
the mode bits), ``CAP_DAC_READ_SEARCH`` (read and search) and ``CAP_FOWNER`` (act on any
owner's file). :func:`permissions_enforced` takes them out of the calling thread's
effective set for a ``with`` block and puts them back after, so the kernel judges root by
the owner's bits, as it judges anyone: the code under test meets the real refusal.

Capabilities belong to a thread (``capset(2)`` on Linux), so only code run in the calling
thread is held to the bits: call the code under test synchronously inside the block. As
another user, there is nothing to drop and the block changes nothing.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["permissions_enforced"]

_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2
_CAP_FOWNER = 3
_DROPPED = (1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH) | (1 << _CAP_FOWNER)


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _call(name: str, header: _Header, data: ctypes.Array[_Data]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(ctypes.byref(header), data) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{name}: {os.strerror(errno)}")


@contextmanager
def permissions_enforced() -> Iterator[None]:
    """Within the block, the calling thread is held to files' mode bits, even as root."""
    if os.geteuid() != 0:
        yield
        return
    header = _Header(_VERSION_3, 0)  # pid 0: the calling thread
    data = (_Data * 2)()
    _call("capget", header, data)
    before = data[0].effective
    data[0].effective = before & ~_DROPPED  # the three are in the first word
    _call("capset", header, data)
    try:
        yield
    finally:
        data[0].effective = before
        _call("capset", header, data)
