"""``run --detach`` through the skill's launcher: the follow-up it prints runs as printed."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from engine_testing import deck_config, read_json, write_json

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "skill" / "nano-banana" / "scripts" / "nanobanana"
ENGINE = REPO / ".venv" / "bin" / "nanobanana"


def test_the_printed_follow_command_exists_and_follows_the_run(tmp_path: Path) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    progress = tmp_path / "progress.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    env["NANOBANANA_BIN"] = str(ENGINE)
    env["PATH"] = "/usr/bin:/bin"  # no nanobanana on PATH, as for an agent using the skill
    started = subprocess.run(
        [str(LAUNCHER), "run", "--config", str(config), "--detach", "--emulator",
         "--emulator-time-scale", "0.001", "--progress-file", str(progress),
         "--results-file", str(tmp_path / "results.json")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    follow = started.stdout.strip().split("follow: ", 1)[1]
    argv = shlex.split(follow)
    assert argv[0] == str(LAUNCHER)
    assert argv[1:] == ["wait", "--progress-file", str(progress)]
    for _ in range(20):
        waited = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if waited.returncode != 124:
            break
    assert waited.returncode == 0, waited.stderr
    assert read_json(tmp_path / "results.json")["completed"] == 2
