"""Reading a file someone else may have put in place: never blocking, capped, judged as opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from other_user import OTHER

from nanobanana_async.files.reading import NotOwn, NotRegular, TooLarge, read_regular


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 3000)
    assert read_regular(path, 3000) == b"x" * 3000


def test_nothing_there_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotRegular, match="is a FIFO"):
        read_regular(fifo, 10)


def test_a_directory_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(NotRegular) as refused:
        read_regular(tmp_path, 10)
    assert refused.value.kind == "a directory"


def test_a_symlink_is_refused_unless_followed_on_purpose(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"s")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(NotRegular, match="is a symlink, not followed"):
        read_regular(link, 10)
    assert read_regular(link, 10, follow=True) == b"s"


def test_over_the_cap_is_refused_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    with pytest.raises(TooLarge, match="is over 10 bytes") as refused:
        read_regular(path, 10)
    assert refused.value.size == 11


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_another_users_file_is_refused_when_only_ones_own_is_believed(tmp_path: Path) -> None:
    path = tmp_path / "theirs"
    path.write_bytes(b"{}")
    os.chown(path, OTHER, OTHER)
    assert read_regular(path, 10) == b"{}"
    with pytest.raises(NotOwn, match=rf"belongs to another user \(uid {OTHER}\)"):
        read_regular(path, 10, own=True)


def test_a_nul_in_the_path_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="null"):
        read_regular(Path(str(tmp_path) + "/a\x00b"), 10)
