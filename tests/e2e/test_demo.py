"""``make demo``: a whole deck through the emulator over HTTP, with the quota at work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine_testing import read_json

from nanobanana_async.cli.demo import SLIDES


def demo(tmp_path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nanobanana_async.cli.demo", "--time-scale", "0.01",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_each_demo_run_generates_the_deck_and_waits_on_the_quota(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    deck = out / "deck"
    for run in (1, 2):
        done = demo(tmp_path, out)
        assert done.returncode == 0, done.stderr
        results = read_json(out / "results.json")
        # A second demo must not keep the first one's slides and show nothing.
        assert results["completed"] == len(SLIDES), run
        assert results["requests"] >= len(SLIDES), run
        assert results["rate_limit_waits"] >= 1, run  # the deck is longer than one window
        assert "placeholder images" in done.stdout
        assert ("played again" in done.stdout) == (run == 2)
        assert len(list(deck.glob("slide-*.webp"))) == len(SLIDES)
        for deliverable in ("contact-sheet.png", "deck.pptx", "deck.pdf"):
            assert (deck / deliverable).is_file(), deliverable
    # Nothing made is lost: the first run's images are the second's previous versions.
    assert len(list((deck / ".versions").glob("slide-*.webp"))) == len(SLIDES)


def test_the_demo_never_writes_into_a_folder_it_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = demo(tmp_path, out)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"demo: {out} is not the demo's folder; move it away or pass --out DIR"
    ]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
