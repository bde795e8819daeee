"""The deck's own folders: real folders of the user's, their files reached through them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from other_user import OTHER
from PIL import Image

from nanobanana_async.engine.originals import MAX_ORIGINAL_BYTES
from nanobanana_async.files.deck_folders import (
    ORIGINALS_DIR,
    THUMBS_DIR,
    VERSIONS_DIR,
    UnsafeFolder,
    check_deck_folders,
    deck_folder,
    kept_file,
    read_kept,
)
from nanobanana_async.files.images import keep_version, save_received
from nanobanana_async.files.reading import NotOwn, NotRegular, TooLarge

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def opened(output_dir: Path, name: str, *, create: bool = False) -> None:
    with deck_folder(output_dir, name, create=create):
        pass


def test_a_missing_folder_is_made_private_when_asked_and_only_then(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        opened(tmp_path, THUMBS_DIR)
    assert not (tmp_path / THUMBS_DIR).exists()
    with deck_folder(tmp_path, THUMBS_DIR, create=True) as thumbs:
        assert thumbs.write("a.jpg", b"x", mode=0o644) == tmp_path / THUMBS_DIR / "a.jpg"
    assert (tmp_path / THUMBS_DIR).stat().st_mode & 0o777 == 0o700


def test_a_symlink_is_refused_even_to_a_folder_of_the_users_own(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / VERSIONS_DIR).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFolder) as refused:
        opened(tmp_path, VERSIONS_DIR, create=True)
    assert str(refused.value) == f"{tmp_path / VERSIONS_DIR} is a symlink, not followed"
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_fifo_or_a_file_in_its_place_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ORIGINALS_DIR)
    (tmp_path / THUMBS_DIR).write_bytes(b"")
    with pytest.raises(UnsafeFolder, match="is a FIFO, not a folder"):
        opened(tmp_path, ORIGINALS_DIR)
    with pytest.raises(UnsafeFolder, match="is a regular file, not a folder"):
        opened(tmp_path, THUMBS_DIR, create=True)


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777], ids=oct)
def test_a_folder_others_can_write_in_is_refused(tmp_path: Path, mode: int) -> None:
    (tmp_path / THUMBS_DIR).mkdir()
    (tmp_path / THUMBS_DIR).chmod(mode)
    with pytest.raises(UnsafeFolder, match=f"can be written by others \\(mode {mode:04o}\\)"):
        opened(tmp_path, THUMBS_DIR)


@as_root
def test_another_users_folder_and_files_are_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    (theirs / ORIGINALS_DIR).mkdir(parents=True)
    os.chown(theirs / ORIGINALS_DIR, OTHER, OTHER)
    with pytest.raises(UnsafeFolder, match=f"belongs to another user \\(uid {OTHER}\\)"):
        check_deck_folders(theirs)
    mine = tmp_path / "mine"
    (mine / ORIGINALS_DIR).mkdir(parents=True)
    planted = mine / ORIGINALS_DIR / "slide-01.webp.png"
    planted.write_bytes(b"x")
    os.chown(planted, OTHER, OTHER)
    with pytest.raises(NotOwn):
        read_kept(planted, 10)
    assert not kept_file(planted)


def test_a_folder_swapped_after_the_check_is_never_entered(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with deck_folder(tmp_path, THUMBS_DIR, create=True) as thumbs:
        (tmp_path / THUMBS_DIR).rename(tmp_path / "moved")
        (tmp_path / THUMBS_DIR).symlink_to(elsewhere)
        thumbs.write("slide-01.webp.jpg", b"thumb", mode=0o644)
        assert thumbs.read("slide-01.webp.jpg", 10) == b"thumb"
    assert list(elsewhere.iterdir()) == []
    assert (tmp_path / "moved" / "slide-01.webp.jpg").read_bytes() == b"thumb"


def test_a_kept_file_is_read_without_following_or_blocking(tmp_path: Path) -> None:
    originals = tmp_path / ORIGINALS_DIR
    originals.mkdir(mode=0o700)
    (tmp_path / "secret").write_bytes(b"secret")
    (originals / "link.png").symlink_to(tmp_path / "secret")
    os.mkfifo(originals / "fifo.png")
    (originals / "kept.png").write_bytes(b"kept")
    with pytest.raises(NotRegular, match="is a symlink, not followed"):
        read_kept(originals / "link.png", 100)
    with pytest.raises(NotRegular, match="is a FIFO"):  # O_NONBLOCK: no writer awaited
        read_kept(originals / "fifo.png", 100)
    assert read_kept(originals / "kept.png", 100) == b"kept"
    assert [kept_file(originals / name) for name in ("link.png", "fifo.png", "kept.png")] == [
        False,
        False,
        True,
    ]


def test_an_original_past_any_answers_size_is_refused_unread(tmp_path: Path) -> None:
    originals = tmp_path / ORIGINALS_DIR
    originals.mkdir(mode=0o700)
    huge = originals / "slide-01.webp.png"
    with huge.open("wb") as file:
        file.truncate(3 * 2**30)  # 3 GiB, sparse: nothing on disk, nothing read
    with pytest.raises(TooLarge, match="is over 48 MiB"):
        read_kept(huge, MAX_ORIGINAL_BYTES)


def test_a_kept_file_in_a_symlinked_folder_is_not_kept(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "slide-01.webp.png").write_bytes(b"x")
    (tmp_path / ORIGINALS_DIR).symlink_to(tmp_path / "elsewhere")
    assert not kept_file(tmp_path / ORIGINALS_DIR / "slide-01.webp.png")
    with pytest.raises(UnsafeFolder):
        read_kept(tmp_path / ORIGINALS_DIR / "slide-01.webp.png", 10)


def test_an_image_is_not_moved_into_a_symlinked_versions_folder(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / VERSIONS_DIR).symlink_to(tmp_path / "theirs")
    image = tmp_path / "slide-01.webp"
    image.write_bytes(b"paid for")
    with pytest.raises(UnsafeFolder):
        keep_version(image)
    assert image.read_bytes() == b"paid for"
    assert list((tmp_path / "theirs").iterdir()) == []


async def test_a_save_writes_no_thumbnail_or_original_through_a_symlink(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    deck.mkdir()
    for name in (THUMBS_DIR, ORIGINALS_DIR):
        (tmp_path / name).mkdir()
        (deck / name).symlink_to(tmp_path / name)
    Image.new("RGB", (32, 18), (10, 20, 30)).save(received := tmp_path / "r.png")
    dest = deck / "slide-01.webp"
    data = received.read_bytes()
    saved = await save_received(data, dest, fmt="webp", quality=80, lossless=False, keep=True)
    assert saved.path.is_file()  # the image is saved; its copies are not, anywhere
    assert saved.original is None
    assert list((tmp_path / THUMBS_DIR).iterdir()) == []
    assert list((tmp_path / ORIGINALS_DIR).iterdir()) == []
