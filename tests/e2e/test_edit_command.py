"""``nanobanana edit``, ``edit --undo`` and ``pick`` as subprocesses, against the emulator over
real HTTP; its stats count what was really sent."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engine_testing
import orjson
import pytest
from engine_testing import files_args

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.files.lock import DeckLock

KEY = "edit-test-key-abcdef"


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


def nanobanana(
    served: tuple[Emulator, str], tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = engine_testing.environment(served[1], KEY, XDG_STATE_HOME=str(tmp_path / "state"))
    files = files_args(tmp_path) if args[0] != "plan" else []
    return subprocess.run(
        [sys.executable, "-m", "nanobanana_async", *args, *files],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def requests(served: tuple[Emulator, str]) -> int:
    count: int = served[0].stats()["requests"]
    return count


def write_config(tmp_path: Path, count: int = 10, **slide3: Any) -> Path:
    config = {
        "slides": [
            {"number": n, "prompt": f"Slide {n}: topic {n}", **(slide3 if n == 3 else {})}
            for n in range(1, count + 1)
        ],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "format": "png",
    }
    path = tmp_path / "slides.json"
    path.write_bytes(orjson.dumps(config, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def image(tmp_path: Path, number: int) -> bytes:
    return (tmp_path / "deck" / f"slide-{number:02d}.png").read_bytes()


def made(served: tuple[Emulator, str], tmp_path: Path, **slide3: Any) -> Path:
    config = write_config(tmp_path, **slide3)
    done = nanobanana(served, tmp_path, "run", str(config))
    assert done.returncode == 0, done.stderr
    return config


def test_three_edits_on_two_slides_cost_three_requests_and_undo_none(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    config = made(served, tmp_path)
    assert requests(served) == 10
    plain = image(tmp_path, 3)

    first = nanobanana(served, tmp_path, "edit", str(config), "3", "make the title bigger")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("done "), first.stdout
    after_one = image(tmp_path, 3)
    region = ("--region", "0.1,0.05,0.5,0.2")
    second = nanobanana(served, tmp_path, "edit", str(config), "3", "blue title", *region)
    assert second.returncode == 0, second.stderr
    third = nanobanana(served, tmp_path, "edit", str(config), "7", "the chart in blue")
    assert third.returncode == 0, third.stderr
    assert requests(served) == 13  # one a step; the other slides untouched
    assert served[0].stats()["edits"] == 3

    steps = orjson.loads(config.read_bytes())["slides"]
    assert steps[2]["edits"] == [
        "make the title bigger",
        {"instruction": "blue title", "region": [0.1, 0.05, 0.5, 0.2]},
    ]
    assert steps[6]["edits"] == ["the chart in blue"]
    assert image(tmp_path, 3) not in (plain, after_one)

    undone = nanobanana(served, tmp_path, "edit", str(config), "3", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert requests(served) == 13  # its image was on disk
    assert image(tmp_path, 3) == after_one
    assert orjson.loads(config.read_bytes())["slides"][2]["edits"] == ["make the title bigger"]
    assert list((tmp_path / "deck" / ".versions").iterdir())  # the replaced image kept


def test_variants_then_pick_costs_nothing(served: tuple[Emulator, str], tmp_path: Path) -> None:
    config = made(served, tmp_path, variants=3)
    assert requests(served) == 12  # slide 3's three candidates
    second = (tmp_path / "deck" / "slide-03.v2.png").read_bytes()
    assert image(tmp_path, 3) != second
    sheet = tmp_path / "deck" / "candidates-03.png"
    first_sheet = sheet.read_bytes()  # drawn by the run that made them
    assert not list((tmp_path / "deck").glob("candidates-0[!3]*"))  # slides of one: none

    picked = nanobanana(served, tmp_path, "pick", str(config), "3", "2")
    assert picked.returncode == 0, picked.stderr
    assert requests(served) == 12
    assert image(tmp_path, 3) == second
    assert orjson.loads(config.read_bytes())["slides"][2]["pick"] == 2
    assert sheet.read_bytes() != first_sheet  # the frame moved to 3.2


def test_pick_says_the_edits_left_to_make_and_sends_none(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    config = made(served, tmp_path, variants=2, edits=["bigger title", "blue chart"])
    assert requests(served) == 10 + 1 + 2
    edited = image(tmp_path, 3)
    picked = nanobanana(served, tmp_path, "pick", str(config), "3", "2")
    assert picked.returncode == 0, picked.stderr
    assert requests(served) == 13
    assert picked.stdout.startswith("picked candidate 2 of slide 3; its edits are to be made ")
    assert ": 2 requests, about $0.2" in picked.stdout
    assert f"nanobanana run {config} makes them" in picked.stdout
    assert image(tmp_path, 3) == edited  # not failed, not replaced: the run makes them
    again = nanobanana(served, tmp_path, "run", str(config))
    assert again.returncode == 0, again.stderr
    assert requests(served) == 15
    assert image(tmp_path, 3) != edited


BAD = [
    # an edit on a slide never generated (11 is in the config, not made)
    (["edit", "{config}", "11", "bigger"], "SLIDE", "never been generated"),
    (["edit", "{config}", "12", "bigger"], "SLIDE", "not a slide"),
    (["edit", "{config}", "3", "bigger", "--region", "0.6,0.1,0.5,0.2"], "--region", "edge"),
    (["edit", "{config}", "3", "bigger", "--region", "-0.1,0,0.5,0.2"], "--region", "0 or more"),
    (["edit", "{config}", "3", "  "], "instruction", "empty"),
    (["edit", "{config}", "3", "--undo"], "--undo", "no edit step"),
    (["pick", "{config}", "3", "4"], "K", "no candidate 4"),
    (["pick", "{config}", "5", "2"], "K", "one candidate, no other to pick"),
]


@pytest.fixture(scope="module")
def made_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[tuple[Emulator, str], Path, Path]]:
    """One deck for every bad input (each changes nothing: the test checks it), made once:
    10 slides, slide 3 of 3 candidates, then slide 11 added and never made."""
    tmp_path = tmp_path_factory.mktemp("bad-input")
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as base_url:
        served = (emulator, base_url)
        config = made(served, tmp_path, variants=3)
        spec = orjson.loads(config.read_bytes())
        spec["slides"].append({"number": 11, "prompt": "Slide 11, not made yet"})
        config.write_bytes(orjson.dumps(spec))
        yield served, tmp_path, config


@pytest.mark.parametrize(("args", "field", "said"), BAD)
def test_bad_input_is_one_line_exit_2_and_sends_nothing(
    made_once: tuple[tuple[Emulator, str], Path, Path], args: list[str], field: str, said: str
) -> None:
    served, tmp_path, config = made_once
    before, sent = config.read_bytes(), requests(served)
    done = nanobanana(served, tmp_path, *(a.replace("{config}", str(config)) for a in args))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"nanobanana: error: {field}: "), lines[0]
    assert said in lines[0]
    assert done.stdout == ""
    assert requests(served) == sent
    assert config.read_bytes() == before


def test_variants_out_of_range_and_a_model_that_cannot_edit_are_refused(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    config = made(served, tmp_path)
    spec = orjson.loads(config.read_bytes())
    spec["slides"][2]["variants"] = 5
    config.write_bytes(orjson.dumps(spec))
    done = nanobanana(served, tmp_path, "pick", str(config), "3", "2")
    assert done.returncode == 2
    assert "variants" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr

    del spec["slides"][2]["variants"]
    spec["model"] = "imagen-4.0-generate-001"
    config.write_bytes(orjson.dumps(spec))
    done = nanobanana(served, tmp_path, "edit", str(config), "3", "bigger title")
    assert done.returncode == 2
    assert "cannot edit images" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "edits" not in orjson.loads(config.read_bytes())["slides"][2]
    assert requests(served) == 10


def test_an_edit_while_a_run_of_the_deck_is_live_is_refused_before_the_file_changes(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    config = made(served, tmp_path)
    before = config.read_bytes()
    with DeckLock(tmp_path / "deck"):  # what a live run of the deck holds
        done = nanobanana(served, tmp_path, "edit", str(config), "3", "bigger title")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "a run of this deck is live" in lines[0]
    assert "nanobanana wait" in lines[0]
    assert config.read_bytes() == before
    assert requests(served) == 10


def test_plan_counts_and_prices_units(served: tuple[Emulator, str], tmp_path: Path) -> None:
    config = made(served, tmp_path)
    assert nanobanana(served, tmp_path, "edit", str(config), "5", "bigger").returncode == 0
    spec = orjson.loads(config.read_bytes())
    spec["slides"][2]["edits"] = ["bigger title", "blue chart"]
    spec["slides"][6]["edits"] = ["no logo"]
    spec["slides"][3]["variants"] = 3
    del spec["slides"][4]["edits"]  # an undo by hand: its image is on disk
    config.write_bytes(orjson.dumps(spec))
    sent = requests(served)

    line = nanobanana(served, tmp_path, "plan", str(config)).stdout
    units = "generate 2 (slide 4: candidates 2-3), edit 3 (slides 3 x2, 7), restore 1 (slide 5)"
    assert f"; {units}, keep 6; 5 requests, about $" in line
    table = nanobanana(served, tmp_path, "plan", str(config), "--slides").stdout.splitlines()
    assert [row.split()[:2] for row in table[2:]][4] == ["5", "restore"]

    plan = orjson.loads(nanobanana(served, tmp_path, "plan", str(config), "--json").stdout)
    rows = {(row["slide"], row["unit"]): row for row in plan["units"]}
    assert sorted(rows) == [(3, "e1"), (3, "e2"), (4, "v2"), (4, "v3"), (5, "v1"), (7, "e1")]
    assert rows[(5, "v1")]["action"] == "restore"
    edit = rows[(3, "e1")]["cost_usd"]
    assert edit is not None
    assert edit > rows[(4, "v2")]["cost_usd"]  # an edit pays its input images too
    assert plan["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows.values()), abs=1e-3)
    assert requests(served) == sent  # a plan sends nothing
