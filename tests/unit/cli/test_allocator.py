"""glibc's mmap threshold: pinned for a CLI run, only on glibc, never over the user's choice."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from nanobanana_async.cli.allocator import MMAP_THRESHOLD, pin_mmap_threshold


def _on_glibc() -> bool:
    return sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")


glibc_only = pytest.mark.skipif(not _on_glibc(), reason="needs Linux with glibc")

# Run in a child, so the test process keeps its allocator as it was. Frees a 4 MiB block
# (which raises glibc's dynamic threshold to 4 MiB), then asks for 2 MiB and reads the
# chunk header's IS_MMAPPED bit: did the block get its own mapping?
_PROBE = """
import ctypes, sys
from nanobanana_async.cli.allocator import pin_mmap_threshold
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(4 << 20))
block = libc.malloc(2 << 20)
header = ctypes.c_size_t.from_address(block - ctypes.sizeof(ctypes.c_size_t)).value
print(pinned, bool(header & 2))
libc.free(block)
"""


def _probe(mode: str) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in {"MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"}
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


class FakeMallopt:
    """Stands in for ``libc.mallopt``: records calls, answers like glibc (1 is success)."""

    def __init__(self, answer: int = 1) -> None:
        self.answer = answer
        self.calls: list[tuple[int, int]] = []
        self.argtypes: Any = None
        self.restype: Any = None

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answer


def _libc(mallopt: FakeMallopt, *, glibc: bool = True) -> SimpleNamespace:
    if glibc:
        return SimpleNamespace(mallopt=mallopt, gnu_get_libc_version=lambda: b"2.99")
    return SimpleNamespace(mallopt=mallopt)


@glibc_only
def test_pinned_threshold_keeps_large_blocks_mapped() -> None:
    assert _probe("pin") == "True True"


@glibc_only
def test_importing_the_package_leaves_the_threshold_dynamic() -> None:
    # The control for the test above: the probe imports the package but does not pin.
    assert _probe("import") == "False False"


def test_calls_mallopt_with_glibc_constants() -> None:
    mallopt = FakeMallopt()
    assert pin_mmap_threshold(_libc(mallopt), environ={}) is True
    assert mallopt.calls == [(-3, 1 << 20)]  # M_MMAP_THRESHOLD, 1 MiB
    assert MMAP_THRESHOLD == 1 << 20


@pytest.mark.parametrize(
    "environ",
    [
        {"MALLOC_MMAP_THRESHOLD_": "65536"},
        {"MALLOC_MMAP_THRESHOLD_": ""},
        {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"},
    ],
)
def test_a_user_setting_is_left_alone(environ: dict[str, str]) -> None:
    mallopt = FakeMallopt()
    assert pin_mmap_threshold(_libc(mallopt), environ=environ) is False
    assert mallopt.calls == []


def test_other_tunables_do_not_stop_it() -> None:
    mallopt = FakeMallopt()
    assert pin_mmap_threshold(
        _libc(mallopt), environ={"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    )
    assert mallopt.calls == [(-3, 1 << 20)]


def test_not_glibc_is_a_no_op() -> None:
    mallopt = FakeMallopt()
    assert pin_mmap_threshold(_libc(mallopt, glibc=False), environ={}) is False
    assert mallopt.calls == []


def test_never_raises() -> None:
    assert pin_mmap_threshold(_libc(FakeMallopt(answer=0)), environ={}) is False  # refused
    no_mallopt = SimpleNamespace(gnu_get_libc_version=lambda: b"2.99")
    assert pin_mmap_threshold(no_mallopt, environ={}) is False
