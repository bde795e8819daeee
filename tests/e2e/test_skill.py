"""The nano-banana skill: valid under the Agent Skills spec, true to the code, cheap to follow.

SKILL.md holds the decision and the steps, within a byte budget; each capability has its
own file in ``references/``, read only when needed. The references' examples are executed
here against the emulator: their config blocks must load, the file examples must have
exactly the fields the real files have, and their shell blocks must run through the
skill's own launcher. A whole deck round, as an agent that read only SKILL.md plays it,
is played while counting every byte it reads.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from skills_ref import validate

from nanobanana_async.config.loading import load_config
from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

REPO = Path(__file__).resolve().parents[2]
SKILL = REPO / "skill" / "nano-banana"
LAUNCHER = SKILL / "scripts" / "nanobanana"
REFERENCES = SKILL / "references"
# The order their shell blocks run in: a deck started, followed, exported, then changed.
SHELL_ORDER = ("runs.md", "export.md", "rounds.md")
BLOCK = re.compile(r"^[ ]*```(\w+)\n(.*?)^[ ]*```", re.S | re.M)
KEY = "skill-test-key-123456"
SKILL_BUDGET = 2500  # bytes of SKILL.md: the ceiling, with room for later lines
ROUND_BUDGET = 4000  # bytes an agent reads in a whole deck round, SKILL.md included


def blocks(path: Path, language: str) -> list[str]:
    found = BLOCK.findall(path.read_text())
    return [textwrap.dedent(body) for lang, body in found if lang == language]


def references() -> list[Path]:
    return sorted(REFERENCES.glob("*.md"))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(EmulatorSettings(time_scale=0.01, seed=3)) as url:
        yield url


def agent_env(base_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "NANO"))}
    env.update(GEMINI_API_KEY=KEY, GOOGLE_GEMINI_BASE_URL=base_url, HOME=str(home))
    return env


def test_the_skill_is_valid_and_small() -> None:
    assert validate(SKILL) == []
    text = (SKILL / "SKILL.md").read_text()
    front = text.split("---")[1]
    description = re.search(r"^description: (.*)$", front, re.M)
    assert description is not None
    assert len(description.group(1)) <= 1024
    assert "<" not in description.group(1)
    assert ">" not in description.group(1)
    size = len(text.encode())
    assert size <= SKILL_BUDGET, f"SKILL.md is {size} bytes: move detail to a reference"


def test_each_reference_is_linked_once_and_exists() -> None:
    # A capability is a reference file and one line of SKILL.md: none orphaned, none dangling.
    text = (SKILL / "SKILL.md").read_text()
    linked = re.findall(r"\]\((references/[\w.-]+\.md)\)", text)
    assert len(linked) == len(set(linked))
    assert sorted(linked) == [f"references/{path.name}" for path in references()]
    for path in references():
        for target in re.findall(r"\]\(([\w.-]+\.md)\)", path.read_text()):
            assert (REFERENCES / target).is_file(), f"{path.name} links {target}"


def test_every_config_example_loads(tmp_path: Path) -> None:
    configs = [
        orjson.loads(body)
        for path in (SKILL / "SKILL.md", *references())
        for body in blocks(path, "json")
        if '"slides"' in body
    ]
    assert len(configs) >= 2
    for config in configs:
        loaded = load_config(config, env={"GEMINI_API_KEY": KEY}, base_dir=tmp_path)
        assert loaded.slides


def _example(marker: str) -> dict[str, Any]:
    for body in (body for path in references() for body in blocks(path, "json")):
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
    """Each ``sh`` block of the references, in order, through the launcher; ``slides.json`` is
    the example deck of ``config.md``.

    The configs go where the reference says to write them, in the user's own cache folder
    (``~`` expanded as the shell would, ``HOME`` being ``tmp_path``).
    """
    examples = blocks(REFERENCES / "config.md", "json")
    deck = next(orjson.loads(body) for body in examples if '"slides"' in body)
    # The example's absolute folder, in the user's home (``tmp_path`` here).
    deck["output_dir"] = deck["output_dir"].replace("/home/me/", f"{tmp_path}/", 1)
    # 1K JPEG: what the commands print does not depend on the images, and the example's
    # lossless 2K WebP slides cost most of this test's time to encode.
    deck |= {"image_size": "1K", "format": "jpg"}
    configs = tmp_path / ".cache" / "nano-banana"
    configs.mkdir(parents=True)
    (configs / "slides.json").write_bytes(orjson.dumps(deck))
    small = {**deck, "slides": deck["slides"][:2], "output_dir": f"{tmp_path}/small/"}
    (configs / "small.json").write_bytes(orjson.dumps(small))
    # rounds.md's deck of variants: its slide 1 in three candidates.
    logo = {**small, "output_dir": f"{tmp_path}/logo/", "variants": 3}
    (configs / "logo.json").write_bytes(orjson.dumps(logo))
    env = agent_env(base_url, tmp_path)
    assert sorted(SHELL_ORDER) == sorted(p.name for p in references() if blocks(p, "sh"))
    commands = [
        line
        for name in SHELL_ORDER
        for body in blocks(REFERENCES / name, "sh")
        for line in body.splitlines()
        if line
    ]
    assert len(commands) >= 4
    assert all("~/.cache/nano-banana/" in c for c in commands if " --config " in c)
    for command in commands:
        argv = [f"{tmp_path}/{a[2:]}" if a.startswith("~/") else a for a in shlex.split(command)]
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
    assert len(list((tmp_path / "001-cicd-deck").glob("slide-*.jpg"))) == 4
    assert (tmp_path / "001-cicd-deck" / "closing.png").exists()
    assert len(list((tmp_path / "small").glob("slide-*.jpg"))) == 2
    # rounds.md's edits: slide 3's undone, slide 2's kept with its box; logo's candidate 2.
    edited = orjson.loads((configs / "slides.json").read_bytes())["slides"]
    assert "edits" not in edited[2]
    assert edited[1]["edits"] == [
        {"instruction": "make the bars blue", "region": [0.1, 0.3, 0.8, 0.6]}
    ]
    assert orjson.loads((configs / "logo.json").read_bytes())["slides"][0]["pick"] == 2
    assert (tmp_path / "logo" / "candidates-01.png").is_file()


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
    reference = installed / "references" / "runs.md"
    reference.write_text(reference.read_text() + "\nmy addition\n")
    third = install()
    assert "your edited references/runs.md moved to" in third
    assert any("my addition" in b.read_text() for b in installed.glob(".backup-*/references/*"))
    assert (installed / "notes" / "mine.md").read_text() == "my notes"


def test_install_skill_removes_what_an_earlier_version_shipped(tmp_path: Path) -> None:
    # A reference this version no longer ships would tell the agent stale commands; an
    # edited one is the user's, and goes to the backup instead.
    import hashlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("skill_install", REPO / "skill" / "install.py")
    assert spec is not None
    assert spec.loader is not None
    installer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer)
    target = tmp_path / "skill"
    installer.install(target, "/bin/true")
    manifest = target / installer.MANIFEST
    recorded = orjson.loads(manifest.read_bytes())
    stale, edited = target / "references" / "old.md", target / "references" / "older.md"
    for path in (stale, edited):
        path.write_text(f"what {path.name} said once")
        recorded["files"][f"references/{path.name}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest.write_bytes(orjson.dumps(recorded))
    edited.write_text("the user's own words")
    line = installer.install(target, "/bin/true")
    assert not stale.exists()
    assert not edited.exists()
    assert "removed 1 file no longer shipped" in line
    assert "your edited references/older.md moved to" in line
    assert [p.read_text() for p in target.glob(".backup-*/references/older.md")] == [
        "the user's own words"
    ]


def _cost(line: str, what: str) -> float:
    """The ``$X this run`` or ``$X for the deck`` figure of a final line."""
    found = re.search(rf"\$(\d+(?:\.\d+)?) {what}", line)
    assert found is not None, line
    return float(found.group(1))


def test_an_agent_round_reads_under_4_kb(tmp_path: Path, base_url: str) -> None:
    """A deck from first draft to export, as an agent that read only SKILL.md plays it.

    Read SKILL.md, write the config, plan, run detached, follow, view the contact sheet,
    change two slides, plan, run, fix two others with edits, view, export, and report the
    deck's cost: every byte the agent reads is counted, per step, and each command it types
    is one SKILL.md teaches.
    """
    skill = (SKILL / "SKILL.md").read_text()
    for taught in ("NB plan CONFIG", "--detach", "follow:", "contact-sheet.png",
                   "NB export OUTPUT_DIR", "deck's", "~/.cache/nano-banana/",
                   "NB edit CONFIG"):  # fmt: skip
        assert taught in skill, taught
    read: list[tuple[str, int]] = [("read SKILL.md", len(skill.encode()))]
    raw: list[int] = [len(skill.encode())]
    viewed: list[tuple[int, int]] = []  # the size of each image the agent looks at

    def agent_views(image: Path) -> None:
        with Image.open(image) as opened:
            viewed.append(opened.size)

    env = agent_env(base_url, tmp_path)
    said: list[str] = []

    def agent_runs(step: str, command: str) -> int:
        argv = shlex.split(command)
        done = subprocess.run(
            [str(LAUNCHER) if argv[0] in ("NB", str(LAUNCHER)) else argv[0], *argv[1:]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=200, check=False,
        )  # fmt: skip
        text = done.stdout + done.stderr
        # Counted with the paths a user's would be: the test's own folder is five times as
        # long as /home/me, and varies from run to run.
        read.append((step, len(text.replace(str(tmp_path), "/home/me").encode())))
        raw.append(len(text.encode()))
        said.append(text.strip())
        return done.returncode

    folder = tmp_path / "q3-deck"
    config = tmp_path / ".cache" / "nano-banana" / "q3.json"
    config.parent.mkdir(parents=True)
    slides = [{"number": n, "prompt": f"Q3 slide {n}: topic {n}"} for n in range(1, 11)]
    # 1K JPEG: the cheapest images to make here; what the agent reads does not depend on them.
    deck: dict[str, Any] = {"slides": slides, "output_dir": str(folder), "image_size": "1K",
                            "format": "jpg"}  # fmt: skip
    config.write_bytes(orjson.dumps(deck))

    assert agent_runs("plan", f"NB plan {config}") == 0
    assert "generate 10" in said[-1]
    assert agent_runs("run --detach", f"NB run --config {config} --detach") == 0
    follow = said[-1].split("follow: ", 1)[1].strip()
    for _ in range(50):
        if agent_runs("wait", follow) != 124:
            break
    first = said[-1]
    assert first.startswith("done 10/10"), first
    sheet = folder / "contact-sheet.png"
    assert sheet.is_file()
    agent_views(sheet)

    slides[2]["prompt"] = "Q3 slide 3: the three key takeaways"
    slides[8]["prompt"] = "Q3 slide 9: top risks"
    config.write_bytes(orjson.dumps(deck))
    assert agent_runs("plan again", f"NB plan {config}") == 0
    assert "generate 2 (slides 3, 9), keep 8" in said[-1]
    assert agent_runs("run the 2", f"NB run --config {config}") == 0  # 2 to make: foreground
    second = next(line for line in said[-1].splitlines() if line.startswith("done"))
    assert second.startswith("done 10/10 "), second
    assert "(8 reused)" in second, second
    agent_views(sheet)  # looked at again: the two new slides on it
    # Two small fixes, the way SKILL.md's one line teaches: one request each.
    fixes = [f'NB edit {config} 4 "make the title bigger"',
             f'NB edit {config} 7 "the chart in blue" --region 0.1,0.3,0.8,0.6']  # fmt: skip
    edits: list[str] = []
    for number, command in enumerate(fixes, start=1):
        assert agent_runs(f"edit {number}", command) == 0, said[-1]
        edits.append(said[-1])
        assert edits[-1].startswith("done 10/10 "), edits[-1]
    agent_views(sheet)
    assert agent_runs("export", f"NB export {folder}") == 0
    assert (folder / "deck.pptx").is_file()
    assert (folder / "deck.pdf").is_file()
    assert "free" in said[-1]
    assert "picture" in said[-1]

    # The report: the deck's cost is the last line's, and it is both runs' costs summed.
    this_run, deck_total = _cost(second, "this run"), _cost(second, "for the deck")
    assert deck_total == pytest.approx(_cost(first, "this run") + this_run, abs=0.011)
    assert 0 < this_run < deck_total
    fixed = [_cost(line, "this run") for line in edits]
    assert all(0.13 < cost < 0.15 for cost in fixed), edits  # one image each, its input too
    assert _cost(edits[-1], "for the deck") == pytest.approx(deck_total + sum(fixed), abs=0.011)

    total = sum(size for _, size in read)
    print("\nagent round, bytes read per step: "
          + ", ".join(f"{step} {size}" for step, size in read) + f"; total {total} "
          f"({sum(raw)} with this test's own {len(str(tmp_path))}-byte folder)")  # fmt: skip
    assert total <= ROUND_BUDGET, read
    # What the agent looks at costs it by the pixel: one sheet per run, each within the
    # 1600 px a vision model takes whole (a bigger one is scaled down, its labels lost).
    assert all(max(size) <= 1600 for size in viewed), viewed
