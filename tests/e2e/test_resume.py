"""Resume: finish a deck without paying twice for an image already on disk.

A slide counts as done only when its file is under its final name, is a regular file (not
a symlink) and decodes as an image; anything else is asked for again. The results of the
resumed run account for every slide, old and new, and mark the kept ones ``reused``.
Leftover temporary files of the run being resumed are removed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from engine_testing import (
    SHAPED_KEY,
    RecordingEmulator,
    check_results_match_disk,
    deck_config,
    decodes,
    environment,
    jpeg_bytes,
    leftovers,
    read_json,
    run_cli,
    write_json,
)
from PIL import Image

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread
from nanobanana_async.engine.manifest import Manifest
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.results import DeckResult

FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)


def emulator(**settings: Any) -> RecordingEmulator:
    settings.setdefault("latency", False)
    settings.setdefault("signature_bytes", 0)
    return RecordingEmulator(EmulatorSettings(**settings))


async def run(
    emu: RecordingEmulator,
    config: dict[str, Any],
    tmp_path: Path,
    *,
    resume: bool,
    force: bool = False,
) -> DeckResult:
    return await generate_deck(
        config,
        settings=FAST,
        transport=httpx2.ASGITransport(app=emu),
        env={"GEMINI_API_KEY": SHAPED_KEY},
        results_file=tmp_path / "results.json",
        progress_file=tmp_path / "progress.json",
        resume=resume,
        force=force,
    )


def temp_name(final: str) -> str:
    """A name of the shape ``write_atomic`` gives its temporary files."""
    return f".{final}.{os.urandom(8).hex()}.tmp"


async def test_resume_asks_only_for_what_is_missing_broken_or_failed(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    config = deck_config(deck, 9, concurrency=3, format="png")
    first_emulator = emulator()
    first_emulator.script({1: "blocked"})  # one slide fails in the first run
    first = await run(first_emulator, config, tmp_path, resume=False)
    assert first.failed == 1
    failed = first.errors[0].slide
    saved = {o.slide: o.path for o in first.outputs}
    assert not any(o.reused for o in first.outputs)

    # Damage the deck the way crashes and people do.
    broken: dict[int, str] = {}
    remaining = sorted(saved)
    victim = remaining.pop(0)
    saved[victim].unlink()
    broken[victim] = "deleted"
    victim = remaining.pop(0)
    saved[victim].write_bytes(saved[victim].read_bytes()[:-200])  # cut before IEND
    broken[victim] = "truncated"
    victim = remaining.pop(0)
    saved[victim].write_bytes(b"")
    broken[victim] = "empty"
    victim = remaining.pop(0)
    saved[victim].write_bytes(b"<html>not an image</html>")
    broken[victim] = "not an image"
    victim = remaining.pop(0)
    elsewhere = tmp_path / "elsewhere.png"
    saved[victim].rename(elsewhere)
    saved[victim].symlink_to(elsewhere)  # whole, but not ours to trust
    broken[victim] = "symlink"
    kept = set(remaining)
    assert len(kept) == 3
    elsewhere_bytes = elsewhere.read_bytes()

    second_emulator = emulator()
    second = await run(second_emulator, config, tmp_path, resume=True)
    assert second_emulator.requested() == {failed, *broken}
    assert all(n == 1 for n in second_emulator.images_delivered().values())
    assert second.completed == 9
    assert second.state == "done"
    reused = {o.slide for o in second.outputs if o.reused}
    assert reused == kept
    results = read_json(tmp_path / "results.json")
    assert {o["slide"] for o in results["outputs"] if o.get("reused")} == kept
    check_results_match_disk(results, deck, 9)
    assert results["requests"] == len(broken) + 1
    for output in second.outputs:
        assert not output.path.is_symlink()
    assert elsewhere.read_bytes() == elsewhere_bytes  # the symlink was replaced, not followed
    progress = read_json(tmp_path / "progress.json")
    assert (progress["current"], progress["reused"], progress["state"]) == (9, 3, "done")
    assert read_json(deck / "nano-banana-results.json") == results


async def test_resume_of_a_complete_deck_sends_nothing(tmp_path: Path) -> None:
    config = deck_config(tmp_path / "deck", 4, format="jpg")
    await run(emulator(), config, tmp_path, resume=False)
    again = emulator()
    result = await run(again, config, tmp_path, resume=True)
    assert again.exchanges == []
    assert result.requests == 0
    assert [o.reused for o in result.outputs] == [True] * 4
    assert (result.completed, result.state, result.exit_code) == (4, "done", 0)
    check_results_match_disk(read_json(tmp_path / "results.json"), tmp_path / "deck", 4)


async def test_a_rerun_of_an_unchanged_deck_sends_nothing_and_force_redoes_it(
    tmp_path: Path,
) -> None:
    config = deck_config(tmp_path / "deck", 3, format="jpg")
    await run(emulator(), config, tmp_path, resume=False)
    again = emulator()
    kept = await run(again, config, tmp_path, resume=False)
    assert again.requested() == set()
    assert all(o.reused for o in kept.outputs)
    forced = emulator()
    result = await run(forced, config, tmp_path, resume=False, force=True)
    assert forced.requested() == {1, 2, 3}
    assert not any(o.reused for o in result.outputs)
    # Nothing paid for is destroyed: each image the forced run replaced is a version.
    assert sorted(p.name for p in (tmp_path / "deck" / ".versions").iterdir()) == [
        "slide-01.2.jpg",
        "slide-02.2.jpg",
        "slide-03.2.jpg",
    ]
    assert [o.previous for o in result.outputs] == [
        tmp_path / "deck" / ".versions" / f"slide-0{n}.2.jpg" for n in (1, 2, 3)
    ]


async def test_a_run_removes_only_the_leftovers_of_its_own_files(tmp_path: Path) -> None:
    # The deck lock says no other run is writing this folder, so a temp named after this
    # deck's files is a leftover whatever its age, resumed run or fresh; any other name,
    # however much it looks like one of ours, is not this run's to delete.
    for resume in (True, False):
        deck = tmp_path / f"deck-{resume}"
        config = deck_config(deck, 3, format="jpg")
        deck.mkdir()
        ours = [deck / temp_name("slide-02.jpg"), deck / temp_name("nano-banana-results.json")]
        for path in ours:
            path.write_bytes(b"half an image")  # just written by a run killed a moment ago
        young_other = deck / temp_name("other-deck-01.png")
        stale_other = deck / temp_name("notes.txt")
        for path in (young_other, stale_other):
            path.write_bytes(b"someone else's")
        an_hour_ago = time.time() - 3600
        os.utime(stale_other, (an_hour_ago, an_hour_ago))
        lookalike = deck / ".slide-02.jpg.notours.tmp"  # not our shape: never touched
        lookalike.write_bytes(b"keep")

        result = await run(emulator(), config, tmp_path, resume=resume)
        assert result.completed == 3
        assert not any(path.exists() for path in ours)
        assert stale_other.exists()
        assert young_other.exists()
        assert lookalike.exists()


@pytest.fixture(scope="module")
def base_url() -> Any:
    with serve_in_thread(EmulatorSettings(latency=False, signature_bytes=0)) as url:
        yield url


def test_run_resume_on_the_command_line(tmp_path: Path, base_url: str) -> None:
    deck = tmp_path / "deck"
    config = write_json(tmp_path / "slides.json", deck_config(deck, 4, format="jpg"))
    files = [
        "--progress-file",
        str(tmp_path / "p.json"),
        "--results-file",
        str(tmp_path / "r.json"),
    ]
    first = run_cli("run", "--config", str(config), *files, env=environment(base_url))
    assert first.returncode == 0, first.stderr
    (deck / "slide-03.jpg").unlink()
    (deck / temp_name("slide-03.jpg")).write_bytes(b"leftover")
    second = run_cli("run", "--config", str(config), "--resume", *files, env=environment(base_url))
    assert second.returncode == 0, second.stderr
    assert second.stderr == b""
    assert second.stdout.decode().startswith("done 4/4")
    assert "(3 reused)" in second.stdout.decode()
    results = orjson.loads((tmp_path / "r.json").read_bytes())
    assert results["requests"] == 1
    assert [o["slide"] for o in results["outputs"] if not o.get("reused")] == [3]
    check_results_match_disk(results, deck, 4)
    assert all(decodes(p) for p in deck.glob("slide-*"))


async def test_resume_saves_what_a_killed_run_received_without_asking_again(
    tmp_path: Path,
) -> None:
    # A run killed (or interrupted) while converting leaves the image as received, staged.
    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / ".slide-02.webp.received").write_bytes(jpeg_bytes())
    (deck / ".slide-03.webp.received").write_bytes(jpeg_bytes()[:300])  # cut: not an image
    emu = emulator()
    result = await run(emu, deck_config(deck, 3), tmp_path, resume=True)
    assert emu.requested() == {1, 3}
    assert [(o.slide, o.reused) for o in result.outputs] == [(1, False), (2, True), (3, False)]
    # The killed run paid for slide 2 and could not say so: it counts at the plan's estimate.
    paid = result.outputs[0].cost_usd
    assert paid is not None
    assert result.deck_cost_usd == pytest.approx(3 * paid, rel=0.02)
    assert Manifest.read(deck).slides[2].cost_usd == pytest.approx(paid, rel=0.02)
    with Image.open(deck / "slide-02.webp") as image:
        assert (image.format, image.size) == ("WEBP", (320, 180))
    assert leftovers(deck) == []  # staged files are gone once saved, or discarded
    check_results_match_disk(read_json(tmp_path / "results.json"), deck, 3)
    assert read_json(tmp_path / "progress.json")["reused"] == 1


async def test_a_staged_image_is_dropped_when_the_final_one_is_whole(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    config = deck_config(deck, 1, format="jpg")
    await run(emulator(), config, tmp_path, resume=False)
    (deck / ".slide-01.jpg.received").write_bytes(jpeg_bytes())
    emu = emulator()
    result = await run(emu, config, tmp_path, resume=True)
    assert emu.exchanges == []
    assert result.outputs[0].reused
    assert leftovers(deck) == []


async def test_a_fresh_run_asks_again_whatever_is_staged(tmp_path: Path) -> None:
    deck = tmp_path / "deck"
    deck.mkdir()
    (deck / ".slide-01.webp.received").write_bytes(jpeg_bytes())
    emu = emulator()
    result = await run(emu, deck_config(deck, 1), tmp_path, resume=False)
    assert emu.requested() == {1}
    assert not result.outputs[0].reused
    assert leftovers(deck) == []  # replaced by this run's bytes, then removed
