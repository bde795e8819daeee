"""The suite never touches the user's real run files: a real run may be using them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nanobanana_async.exits import DEFAULT_PROGRESS_FILE, DEFAULT_RESULTS_FILE
from nanobanana_async.ledger.file import default_ledger_path


def test_default_files_are_the_suites_own() -> None:
    suite_tmp = Path(os.environ["TMPDIR"])
    assert suite_tmp.name == "tmp"
    assert suite_tmp.parent.name.startswith("nanobanana-tests-")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # each xdist worker has folders of its own, shared with no other worker
        assert suite_tmp.parent.name.startswith(f"nanobanana-tests-{worker}-")
    assert DEFAULT_PROGRESS_FILE.parent == suite_tmp
    assert DEFAULT_RESULTS_FILE.parent == suite_tmp
    ledger = default_ledger_path(os.environ)
    assert ledger is not None
    assert ledger.is_relative_to(suite_tmp.parent)


def test_a_command_without_file_options_reads_the_suites_defaults(tmp_path: Path) -> None:
    progress = Path(os.environ["TMPDIR"]) / "nano-banana-progress.json"
    progress.write_text('{"state": "done", "current": 1, "total": 7, "output_dir": "/x"}')
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nanobanana_async", "status"],
            capture_output=True,
            check=False,
            cwd=tmp_path,
        )
    finally:
        progress.unlink()
    assert b" of 7 saved" in done.stdout, done.stderr
