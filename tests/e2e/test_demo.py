"""``make demo``: a whole deck through the emulator over HTTP, with the quota at work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine_testing import read_json

from nanobanana_async.cli.demo import SLIDES


def test_the_demo_waits_on_the_quota_and_says_its_images_are_placeholders(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nanobanana_async.cli.demo", "--time-scale", "0.01",
         "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = read_json(tmp_path / "demo" / "results.json")
    assert results["completed"] == len(SLIDES)
    assert results["rate_limit_waits"] >= 1  # the deck is longer than one window
    assert "placeholder images" in done.stdout
    deck = tmp_path / "demo" / "deck"
    assert len(list(deck.glob("slide-*.webp"))) == len(SLIDES)
    for deliverable in ("contact-sheet.png", "deck.pptx", "deck.pdf"):
        assert (deck / deliverable).is_file(), deliverable
