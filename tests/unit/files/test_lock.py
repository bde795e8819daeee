"""One run per progress file, checked from a second process as it happens in real life."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nanobanana_async.errors import RunLockedError
from nanobanana_async.files.lock import DECK_LOCK_NAME, DeckLock, RunLock, lock_holder

# The second process tries the same lock and reports: "ok" or the refusal message.
_TRY = """
import sys
from pathlib import Path
from nanobanana_async.errors import RunLockedError
from nanobanana_async.files.lock import RunLock
try:
    with RunLock(Path(sys.argv[1])):
        print("ok")
except RunLockedError as exc:
    print(exc)
    sys.exit(3)
"""


def _other_process(progress: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _TRY, str(progress)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_second_process_refused_while_held_then_allowed(tmp_path: Path) -> None:
    progress = tmp_path / "nano-banana-progress.json"
    with RunLock(progress) as lock:
        assert lock.held
        refused = _other_process(progress)
        assert refused.returncode == 3, refused.stderr
        assert refused.stdout.strip() == (
            f"another nanobanana run (pid {os.getpid()}) is writing {progress}; wait for it "
            "(nanobanana wait) or give this run its own files: "
            "--progress-file FILE --results-file FILE"
        )
    assert not lock.held
    allowed = _other_process(progress)
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "ok"), allowed.stderr


def test_lock_file_is_private_and_names_holder(tmp_path: Path) -> None:
    progress = tmp_path / "p.json"
    old = os.umask(0)
    try:
        with RunLock(progress) as lock:
            assert lock.lock_path == tmp_path / "p.json.lock"
            assert stat.S_IMODE(lock.lock_path.stat().st_mode) == 0o600
            assert lock.lock_path.read_text().strip() == str(os.getpid())
    finally:
        os.umask(old)
    assert lock.lock_path.exists()  # never unlinked: see the module docstring
    assert lock.lock_path.read_text() == ""


def test_second_lock_in_same_process_is_refused(tmp_path: Path) -> None:
    progress = tmp_path / "p.json"
    with RunLock(progress), pytest.raises(RunLockedError, match="another nanobanana run"):
        RunLock(progress).acquire()


def test_stale_pid_file_without_lock_does_not_block(tmp_path: Path) -> None:
    progress = tmp_path / "p.json"
    (tmp_path / "p.json.lock").write_text("999999\n")
    with RunLock(progress) as lock:
        assert lock.held


def test_symlinked_lock_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "p.json.lock").symlink_to(target)
    with pytest.raises(RunLockedError, match="symlink"):
        RunLock(tmp_path / "p.json").acquire()
    assert target.read_text() == "keep"


def test_release_is_idempotent_and_reacquire_works(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "p.json")
    lock.acquire()
    with pytest.raises(RuntimeError):
        lock.acquire()
    lock.release()
    lock.release()
    with lock:
        assert "held" in repr(lock)


def test_lock_holder_is_the_process_holding_the_lock_and_none_once_free(tmp_path: Path) -> None:
    progress = tmp_path / "progress.json"
    assert lock_holder(progress) is None
    with RunLock(progress):
        assert lock_holder(progress) == os.getpid()
    assert lock_holder(progress) is None


def test_a_deck_lock_refuses_a_second_run_on_the_same_folder(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    deck.mkdir()
    with DeckLock(deck):
        with pytest.raises(RunLockedError, match=r"is making the deck in .*deck; wait for it"):
            DeckLock(deck).acquire()
        assert (deck / DECK_LOCK_NAME).read_text().strip() == str(os.getpid())
    with DeckLock(deck):  # free again once the first let go
        pass


def test_a_lock_file_that_cannot_be_opened_is_named_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "progress.json.lock").mkdir()  # in the way of the lock file
    with pytest.raises(RunLockedError) as refused:
        RunLock(tmp_path / "progress.json").acquire()
    message = str(refused.value)
    assert str(tmp_path / "progress.json.lock") in message
    assert "Is a directory" in message
    assert "\n" not in message
