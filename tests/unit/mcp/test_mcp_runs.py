"""The runs folder: ids that stay inside it, the latest run, folders of the user's own."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nanobanana_async.mcp.runs import Runs, RunsError, runs_root

_NOON = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)


def _started(runs: Runs, hint: str, at: int) -> str:
    run = runs.new(hint, _NOON)
    run.started_file.write_text("{}")
    os.utime(run.started_file, ns=(at, at))
    return run.run_id


def test_the_runs_folder_follows_xdg_state_home_else_home() -> None:
    assert runs_root({"XDG_STATE_HOME": "/s", "HOME": "/h"}) == Path("/s/nano-banana/runs")
    # A relative XDG path is ignored, as the XDG specification says.
    assert runs_root({"XDG_STATE_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/state/nano-banana/runs"
    )


def test_ids_come_from_the_deck_and_the_time_and_never_repeat(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    first = runs.new("Q3 Board Deck!", _NOON)
    second = runs.new("Q3 Board Deck!", _NOON)
    assert first.run_id == "q3-board-deck-1202-1230"
    assert second.run_id == "q3-board-deck-1202-1230-2"
    assert runs.new("???", _NOON).run_id == "deck-1202-1230"
    assert (tmp_path / "runs").stat().st_mode & 0o777 == 0o700
    assert first.folder.stat().st_mode & 0o777 == 0o700


def test_the_latest_run_is_the_last_started_and_unstarted_folders_are_not_runs(
    tmp_path: Path,
) -> None:
    runs = Runs(tmp_path / "runs")
    with pytest.raises(RunsError, match="no run yet"):
        runs.find(None)
    older = _started(runs, "b-deck", 1_000)
    newer = _started(runs, "a-deck", 2_000)
    runs.new("never-started", _NOON)  # a start refused: no run.json
    assert runs.find(None).run_id == newer
    assert [run.run_id for run in runs.all()] == [older, newer]
    assert runs.find(older).folder == tmp_path / "runs" / older


@pytest.mark.parametrize("run_id", ["../x", "/etc", "a/b", "..", "", "A-upper", "x" * 65])
def test_an_id_that_is_not_a_run_id_is_refused_before_any_path_is_made(
    tmp_path: Path, run_id: str
) -> None:
    with pytest.raises(RunsError, match="run_id must be"):
        Runs(tmp_path / "runs").find(run_id)


def test_an_unknown_id_names_the_latest_runs(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    known = _started(runs, "deck", 1)
    with pytest.raises(RunsError, match=f"no run nope-1; latest runs: {known}"):
        runs.find("nope-1")


def test_a_symlink_in_place_of_a_run_is_refused(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "runs")
    _started(runs, "deck", 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "runs" / "planted-1").symlink_to(elsewhere)
    with pytest.raises(RunsError, match="is not a folder"):
        runs.find("planted-1")
    assert "planted-1" not in [run.run_id for run in runs.all()]
