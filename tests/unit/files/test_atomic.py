"""Atomic writes: exact permissions, symlinks replaced not followed, no temp left behind."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from other_user import OTHER
from privileges import permissions_enforced

from nanobanana_async.files.atomic import (
    TEMP_SUFFIX,
    ForeignFileError,
    NotRegularFileError,
    check_writable,
    cleanup_temp_files,
    write_atomic,
)

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_writes_content_and_replaces_existing(tmp_path: Path) -> None:
    target = tmp_path / "progress.json"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert _leftovers(tmp_path) == []


def test_a_str_path_is_taken_as_a_path(tmp_path: Path) -> None:
    target = str(tmp_path / "out.json")
    check_writable(target, ours=True)
    write_atomic(target, b"{}")
    assert Path(target).read_bytes() == b"{}"


def test_large_payload_written_whole(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    target = tmp_path / "image.webp"
    write_atomic(target, data, mode=0o644)
    assert target.read_bytes() == data


@pytest.mark.usefixtures("permissive_umask")
@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    target.chmod(0o666)  # the old file's bits must not survive the replacement
    write_atomic(target, b"{}", mode=mode)
    assert _mode(target) == mode


def test_mode_adds_bits_a_strict_umask_removes(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "img.png", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "img.png") == 0o644


def test_symlink_at_destination_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / "nano-banana-progress.json"
    link.symlink_to(victim)

    write_atomic(link, b"{}")

    assert not link.is_symlink()
    assert link.read_bytes() == b"{}"
    assert victim.read_bytes() == b"precious"


def test_failure_mid_write_removes_temp_and_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "progress.json"
    target.write_bytes(b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_read_only_directory_raises_and_leaves_nothing(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with permissions_enforced(), pytest.raises(PermissionError):  # root too
            write_atomic(locked / "progress.json", b"{}")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nope" / "progress.json", b"{}")


def test_temp_name_shape_is_what_cleanup_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path, **dir_fds: int | None) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "slide-01.webp", b"x")
    [name] = seen
    assert name.startswith(".slide-01.webp.")
    assert name.endswith(TEMP_SUFFIX)
    monkeypatch.undo()
    (tmp_path / name).write_bytes(b"leftover")
    assert cleanup_temp_files(tmp_path) == 1


def test_cleanup_removes_only_our_pattern(tmp_path: Path) -> None:
    ours = [".slide-01.webp.0123456789abcdef.tmp", ".progress.json.fedcba9876543210.tmp"]
    others = [
        "slide-01.webp",
        ".slide-01.webp.tmp",  # no random part
        "slide-01.webp.0123456789abcdef.tmp",  # not hidden
        ".slide-01.webp.0123456789ABCDEF.tmp",  # upper-case hex: not ours
        ".slide-01.webp.0123456789abcde.tmp",  # 15 digits
        ".slide-01.webp.0123456789abcdef.tmp.bak",
        "notes.tmp",
    ]
    for name in ours + others:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".dir.0123456789abcdef.tmp").mkdir()  # not a regular file
    target = tmp_path / "keep.txt"
    target.write_bytes(b"keep")
    (tmp_path / ".link.0123456789abcdef.tmp").symlink_to(target)

    assert cleanup_temp_files(tmp_path) == 2

    remaining = {p.name for p in tmp_path.iterdir()}
    assert not remaining & set(ours)
    assert set(others) <= remaining
    assert {".dir.0123456789abcdef.tmp", ".link.0123456789abcdef.tmp"} <= remaining
    assert target.read_bytes() == b"keep"


def test_cleanup_prefix_limits_to_one_file(tmp_path: Path) -> None:
    (tmp_path / ".progress.json.0123456789abcdef.tmp").write_bytes(b"x")
    (tmp_path / ".slide-01.webp.0123456789abcdef.tmp").write_bytes(b"x")
    assert cleanup_temp_files(tmp_path, ".progress.json.") == 1
    assert _leftovers(tmp_path) == [".slide-01.webp.0123456789abcdef.tmp"]


def test_cleanup_min_age_spares_fresh_temps(tmp_path: Path) -> None:
    fresh = tmp_path / ".a.png.0123456789abcdef.tmp"
    stale = tmp_path / ".b.png.0123456789abcdef.tmp"
    fresh.write_bytes(b"x")
    stale.write_bytes(b"x")
    os.utime(stale, (1_000_000, 1_000_000))
    assert cleanup_temp_files(tmp_path, min_age=3600) == 1
    assert fresh.exists()
    assert not stale.exists()


def test_cleanup_missing_directory_is_zero(tmp_path: Path) -> None:
    assert cleanup_temp_files(tmp_path / "absent") == 0


# -- check_writable: what a run checks before it pays for anything ------------------------

root_only = pytest.mark.skipif(not IS_ROOT, reason="only root can chown to another user")


def test_check_writable_takes_a_new_file_a_file_and_a_symlink_of_ones_own(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_bytes(b"old")
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere")
    for name in ("new.json", "old.json", "link.json"):
        check_writable(tmp_path / name, ours=True)
    assert (tmp_path / "old.json").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_check_writable_refuses_what_is_not_a_regular_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "progress.json"
    os.mkfifo(fifo)
    listening = socket.socket(socket.AF_UNIX)
    # A socket's path is capped at 107 bytes, which an xdist worker's tmp_path can pass.
    monkeypatch.chdir(tmp_path)
    try:
        listening.bind("results.json")
        for path, kind in ((fifo, "a FIFO"), (tmp_path / "results.json", "a socket")):
            with pytest.raises(NotRegularFileError) as raised:
                check_writable(path)
            assert raised.value.kind == kind
            assert raised.value.strerror == f"{path.name} is {kind}, not a regular file"
    finally:
        listening.close()
    with pytest.raises(IsADirectoryError):
        check_writable(tmp_path)
    assert _leftovers(tmp_path) == []


@root_only
def test_check_writable_refuses_another_users_file_when_told_to(tmp_path: Path) -> None:
    theirs = tmp_path / "results.json"
    theirs.write_bytes(b"theirs")
    os.chown(theirs, OTHER, OTHER)
    check_writable(theirs)  # a folder of one's own: a rename over it would work
    with pytest.raises(ForeignFileError) as raised:
        check_writable(theirs, ours=True)
    assert raised.value.uid == OTHER
    link = tmp_path / "progress.json"
    link.symlink_to(tmp_path / "elsewhere")
    os.lchown(link, OTHER, OTHER)  # in a sticky /tmp, their link cannot be renamed over
    with pytest.raises(ForeignFileError):
        check_writable(link, ours=True)
    assert theirs.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []
