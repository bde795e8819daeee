"""The runs registry: ids stable per deck, entries read back newest first, nothing foreign."""

from __future__ import annotations

import os
from pathlib import Path

from nanobanana_async.follow.registry import Entry, Registry, deck_files, deck_id


def _entry(run_id: str, started_at: str, tmp_path: Path) -> Entry:
    return Entry(
        run_id=run_id,
        config=str(tmp_path / "slides.json"),
        output_dir=str(tmp_path / "deck"),
        progress_file=tmp_path / f"{run_id}-progress.json",
        results_file=tmp_path / f"{run_id}-results.json",
        pid=os.getpid(),
        started_at=started_at,
        dry_run=False,
    )


def test_a_deck_has_one_id_and_two_decks_named_alike_two() -> None:
    first = deck_id(Path("/home/me/talks/Q3 Results"))
    assert first == deck_id(Path("/home/me/talks/Q3 Results"))
    assert first.startswith("q3-results-")
    assert deck_id(Path("/home/me/other/Q3 Results")) != first
    assert deck_id(Path("/")).startswith("deck-")
    progress, results = deck_files(first)
    assert progress.name == f"nano-banana-{first}-progress.json"
    assert results.name == f"nano-banana-{first}-results.json"


def test_entries_come_back_newest_first_and_a_rerun_replaces_its_own(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "runs")
    registry.add(_entry("a-111111", "2026-12-01T10:00:00Z", tmp_path))
    registry.add(_entry("b-222222", "2026-12-01T11:00:00Z", tmp_path))
    registry.add(_entry("a-111111", "2026-12-01T12:00:00Z", tmp_path))
    assert [(e.run_id, e.started_at) for e in registry.entries()] == [
        ("a-111111", "2026-12-01T12:00:00Z"),
        ("b-222222", "2026-12-01T11:00:00Z"),
    ]
    assert registry.find("b-222222") == _entry("b-222222", "2026-12-01T11:00:00Z", tmp_path)
    assert registry.find("../etc/passwd") is None
    assert (tmp_path / "runs").stat().st_mode & 0o777 == 0o700


def test_what_is_not_an_entry_or_not_private_is_passed_over(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "runs")
    registry.add(_entry("a-111111", "2026-12-01T10:00:00Z", tmp_path))
    (tmp_path / "runs" / "junk.json").write_text('{"run_id": 3}')
    (tmp_path / "runs" / "b-222222.json").write_text('{"run_id": "other-id"}')
    assert [e.run_id for e in registry.entries()] == ["a-111111"]
    (tmp_path / "runs").chmod(0o777)  # anyone could plant a run there: not believed
    assert registry.entries() == []
    registry.add(_entry("c-333333", "2026-12-01T10:00:00Z", tmp_path))
    assert not (tmp_path / "runs" / "c-333333.json").exists()
