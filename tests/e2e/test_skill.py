"""The nano-banana skill: valid under the Agent Skills spec, true to the code, cheap to follow.

The reference's examples are executed here against the emulator: its config blocks must
load, its progress and results examples must have exactly the fields the real files have,
and its shell blocks must run through the skill's own launcher. The agent's documented
workflow is played for a 10- and a 50-slide deck while counting every byte the agent reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from skills_ref import validate

from nanobanana_async.config.loading import load_config
from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

REPO = Path(__file__).resolve().parents[2]
SKILL = REPO / "skill" / "nano-banana"
LAUNCHER = SKILL / "scripts" / "nanobanana"
REFERENCE = SKILL / "references" / "batch-generation.md"
BLOCK = re.compile(r"^[ ]*```(\w+)\n(.*?)^[ ]*```", re.S | re.M)
KEY = "skill-test-key-123456"


def blocks(path: Path, language: str) -> list[str]:
    found = BLOCK.findall(path.read_text())
    return [textwrap.dedent(body) for lang, body in found if lang == language]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(EmulatorSettings(time_scale=0.01, seed=3)) as url:
        yield url


def agent_env(base_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "NANO"))}
    env.update(GEMINI_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=base_url, HOME=str(home))
    return env


def test_the_skill_is_valid() -> None:
    assert validate(SKILL) == []
    text = (SKILL / "SKILL.md").read_text()
    front = text.split("---")[1]
    description = re.search(r"^description: (.*)$", front, re.M)
    assert description is not None
    assert len(description.group(1)) <= 1024
    assert "<" not in description.group(1)
    assert ">" not in description.group(1)
    assert len(text.splitlines()) < 200
    assert "references/batch-generation.md" in text


def test_every_config_example_loads(tmp_path: Path) -> None:
    configs = [
        orjson.loads(body)
        for path in (SKILL / "SKILL.md", REFERENCE)
        for body in blocks(path, "json")
        if '"slides"' in body
    ]
    assert len(configs) >= 2
    for config in configs:
        loaded = load_config(config, env={"GEMINI_API_KEY": KEY}, base_dir=tmp_path)
        assert loaded.slides


def _example(marker: str) -> dict[str, Any]:
    for body in blocks(REFERENCE, "json"):
        if marker in body:
            found: dict[str, Any] = orjson.loads(body)
            return found
    raise AssertionError(f"no example with {marker}")


def test_file_examples_have_the_real_fields(tmp_path: Path, base_url: str) -> None:
    config = tmp_path / "c.json"
    config.write_bytes(
        orjson.dumps({"slides": [{"number": 1, "prompt": "x"}], "output_dir": str(tmp_path / "d")})
    )
    env = agent_env(base_url, tmp_path)
    done = subprocess.run(
        [str(LAUNCHER), "run", "--config", str(config), "--progress-file", str(tmp_path / "p.json"),
         "--results-file", str(tmp_path / "r.json")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    progress = orjson.loads((tmp_path / "p.json").read_bytes())
    results = orjson.loads((tmp_path / "r.json").read_bytes())
    assert set(_example('"in_flight"')) == set(progress)
    results_example = _example('"outputs"')
    assert set(results_example) == set(results)
    assert set(results_example["outputs"][0]) == set(results["outputs"][0])


def test_the_reference_shell_examples_run(tmp_path: Path, base_url: str) -> None:
    """Each ``sh`` block, in order, through the launcher; ``slides.json`` is the example deck.

    The configs go where the reference says to write them, in the user's own cache folder
    (``~`` expanded as the shell would, ``HOME`` being ``tmp_path``).
    """
    deck = next(orjson.loads(b) for b in blocks(REFERENCE, "json") if '"slides"' in b)
    # The example's absolute folder, in the user's home (``tmp_path`` here).
    deck["output_dir"] = deck["output_dir"].replace("/home/me/", f"{tmp_path}/", 1)
    configs = tmp_path / ".cache" / "nano-banana"
    configs.mkdir(parents=True)
    (configs / "slides.json").write_bytes(orjson.dumps(deck))
    small = {**deck, "slides": deck["slides"][:2], "output_dir": f"{tmp_path}/small/"}
    (configs / "small.json").write_bytes(orjson.dumps(small))
    env = agent_env(base_url, tmp_path)
    commands = [line for body in blocks(REFERENCE, "sh") for line in body.splitlines() if line]
    assert len(commands) >= 4
    assert all("~/.cache/nano-banana/" in c for c in commands if " --config " in c)
    for command in commands:
        argv = [f"{tmp_path}/{a[2:]}" if a.startswith("~/") else a for a in command.split()]
        assert argv[0] == "NB"
        done = subprocess.run(
            [str(LAUNCHER), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode in (0, 124), f"{command}: {done.stdout}{done.stderr}"
        # One line each, the run's; an export asked for adds one short line per file.
        lines = done.stdout.splitlines()
        assert len([line for line in lines if not line.startswith("export")]) == 1, command
        assert len(lines) <= 1 + ("--export" in argv) * 2, command
        if argv[1] == "wait":
            _wait_for_end(env, tmp_path)
    assert len(list((tmp_path / "001-cicd-deck").glob("slide-*.webp"))) == 4
    assert (tmp_path / "001-cicd-deck" / "closing.png").exists()
    assert len(list((tmp_path / "small").glob("slide-*.webp"))) == 2


def _wait_for_end(env: dict[str, str], cwd: Path) -> None:
    for _ in range(100):
        done = subprocess.run(
            [str(LAUNCHER), "wait"], cwd=cwd, env=env, capture_output=True, text=True, timeout=200,
            check=False,
        )  # fmt: skip
        if done.returncode != 124:
            return
    raise AssertionError("the run never ended")


def play_workflow(count: int, base_url: str, tmp_path: Path) -> tuple[int, list[str]]:
    """The skill's steps for ``count`` slides; returns every byte the agent reads."""
    work = tmp_path / f"deck{count}"
    work.mkdir()
    config = work / "config.json"
    config.write_bytes(
        orjson.dumps(
            {
                "slides": [
                    {"number": n, "prompt": f"Slide {n} about topic {n}"}
                    for n in range(1, count + 1)
                ],
                "output_dir": "./out/",
                # What the agent reads does not depend on the images: JPEG is the cheapest
                # to encode (a styled slide is lossless WebP, 0.4 s of CPU a slide here).
                "image_size": "1K",
                "format": "jpg",
            }
        )
    )
    env = agent_env(base_url, tmp_path)
    files = ["--progress-file", str(work / "progress.json")]
    seen: list[str] = []

    def agent_runs(*argv: str) -> int:
        done = subprocess.run(
            [str(LAUNCHER), *argv], cwd=work, env=env, capture_output=True, text=True,
            timeout=200, check=False,
        )  # fmt: skip
        seen.append(done.stdout + done.stderr)
        return done.returncode

    assert agent_runs("run", "--config", str(config), "--detach", *files,
                      "--results-file", str(work / "results.json")) == 0  # fmt: skip
    for _ in range(100):
        if agent_runs("wait", "--timeout", "30", *files) != 124:
            break
    assert seen[-1].startswith(f"done {count}/{count}")
    return sum(len(text.encode()) for text in seen), seen


def test_following_a_deck_costs_a_few_hundred_bytes(tmp_path: Path, base_url: str) -> None:
    ten, ten_log = play_workflow(10, base_url, tmp_path)
    fifty, fifty_log = play_workflow(50, base_url, tmp_path)
    print(f"\nagent reads: 10 slides {ten} bytes (~{ten // 4} tokens), "
          f"50 slides {fifty} bytes (~{fifty // 4} tokens)")  # fmt: skip
    assert ten <= 1200, ten_log
    assert (fifty - ten) / 40 <= 20, fifty_log


def test_install_skill_points_the_launcher_at_this_engine(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [make, "-s", "-C", str(REPO), "install-skill"], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    installed = tmp_path / ".claude" / "skills" / "nano-banana"
    launcher = installed / "scripts" / "nanobanana"
    assert str(REPO / ".venv" / "bin" / "nanobanana") in launcher.read_text()
    assert validate(installed) == []
    version = subprocess.run(
        [str(launcher), "--version"], env=env, capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.startswith("nanobanana ")


def test_install_skill_keeps_the_users_files_and_backs_up_their_edits(tmp_path: Path) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    env = {**os.environ, "HOME": str(tmp_path)}
    installed = tmp_path / ".claude" / "skills" / "nano-banana"
    (installed / "notes").mkdir(parents=True)
    (installed / "notes" / "mine.md").write_text("my notes")
    (installed / "SKILL.md").write_text("a SKILL.md from before any install of ours")

    def install() -> str:
        done = subprocess.run(
            [make, "-s", "-C", str(REPO), "install-skill"], env=env, capture_output=True,
            text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    first = install()
    assert (installed / "notes" / "mine.md").read_text() == "my notes"
    assert "kept 1 file of yours: notes/mine.md" in first
    backups = list(installed.glob(".backup-*/SKILL.md"))
    assert [b.read_text() for b in backups] == ["a SKILL.md from before any install of ours"]
    assert "your edited SKILL.md moved to" in first
    shipped = (REPO / "skill" / "nano-banana" / "SKILL.md").read_text()
    assert (installed / "SKILL.md").read_text() == shipped

    # Reinstalling over untouched files backs nothing up; an edit since is backed up.
    assert "moved to" not in install()
    reference = installed / "references" / "batch-generation.md"
    reference.write_text(reference.read_text() + "\nmy addition\n")
    third = install()
    assert "your edited references/batch-generation.md moved to" in third
    assert any("my addition" in b.read_text() for b in installed.glob(".backup-*/references/*"))
    assert (installed / "notes" / "mine.md").read_text() == "my notes"
