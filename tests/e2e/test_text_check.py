"""The text check through the CLI, as subprocesses, against the emulator over real HTTP:
``run`` names the misspelt slide, ``nanobanana check`` finds the same and sends nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import engine_testing
import orjson
import pytest
from engine_testing import files_args, prompts_config, run_cli
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.export.contact_sheet import CONTACT_SHEET_NAME, TEXT_FRAME, sheet_layout

KEY = "check-test-key-abcdef"
# Three slides, each read back by the OCR in the run and by check (about 1.3 s a read):
# the misspelt one between two right ones.
PROMPTS = [
    'Title slide. Heading "Quarterly Results".',
    'Team slide, heading "Our Engineering Team".',
    'Closing slide with "Thank You".',
]
EVERY = ["Quarterly Results", "Our Engineering Team", "Thank You"]
MISSPELT = 2  # the second request is the second slide: one at a time


def needs_qa() -> None:
    pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
    pytest.importorskip(
        "onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed"
    )


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({MISSPELT: "misspell"})
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


def nanobanana(base_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = engine_testing.environment(
        base_url, KEY, XDG_STATE_HOME=str(tmp_path / "state"), XDG_RUNTIME_DIR=str(tmp_path)
    )  # the runtime folder: the readings kept are this test's own
    return run_cli(*args, env=env, text=True)  # type: ignore[no-any-return]


def sheet_aspect(image: Path) -> float:
    with Image.open(image) as opened:
        return opened.height / opened.width


def write_config(tmp_path: Path, **extra: object) -> Path:
    return prompts_config(tmp_path, PROMPTS, **extra)


def test_run_names_the_misspelt_slide_and_check_finds_it_sending_nothing(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_qa()
    emulator, base_url = served
    config = write_config(tmp_path, check_text=True)
    done = nanobanana(base_url, tmp_path, "run", str(config), *files_args(tmp_path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "; 1 slide with text to check (2)" in done.stdout
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    states = {o["slide"]: o["text_check"]["state"] for o in results["outputs"]}
    assert states == {1: "ok", 2: "missing", 3: "ok"}
    progress = orjson.loads((tmp_path / "progress.json").read_bytes())
    assert progress["text_checks"]["2"]["missing"][0]["expected"] == "Our Engineering Team"
    sent = emulator.stats()["requests"]
    assert sent == 3

    # The folder alone: what each slide must say comes from the deck's manifest.
    checked = nanobanana(base_url, tmp_path, "check", str(tmp_path / "deck"))
    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == "slide 1: ok"
    assert lines[1].startswith("slide 2: missing 'Our Engineering Team' (closest read: '")
    assert lines[2:] == [
        "slide 3: ok",
        "checked 3 slides (free, sends nothing): 2 ok; 1 slide with text to check (2)",
    ]
    # The run kept what it read, and check read those: a reading changed to say every
    # slide's words (a file of the user's own, in a folder of theirs) makes slide 2 ok.
    kept = sorted((tmp_path / "nano-banana" / "readings").iterdir())
    assert len(kept) == 3
    right = {"width": 1376, "height": 768, "lines": [[t, [0, 0, 1, 1], 1.0] for t in EVERY]}
    for reading in kept:
        reading.write_bytes(orjson.dumps(right))
    checked = nanobanana(base_url, tmp_path, "check", str(tmp_path / "deck"))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == "checked 3 slides (free, sends nothing): 3 ok"
    for reading in kept:
        reading.unlink()
    # A config: its slides say it (the misspelt one alone here, one read instead of three).
    one = orjson.loads(config.read_bytes())
    one["slides"] = [one["slides"][1]]
    config.write_bytes(orjson.dumps(one))
    checked = nanobanana(base_url, tmp_path, "check", str(config))
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines()[0] == lines[1]
    assert checked.stdout.splitlines()[1:] == [
        "checked 1 slide (free, sends nothing): 1 slide with text to check (2)"
    ]
    assert emulator.stats()["requests"] == sent
    # The run's contact sheet frames the misspelt slide in amber (the results copy says it).
    with Image.open(tmp_path / "deck" / CONTACT_SHEET_NAME) as opened:
        sheet = opened.convert("RGB")
    layout = sheet_layout(3, sheet_aspect(tmp_path / "deck" / "slide-01.webp"), legend=True)
    assert sheet.size == (layout.width, layout.height)
    x, y = layout.origin(MISSPELT - 1)
    assert sheet.getpixel((x - 3, y + layout.tile_height // 2)) == TEXT_FRAME
    x, y = layout.origin(0)
    assert sheet.getpixel((x - 3, y + layout.tile_height // 2)) == (255, 255, 255)


def test_check_refuses_a_folder_that_cannot_say_the_text(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_qa()
    (tmp_path / "empty").mkdir()
    checked = nanobanana(served[1], tmp_path, "check", str(tmp_path / "empty"))
    assert checked.returncode == 2
    assert checked.stdout == ""
    assert "check the config instead: nanobanana check slides.json" in checked.stderr
    assert len(checked.stderr.splitlines()) == 1


def test_check_without_the_qa_extra_is_one_line_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    hide = "import sys; sys.modules['rapidocr'] = None; sys.modules['onnxruntime'] = None; "
    main = f"from nanobanana_async.cli.main import main; sys.exit(main(['check', {str(config)!r}]))"
    checked = subprocess.run(
        [sys.executable, "-c", hide + main], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 2
    assert checked.stderr == (
        "nanobanana: error: check: the text check needs OCR: pip install 'nanobanana-async[qa]'\n"
    )


def test_run_fix_text_fixes_the_misspelt_slide_and_a_rerun_keeps_it_unread(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_qa()
    emulator, base_url = served
    config = write_config(tmp_path, check_text=True)
    deck = orjson.loads(config.read_bytes())
    deck["slides"] = deck["slides"][:2]  # two slides: three reads in all
    config.write_bytes(orjson.dumps(deck))
    args = ("run", str(config), *files_args(tmp_path), "--quiet", "--fix-text", "1")
    done = nanobanana(base_url, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done 2/2")
    assert "text to check" not in done.stdout
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    assert results["outputs"][1]["text_check"] == {"state": "ok", "fixes": 1, "read": True}
    assert emulator.stats()["requests"] == 3  # two slides and one fix

    again = nanobanana(base_url, tmp_path, *args)
    assert again.returncode == 0, again.stderr
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    assert results["outputs"][1]["text_check"] == {"state": "ok", "fixes": 1, "read": False}
    assert emulator.stats()["requests"] == 3  # nothing sent again
