"""A run prepared once: the run carries out what was decided, from what was read then.

The deck's manifest is read once, under the deck's lock, before anything is decided. The
tests here take it away between preparing and carrying out: a run that went back to the
folder to decide (the first slide's kept original, what to re-encode from) or to find the
record it writes over would do otherwise. The engine runs in process against the
emulator (ASGI), which records the digest of every image a request carries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2

from nanobanana_async.config.loading import load_config
from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.stats import image_digest
from nanobanana_async.engine.manifest import MANIFEST_NAME, Decision, Manifest
from nanobanana_async.engine.prepared import prepare_run
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, carry_out, generate_deck
from nanobanana_async.results import DeckResult

ENV = {"GEMINI_API_KEY": "prp-8d2b61f0c7a9e43-5kx2"}
FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)


def deck(tmp_path: Path, count: int, **top: Any) -> dict[str, Any]:
    return {
        "slides": [{"number": n, "prompt": f"Slide {n}: topic {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        **top,
    }


async def made(emulator: Emulator, config: dict[str, Any]) -> DeckResult:
    with anyio.fail_after(10):
        return await generate_deck(
            config, settings=FAST, transport=httpx2.ASGITransport(app=emulator), env=ENV
        )


async def carried_out_without_the_manifest(
    emulator: Emulator, config: dict[str, Any], **kwargs: Any
) -> tuple[DeckResult, dict[int, Decision]]:
    """Prepare a run, remove the manifest from the folder, then carry the run out."""
    with prepare_run(load_config(config, env=ENV), FAST, **kwargs) as prepared:
        (prepared.config.output_dir / MANIFEST_NAME).unlink()
        with anyio.fail_after(10):
            result = await carry_out(prepared, transport=httpx2.ASGITransport(app=emulator))
    return result, {n: v.decision for n, v in prepared.plan.verdicts.items()}


def original(deck_dir: Path, number: int) -> bytes:
    """The bytes the service sent for slide ``number``, as the run kept them."""
    (path,) = (deck_dir / ".originals").glob(f"slide-{number:02d}.webp.*")
    return path.read_bytes()


async def test_the_followers_go_with_the_first_slides_original_as_prepared(
    tmp_path: Path,
) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, 3, consistency="first-slide")
    assert (await made(emulator, config)).completed == 3
    folder = tmp_path / "deck"
    kept = image_digest(original(folder, 1))
    assert kept != image_digest((folder / "slide-01.webp").read_bytes())  # re-encoded on disk
    emulator.reset()
    config["slides"][2]["prompt"] = "Slide 3: another topic"
    result, decided = await carried_out_without_the_manifest(emulator, config)
    assert decided == {1: Decision.KEEP, 2: Decision.KEEP, 3: Decision.GENERATE}
    assert (result.completed, result.failed) == (3, 0)
    # Slide 3 went with slide 1 as the service sent it, not with the image saved from it.
    assert [a["images"] for a in emulator.stats()["arrivals"]] == [[kept]]
    # The record written at the end is the one planned from: the kept slides are in it.
    records = Manifest.read(folder).slides
    assert sorted(records) == [1, 2, 3]
    assert records[3].original is not None


async def test_a_reencode_reads_the_original_the_plan_found(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, 2)
    assert (await made(emulator, config)).completed == 2
    emulator.reset()
    config["quality"] = 70
    result, decided = await carried_out_without_the_manifest(emulator, config)
    assert decided == {1: Decision.REENCODE, 2: Decision.REENCODE}
    assert (result.completed, result.failed, emulator.stats()["requests"]) == (2, 0, 0)
    assert all(output.reused for output in result.outputs)
