"""The tools apart from the SDK: a wait never outlasts a client's patience, states as told."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
from emulator_testing import FakeClock

from nanobanana_async.mcp.runs import Runs
from nanobanana_async.mcp.tools import MAX_WAIT_SECONDS, VIEW_BYTES, DeckTools

_NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _running(runs: Runs, pid: int) -> str:
    run = runs.new("deck", _NOW)
    run.started_file.write_bytes(b"{}")
    progress = {
        "current": 2,
        "total": 10,
        "state": "running",
        "pid": pid,
        "started_at": "2026-12-02T12:00:00Z",
        "output_dir": str(run.folder / "images"),
    }
    run.progress_file.write_bytes(orjson.dumps(progress))
    return run.run_id


async def test_a_wait_asked_for_ten_minutes_ends_after_fifty_seconds(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    run_id = _running(runs, os.getpid())  # alive: this process
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    reported: list[tuple[float, float | None, str | None]] = []

    async def report(done: float, total: float | None, message: str | None) -> None:
        reported.append((done, total, message))

    tools = DeckTools(runs, env={}, cwd=tmp_path, clock=clock, sleep=sleep, wall_clock=lambda: _NOW)
    answer = await tools.wait_deck(run_id, 600, report=report)
    assert sum(slept) == MAX_WAIT_SECONDS
    assert answer.data["over"] is False
    assert answer.data["state"] == "running"
    assert answer.text == "running 2/10"
    assert reported == [(2.0, 10, "running 2/10")]  # once: nothing changed meanwhile


def _a_pid_that_is_gone() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(done.stdout)


async def test_a_run_whose_process_is_gone_is_reported_died(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    run_id = _running(runs, _a_pid_that_is_gone())
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)
    status = await tools.deck_status(run_id)
    results = await tools.deck_results(run_id)
    assert status.data["state"] == "died"
    assert status.text.startswith("died: 2 of 10 saved")
    assert results.text == status.text  # no results to give: the same line, no error


async def test_results_of_a_run_still_going_say_to_wait(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    run_id = _running(runs, os.getpid())
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)
    results = await tools.deck_results(run_id)
    sheet = await tools.view_deck(run_id)
    assert results.text == "not finished: running 2/10; wait_deck first"
    assert not results.error
    assert "images" not in results.data
    assert sheet.image is None
    assert "drawn when the run ends" in sheet.text


async def test_the_contact_sheet_is_sent_under_its_byte_cap_whatever_the_slides(
    tmp_path: Path,
) -> None:
    from io import BytesIO

    from PIL import Image

    runs = Runs(tmp_path / "runs")
    run = runs.new("deck", _NOW)
    run.started_file.write_bytes(b"{}")
    folder = tmp_path / "deck"
    folder.mkdir()
    # Noise: what compresses least; a sheet of real slides at 1024 px is 80 KB and more.
    Image.effect_noise((1598, 1380), 60).convert("RGB").save(folder / "contact-sheet.png")
    progress = {"current": 10, "total": 10, "state": "done", "output_dir": str(folder)}
    run.progress_file.write_bytes(orjson.dumps(progress))
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)

    answer = await tools.view_deck(run.run_id)

    assert answer.image is not None, answer.text
    assert len(answer.image) <= VIEW_BYTES
    with Image.open(BytesIO(answer.image)) as sent:
        assert sent.format == "JPEG"
        size = sent.size
    assert f"{size[0]}x{size[1]} JPEG, {len(answer.image) // 1000} KB" in answer.text
    assert answer.text.startswith(f"contact sheet of {run.run_id}, every slide numbered")


async def test_generate_image_words_its_refusals_for_the_agent_calling_it(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)  # no key

    no_key = await tools.generate_image("a banana")
    empty = await tools.generate_image("", emulator=True)
    shape = await tools.generate_image("a banana", aspect_ratio="7:3", emulator=True)

    assert no_key.error
    assert no_key.text.startswith("api_key: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")
    assert "the MCP server reads it from its own environment" in no_key.text
    assert no_key.text.endswith(
        "or call again with emulator: true for a dry run (placeholder images, no key, no cost)"
    )
    assert "nanobanana" not in no_key.text  # a parameter to change, not a command to run
    assert (empty.error, empty.text) == (True, "prompt: must not be empty")
    assert shape.error
    assert shape.text.startswith("aspect_ratio: must be one of 1:1 2:3")
    assert list((tmp_path / "runs").iterdir()) == []  # refused: no run left to be found


async def test_a_deck_whose_text_missed_says_so_with_the_fix_and_on_its_sheet(
    tmp_path: Path,
) -> None:
    from PIL import Image

    runs = Runs(tmp_path / "runs")
    run = runs.new("deck", _NOW)
    run.started_file.write_bytes(b"{}")
    folder = tmp_path / "deck"
    folder.mkdir()
    Image.new("RGB", (64, 36)).save(folder / "contact-sheet.png")
    missing = {"state": "missing", "missing": [{"expected": "Q3", "closest": "Q8"}]}
    progress = {
        "current": 5,
        "total": 5,
        "state": "done",
        "output_dir": str(folder),
        "text_checks": {"1": {"state": "ok"}, "3": missing, "5": {"state": "unreadable"}},
    }
    run.progress_file.write_bytes(orjson.dumps(progress))
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)

    status = await tools.deck_status(run.run_id)
    sheet = await tools.view_deck(run.run_id)

    assert status.text.endswith(
        "; 2 slides with text to check (3, 5); to fix: edit_slide with the right words "
        '(text_checks in deck_results); "fix_text" fixes while making'
    )
    assert status.data["text_to_check"] == [3, 5]
    assert "failed ones marked, text to check framed in amber (3, 5): " in sheet.text


async def test_start_deck_takes_fix_text_as_the_command_does(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    tools = DeckTools(runs, env={}, cwd=tmp_path, wall_clock=lambda: _NOW)
    plain = {"output_dir": str(tmp_path / "deck"), "slides": [{"number": 1, "prompt": "A slide"}]}

    unchecked = await tools.start_deck(plain, fix_text=1, emulator=True)
    too_many = await tools.start_deck(plain, fix_text=4, emulator=True)

    assert unchecked.error
    assert unchecked.text == (
        "nanobanana: error: --fix-text: corrects text the check found wrong, and no slide is "
        'checked; set "check_text": true or give slides their "text", or drop --fix-text'
    )
    assert (too_many.error, too_many.text) == (
        True,
        "fix_text is 4; give 0 to 3 edit rounds, or leave it out",
    )
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
