"""The files a run writes: private, never through a planted symlink, and never torn.

Also what happens when they cannot be written: a folder in the way of an image, a file in
the way of ``output_dir``, a folder that takes no new files, a full disk. Each ends in one
clear line, never a traceback; when nothing could be written at all the run is refused
before the first (paid) request.

Root ignores permission bits, so "unwritable" is made real another way: an immutable
folder (``chattr +i``) or a read-only mount for root, ``chmod`` for anyone else. A full
disk is a tiny tmpfs when the test may mount one, and in any case a file-size limit
(``RLIMIT_FSIZE``), which the kernel enforces on every write just as it would a full disk.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_testing import (
    RecordingEmulator,
    check_results_match_disk,
    deck_config,
    decodes,
    environment,
    files_args,
    leftovers,
    read_json,
    run_cli,
    write_json,
)

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[RecordingEmulator, str]]:
    emulator = RecordingEmulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as url:
        yield emulator, url


def run(
    tmp_path: Path,
    service: tuple[RecordingEmulator, str],
    config: dict[str, Any],
    *extra: str,
    preexec: Any = None,
) -> tuple[Any, int]:
    """``nanobanana run`` on ``config``; the completed process and the requests it sent."""
    emulator, url = service
    path = write_json(tmp_path / "slides.json", config)
    before = len(emulator.exchanges)
    args = ["run", "--config", str(path), "--quiet", *files_args(tmp_path), *extra]
    if preexec is None:
        done = run_cli(*args, env=environment(url))
    else:
        done = subprocess.run(
            [sys.executable, "-m", "nanobanana_async", *args],
            capture_output=True,
            env=environment(url),
            timeout=120,
            check=False,
            preexec_fn=preexec,
        )
    return done, len(emulator.exchanges) - before


def one_clear_line(stream: bytes) -> str:
    """The one line said, beside the notice of where the key goes (the service's port)."""
    assert b"Traceback" not in stream
    lines = stream.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_files_are_private_whatever_the_umask(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    deck = tmp_path / "deck"
    done, _ = run(tmp_path, service, deck_config(deck, 2), preexec=lambda: os.umask(0))
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "progress.json") == 0o600
    assert mode(tmp_path / "results.json") == 0o600
    assert mode(tmp_path / "progress.json.lock") == 0o600
    assert mode(deck / "nano-banana-results.json") == 0o600
    # The images are the deliverable, meant to be opened and shared, never writable by others.
    assert {mode(p) for p in deck.glob("slide-*")} == {0o644}


@pytest.mark.parametrize(("umask", "expected"), [(0o077, 0o600), (0o027, 0o640), (0o022, 0o644)])
def test_images_honour_a_restrictive_umask(
    tmp_path: Path, service: tuple[RecordingEmulator, str], umask: int, expected: int
) -> None:
    deck = tmp_path / "deck"
    done, _ = run(tmp_path, service, deck_config(deck, 1), preexec=lambda: os.umask(umask))
    assert done.returncode == 0, done.stderr
    assert {mode(p) for p in deck.glob("slide-*")} == {expected}


def test_symlinks_planted_at_the_files_are_replaced_not_followed(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    deck = tmp_path / "deck"
    deck.mkdir()
    planted = {
        tmp_path / "progress.json": tmp_path / "victim-progress",
        tmp_path / "results.json": tmp_path / "victim-results",
        deck / "nano-banana-results.json": tmp_path / "victim-copy",
        deck / "slide-01.jpg": tmp_path / "victim-image",
    }
    for link, victim in planted.items():
        victim.write_bytes(b"precious " + victim.name.encode())
        victim.chmod(0o644)
        link.symlink_to(victim)
    done, _ = run(tmp_path, service, deck_config(deck, 2, format="jpg"))
    assert done.returncode == 0, done.stderr
    for link, victim in planted.items():
        assert victim.read_bytes() == b"precious " + victim.name.encode()
        assert mode(victim) == 0o644
        assert not link.is_symlink()
        assert link.is_file()
    assert read_json(tmp_path / "progress.json")["state"] == "done"
    check_results_match_disk(read_json(tmp_path / "results.json"), deck, 2)


def test_a_symlink_at_the_lock_path_is_refused(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "progress.json.lock").symlink_to(victim)
    done, sent = run(tmp_path, service, deck_config(tmp_path / "deck", 2))
    assert done.returncode == 2
    assert "symlink" in one_clear_line(done.stderr)
    assert (sent, victim.read_bytes()) == (0, b"precious")
    assert not (tmp_path / "deck").exists()


def test_a_file_in_the_way_of_output_dir_is_refused(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    done, sent = run(tmp_path, service, deck_config(tmp_path / "a-file" / "deck", 2))
    assert done.returncode == 2
    assert one_clear_line(done.stderr).startswith("nanobanana: error: output_dir: ")
    assert sent == 0
    assert not (tmp_path / "progress.json").exists()


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder that takes no new file, even for root."""
    path = tmp_path / "locked"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0:
        yield path
        subprocess.run([chattr, "-i", str(path)], check=True)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("root here can neither make a folder immutable nor mount a read-only one")
    yield path
    subprocess.run(["umount", str(path)], check=True)


def test_an_unwritable_output_dir_is_refused_before_any_request(
    tmp_path: Path, service: tuple[RecordingEmulator, str], unwritable_dir: Path
) -> None:
    done, sent = run(tmp_path, service, deck_config(unwritable_dir, 3))
    assert done.returncode == 2
    line = one_clear_line(done.stderr)
    assert line.startswith(f"nanobanana: error: output_dir: cannot write in {unwritable_dir}")
    assert sent == 0  # no image paid for that could not be saved
    assert list(unwritable_dir.iterdir()) == []
    assert not (tmp_path / "progress.json").exists()


@pytest.mark.parametrize("flag", ["--progress-file", "--results-file"])
@pytest.mark.parametrize("problem", ["missing folder", "a folder in the way"])
def test_a_progress_or_results_file_that_cannot_be_written_is_refused(
    tmp_path: Path, service: tuple[RecordingEmulator, str], flag: str, problem: str
) -> None:
    if problem == "missing folder":
        target = tmp_path / "no-such-folder" / "file.json"
    else:
        target = tmp_path / "a-folder"
        target.mkdir()
    done, sent = run(tmp_path, service, deck_config(tmp_path / "deck", 2), flag, str(target))
    assert done.returncode == 2
    field = flag.removeprefix("--").replace("-", "_")
    assert one_clear_line(done.stderr).startswith(f"nanobanana: error: {field}: cannot write")
    assert sent == 0
    assert not (tmp_path / "deck").exists()


def test_a_folder_in_the_way_of_one_image_fails_that_slide_only(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    deck = tmp_path / "deck"
    (deck / "slide-02.jpg").mkdir(parents=True)
    done, sent = run(tmp_path, service, deck_config(deck, 3, format="jpg"))
    assert done.returncode == 0, done.stderr
    assert sent == 3  # the image for slide 2 was paid for: only the write failed
    assert done.stderr == b""
    assert "slide 2: cannot write" in one_clear_line(done.stdout)
    results = read_json(tmp_path / "results.json")
    assert [(e["slide"], e["kind"]) for e in results["errors"]] == [(2, "OSError")]
    assert results["errors"][0]["error"] == (
        f"cannot write {deck / 'slide-02.jpg'}: Is a directory; the image received is kept: "
        "--resume saves it without asking again"
    )
    assert [o["slide"] for o in results["outputs"]] == [1, 3]
    assert all(decodes(Path(o["path"])) for o in results["outputs"])
    assert not [p for p in deck.iterdir() if p.name.endswith(".tmp")]
    # Once the folder is out of the way, resume saves the paid image without a request.
    (deck / "slide-02.jpg").rmdir()
    done, sent = run(tmp_path, service, deck_config(deck, 3, format="jpg"), "--resume")
    assert (done.returncode, sent) == (0, 0), done.stderr
    check_results_match_disk(read_json(tmp_path / "results.json"), deck, 3)
    assert leftovers(deck) == []


def check_disk_trouble(tmp_path: Path, deck: Path, done: Any, total: int, reason: str) -> None:
    assert done.returncode in (0, 1), done.stderr
    assert b"Traceback" not in done.stderr
    assert len(done.stdout.splitlines()) == 1
    results = read_json(tmp_path / "results.json")
    assert results["failed"] >= 1
    for error in results["errors"]:
        assert error["error"].startswith(f"cannot write {deck}/slide-")
        assert f": {reason}" in error["error"]
    listed = {Path(o["path"]).name for o in results["outputs"]}
    on_disk = {p.name for p in deck.glob("slide-*")}
    assert on_disk == listed  # nothing half-written under a final name
    assert all(decodes(deck / name) for name in on_disk)
    assert not [p for p in deck.iterdir() if p.name.endswith(".tmp")]
    # What was received whole but could not be converted is kept for --resume.
    assert all(decodes(p) for p in deck.glob(".*.received"))
    assert results["completed"] + results["failed"] == total
    print(f"{results['completed']} saved, {results['failed']} failed: {results['errors'][0]}")


def test_a_full_disk_fails_slides_with_one_clear_line(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the file-size-limit test covers the case)")
    try:
        deck = disk / "deck"
        # About 34 KB a JPEG: room for a few, then the disk is full.
        done, _ = run(tmp_path, service, deck_config(deck, 6, format="jpg", concurrency=1))
        check_disk_trouble(tmp_path, deck, done, 6, "No space left on device")
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping the size of every file the child writes at ``limit`` bytes."""

    def apply() -> None:
        # Ignoring SIGXFSZ turns the kernel's "kill" into the EFBIG error a program handles.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


def test_a_file_size_limit_fails_every_slide_with_one_clear_line(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    deck = tmp_path / "deck"
    # Big enough for the progress and results files, too small for any image.
    done, _ = run(tmp_path, service, deck_config(deck, 3), preexec=_file_size_limit(8192))
    check_disk_trouble(tmp_path, deck, done, 3, "File too large")
    assert done.returncode == 1
    assert read_json(tmp_path / "results.json")["failed"] == 3
    assert read_json(tmp_path / "progress.json")["state"] == "done"


def test_a_progress_file_that_cannot_take_its_first_snapshot_is_refused(
    tmp_path: Path, service: tuple[RecordingEmulator, str]
) -> None:
    # An empty file fits (the writability check passes), the first snapshot does not.
    deck = tmp_path / "deck"
    done, sent = run(tmp_path, service, deck_config(deck, 2), preexec=_file_size_limit(100))
    assert done.returncode == 2
    line = one_clear_line(done.stderr)
    assert line == (
        f"nanobanana: error: cannot write progress file {tmp_path / 'progress.json'}: "
        "File too large"
    )
    assert sent == 0
    assert not (tmp_path / "progress.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
