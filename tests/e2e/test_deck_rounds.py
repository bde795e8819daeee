"""Edit a deck, not redo it: reruns pay only for what changed, with a plan and a budget.

Each run is the command as a subprocess against the emulator over HTTP; the emulator's
stats count what was really asked.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_testing import (
    deck_config,
    environment,
    files_args,
    read_json,
    run_cli,
    start_run,
    wait_for,
    write_json,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread


@pytest.fixture
def service() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as url:
        yield emulator, url


def requests(emulator: Emulator) -> int:
    count: int = emulator.stats()["requests"]
    return count


def run(tmp_path: Path, url: str, config: Path, *extra: str) -> tuple[int, str, str]:
    done = run_cli("run", str(config), *files_args(tmp_path), *extra, env=environment(url))
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def deck(tmp_path: Path, edits: dict[int, dict[str, Any]] | None = None, **top: Any) -> Path:
    # JPEG unless a test says otherwise: the cheapest to encode, and rounds do not depend on it.
    config = deck_config(tmp_path / "deck", 10, image_size="1K", **({"format": "jpg"} | top))
    for slide in config["slides"]:
        slide.update((edits or {}).get(slide["number"], {}))
    return write_json(tmp_path / "slides.json", config)


def test_a_ten_slide_deck_edited_on_two_slides_costs_two_requests(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    code, first, err = run(tmp_path, url, deck(tmp_path))
    assert code == 0, err
    assert first.startswith("done 10/10 in ")
    assert ", about $1.3" in first  # ten 1K pro images at $0.134, from the answers' usage
    assert requests(emulator) == 10

    edited = deck(tmp_path, {3: {"prompt": "Slide 3, reworded"}, 7: {"seed": 42}})
    planned = orjson.loads(run_cli("plan", str(edited), "--json").stdout)
    assert (planned["generate"], planned["requests"]) == ([3, 7], 2)

    code, second, err = run(tmp_path, url, edited)
    assert code == 0, err
    assert requests(emulator) == 12
    results = read_json(tmp_path / "results.json")
    assert [o["slide"] for o in results["outputs"] if not o.get("reused")] == [3, 7]
    assert results["cost_usd"] == pytest.approx(planned["cost_usd"], rel=0.1)
    assert "(8 reused)" in second
    versions = sorted(p.name for p in (tmp_path / "deck" / ".versions").iterdir())
    assert versions == ["slide-03.2.jpg", "slide-07.2.jpg"]  # nothing paid for is lost

    code, third, err = run(tmp_path, url, edited)  # unchanged: nothing to pay for
    assert code == 0, err
    assert requests(emulator) == 12
    assert third.startswith("done 10/10 in ")
    assert "(10 reused)" in third


def test_each_round_says_what_it_cost_and_what_the_deck_has_cost(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    folder = tmp_path / "deck"
    config = deck_config(folder, 4, image_size="1K", format="jpg")
    slides = write_json(tmp_path / "slides.json", config)

    def costs(line: str) -> tuple[float, float]:
        """The line's cost part, checked against the results file's figures."""
        results = read_json(tmp_path / "results.json")
        this_run, deck = results["cost_usd"], results["deck_cost_usd"]
        shown = "$0" if this_run == 0 else f"${this_run:.2f}"
        assert line.endswith(
            f", about {shown} this run, ${deck:.2f} for the deck at list prices -> {folder}\n"
        ), line
        return this_run, deck

    code, first, err = run(tmp_path, url, slides)
    assert code == 0, err
    assert requests(emulator) == 4
    first_paid, deck = costs(first)
    assert deck == pytest.approx(first_paid)
    image = first_paid / 4  # 1K pro images, from the answers' usage (prompts add a little)

    for number in (2, 4):
        config["slides"][number - 1]["prompt"] = f"Slide {number}, reworded"
    write_json(slides, config)
    code, second, err = run(tmp_path, url, slides)
    assert code == 0, err
    assert requests(emulator) == 6
    assert "(2 reused)" in second
    paid, deck = costs(second)
    assert paid == pytest.approx(2 * image, rel=0.01)
    assert deck == pytest.approx(first_paid + paid)  # what both runs paid

    code, third, err = run(tmp_path, url, slides)  # unchanged: all reused, nothing paid
    assert code == 0, err
    assert requests(emulator) == 6
    assert "(4 reused), about $0 this run, " in third
    assert costs(third) == (0.0, deck)
    status = run_cli("status", "--progress-file", str(tmp_path / "progress.json"))
    assert status.stdout.decode() == third  # status says what the run said


def test_an_output_setting_alone_reencodes_from_the_kept_original(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    assert run(tmp_path, url, deck(tmp_path))[0] == 0
    code, _, err = run(tmp_path, url, deck(tmp_path, format="png"))
    assert code == 0, err
    assert requests(emulator) == 10  # no new request
    folder = tmp_path / "deck"
    assert len(list(folder.glob("slide-*.png"))) == 10
    # One image per slide in the folder (a glob of the deck sees no duplicates); the JPEG
    # ones replaced are versions, as any replaced image is, and the results name them.
    assert list(folder.glob("slide-*.jpg")) == []
    kept = sorted(p.name for p in (folder / ".versions").iterdir())
    assert kept == [f"slide-{n:02d}.2.jpg" for n in range(1, 11)]
    outputs = read_json(tmp_path / "results.json")["outputs"]
    assert [o["previous"] for o in outputs] == [str(folder / ".versions" / k) for k in kept]


def test_regenerate_redoes_the_slides_named(tmp_path: Path, service: tuple[Emulator, str]) -> None:
    emulator, url = service
    config = deck(tmp_path)
    assert run(tmp_path, url, config)[0] == 0
    code, _, err = run(tmp_path, url, config, "--regenerate", "2,5-6")
    assert code == 0, err
    assert requests(emulator) == 13


def test_a_plan_over_the_budget_is_refused_before_any_request(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    code, out, err = run(tmp_path, url, deck(tmp_path), "--max-cost", "0.50")
    assert code == 2
    assert out == ""
    assert "max_cost: this run would cost about $1.34 (10 images), over the budget" in err
    assert requests(emulator) == 0


def test_a_budget_in_the_config_refuses_the_same_way(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    code, _, err = run(tmp_path, url, deck(tmp_path, max_cost=0.3))
    assert code == 2
    assert "max_cost: this run would cost about $1.34" in err
    assert requests(emulator) == 0


def test_dry_run_prints_the_plan_and_sends_nothing(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    code, out, err = run(tmp_path, url, deck(tmp_path), "--dry-run")
    assert code == 0, err
    assert out.startswith("plan (free, sends nothing): 10 slides -> ")
    assert requests(emulator) == 0


@pytest.mark.parametrize("command", ["run", "plan"])
def test_regenerate_naming_a_slide_not_in_the_deck_is_refused_before_anything(
    tmp_path: Path, service: tuple[Emulator, str], command: str
) -> None:
    emulator, url = service
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 8))
    files = files_args(tmp_path) if command == "run" else []
    done = run_cli(command, str(config), *files, "--regenerate", "3,99", env=environment(url))
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode() == (
        "nanobanana: error: --regenerate: no slide 99 in the config, which has slides 1-8; "
        "name slides of the config\n"
    )
    assert requests(emulator) == 0
    assert not (tmp_path / "deck").exists()


@pytest.mark.parametrize(
    ("asked", "signum", "left"),
    [
        (["--force"], signal.SIGINT, [2, 3, 4]),
        (["--regenerate", "2-4"], signal.SIGINT, [3, 4]),
        (["--force"], signal.SIGKILL, [2, 3, 4]),  # killed: it could record nothing at its end
    ],
    ids=["force", "regenerate", "force-killed"],
)
def test_resume_finishes_what_an_interrupted_rerun_set_out_to_do(
    tmp_path: Path,
    service: tuple[Emulator, str],
    asked: list[str],
    signum: signal.Signals,
    left: list[int],
) -> None:
    emulator, url = service
    config = deck(tmp_path)
    config = write_json(config, read_json(config) | {"slides": read_json(config)["slides"][:4]})
    assert run(tmp_path, url, config)[0] == 0
    image_cost = read_json(tmp_path / "results.json")["cost_usd"] / 4
    # The rerun's second request never answers: the run is stopped with it on the wire.
    emulator.script({6: "slow"})
    process = start_run(config, tmp_path, environment(url), *asked, "--concurrency", "1")
    progress = tmp_path / "progress.json"

    def stuck() -> bool:
        data = read_json(progress) if progress.exists() else {}
        return data.get("pid") == process.pid and data.get("in_flight") == [left[0]]

    assert wait_for(lambda: stuck() or process.poll() is not None, 30)
    process.send_signal(signum)
    if signum == signal.SIGINT:
        # The first signal lets the request on the wire finish; this one never answers, so
        # a second cuts it (sent once the run says it is stopping: two at once may merge).
        assert wait_for(
            lambda: read_json(progress).get("state") == "stopping" or process.poll() is not None,
            30,
        )
        process.send_signal(signum)
    out, _ = process.communicate(timeout=30)
    if signum == signal.SIGINT:
        assert out.decode().endswith("rerun with --resume to finish\n")

    planned = orjson.loads(run_cli("plan", str(config), "--resume", "--json").stdout)
    assert planned["generate"] == left
    why = {s["slide"]: (s["reason"], s["interrupted"]) for s in planned["slides"]}
    assert all(why[n] == (asked[0], True) for n in left)
    shown = run_cli("plan", str(config), "--resume", "--slides").stdout.decode()
    assert f"{asked[0]} (left by the interrupted run)" in shown

    before = requests(emulator)
    code, line, err = run(tmp_path, url, config, "--resume")
    assert code == 0, err
    assert requests(emulator) - before == len(left)
    assert line.startswith("done 4/4")
    assert f"({4 - len(left)} reused)" in line
    results = read_json(tmp_path / "results.json")
    assert [o["slide"] for o in results["outputs"] if not o.get("reused")] == left
    # The deck paid for the first run's 4 images, the one the interrupted run made (killed,
    # it could not say so: it counts at the plan's estimate) and the resumed run's.
    made = 4 + 1 + len(left)
    assert results["deck_cost_usd"] == pytest.approx(made * image_cost, rel=0.02)
    # Every image the two runs replaced is kept, once.
    redone = [1, 2, 3, 4] if asked == ["--force"] else [2, 3, 4]
    versions = sorted(p.name for p in (tmp_path / "deck" / ".versions").iterdir())
    assert versions == [f"slide-{n:02d}.2.jpg" for n in redone]
    # Finished: a second --resume has nothing left to do.
    assert orjson.loads(run_cli("plan", str(config), "--resume", "--json").stdout)["generate"] == []


def test_plan_slides_says_what_each_slide_gets_why_and_for_how_much(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    assert run(tmp_path, url, deck(tmp_path))[0] == 0
    edits: dict[int, dict[str, Any]] = {
        3: {"prompt": "Slide 3, reworded"},
        7: {"seed": 42},
        9: {"format": "png"},
    }
    edited = deck(tmp_path, edits)
    (tmp_path / "deck" / "slide-05.jpg").unlink()

    assert run_cli("plan", str(edited)).stdout.count(b"\n") == 1  # the default: one line
    lines = run_cli("plan", str(edited), "--slides").stdout.decode().splitlines()
    assert lines[0].startswith("plan (free, sends nothing): 10 slides -> ")
    assert lines[1].split() == ["slide", "action", "cost", "why"]
    rows = {int(line.split()[0]): line.split(None, 3)[1:] for line in lines[2:]}
    assert sorted(rows) == list(range(1, 11))
    assert rows[3] == ["generate", "$0.13", "changed: prompt"]
    assert rows[7] == ["generate", "$0.13", "changed: seed"]
    assert rows[9] == ["re-encode", "-", "changed: format, file"]
    assert rows[5] == ["re-encode", "-", "image missing"]
    assert rows[1] == ["keep", "-", "unchanged"]

    planned = orjson.loads(run_cli("plan", str(edited), "--json").stdout)
    by_slide = {entry["slide"]: entry for entry in planned["slides"]}
    assert by_slide[3] == {
        "slide": 3,
        "action": "generate",
        "reason": "changed",
        "changed": ["prompt"],
        "interrupted": False,
        "cost_usd": pytest.approx(0.134, abs=0.001),
    }
    assert by_slide[9]["action"] == "reencode"
    assert by_slide[9]["cost_usd"] == 0.0
    forced = orjson.loads(run_cli("plan", str(edited), "--json", "--force").stdout)
    assert {entry["reason"] for entry in forced["slides"]} == {"--force"}
    assert requests(emulator) == 10  # plan sends nothing
