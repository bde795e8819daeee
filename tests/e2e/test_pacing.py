"""The engine under every quota shape the emulator models, told nothing about it.

Each run is a real deck through the emulator (in process, over the ASGI transport) with
latency off and the emulator's windows shrunk by ``time_scale``; the engine is given the
same scale and no rpm, as the skill runs it. What is checked is what the issue asks for in
every shape: every slide saved, no request sent inside a delay the service announced (the
emulator counts them), and no storm of 429s. How fast each shape goes against its best
schedule is measured in ``benchmarks/shapes/``, not asserted here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from nanobanana_async.emulator import Emulator, EmulatorSettings, OtherClient, RateQuota
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.results import DeckResult

SCALE = 0.01  # a minute lasts 0.6 s
SLIDES = 12
KEY = "pacing-key-0123456789"


def _deck(folder: Path, count: int = SLIDES) -> dict[str, Any]:
    return {
        "slides": [{"number": n, "prompt": f"Slide {n}: pacing {n}"} for n in range(1, count + 1)],
        "output_dir": str(folder),
        "image_size": "1K",
    }


async def _run(
    emu: Emulator, folder: Path, *, ledger: Path | None = None, count: int = SLIDES
) -> DeckResult:
    settings = EngineSettings(time_scale=SCALE, progress_interval=0.0, quota_ledger=ledger)
    return await generate_deck(
        _deck(folder, count),
        settings=settings,
        transport=httpx2.ASGITransport(app=emu),
        env={"GEMINI_API_KEY": KEY},
    )


SHAPES: dict[str, dict[str, Any]] = {
    "sliding minute": {"rpm": 5},
    "fixed minute, met mid-window": {"quotas": (RateQuota("fixed", 5, 60.0, phase=25.0),)},
    "a per-minute label on a 10 s window": {"quotas": (RateQuota("sliding", 2, 10.0),)},
    "token bucket": {"quotas": (RateQuota("bucket", 12, 60.0, burst=3),)},
    "another client on the key": {"rpm": 8, "other_client": OtherClient(3, 60.0)},
    "no RetryInfo, no quotaValue": {"rpm": 5, "retry_info": False, "quota_value": False},
    "overload 429s": {"rpm": 6, "overload_rate": 0.2},
    # A cap on generations in progress counts by due time, so it needs the latency on.
    "concurrency cap": {"max_concurrent": 3, "latency": True},
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_shape_completes_without_sending_inside_a_delay(
    tmp_path: Path, shape: str
) -> None:
    settings: dict[str, Any] = {"latency": False, "time_scale": SCALE, "seed": 3}
    settings.update(SHAPES[shape])
    emu = Emulator(EmulatorSettings(**settings))
    result = await _run(emu, tmp_path / "deck")
    stats = emu.stats()
    assert result.completed == SLIDES, result.errors
    assert stats["inside_announced_delay"] == 0
    # 429s cost nothing, but a storm per window is noise: a few per slide at most (a quota
    # that announces no delay is found by lone probes, a dozen per window; a storm of the
    # gate's width per probe would be hundreds).
    assert stats["by_status"].get("429", 0) <= 3 * SLIDES
    assert result.rate_limited == stats["by_status"].get("429", 0)
    assert result.rate_limit_waits <= result.rate_limited


async def test_a_deck_after_one_that_filled_the_window_runs_at_the_full_quota(
    tmp_path: Path,
) -> None:
    """The regression that made a second deck crawl: all refused must not mean "rate 1"."""
    emu = Emulator(EmulatorSettings(latency=False, time_scale=SCALE, rpm=5))
    first = await _run(emu, tmp_path / "first", count=5)
    assert first.completed == 5
    second = await _run(emu, tmp_path / "second", count=15)
    assert second.completed == 15
    admitted = [a["t"] for a in emu.stats()["arrivals"] if a["status"] == 200]
    window = 60 * SCALE
    # Once the first deck's window had freed, whole windows of five went out.
    busiest = max(sum(t <= u < t + window * 0.9 for u in admitted) for t in admitted[5:])
    assert busiest == 5


async def test_two_decks_at_once_share_the_quota_through_the_ledger(tmp_path: Path) -> None:
    emu = Emulator(EmulatorSettings(latency=False, time_scale=SCALE, rpm=6))
    ledger = tmp_path / "ledger.json"
    results: dict[str, DeckResult] = {}

    async def deck(name: str) -> None:
        results[name] = await _run(emu, tmp_path / name, ledger=ledger)

    async with anyio.create_task_group() as group:
        group.start_soon(deck, "a")
        group.start_soon(deck, "b")
    stats = emu.stats()
    assert results["a"].completed == results["b"].completed == SLIDES
    assert stats["inside_announced_delay"] == 0
    # One storm teaches both runs; after it, the shared log keeps them inside the window.
    assert stats["by_status"].get("429", 0) <= 2 * SLIDES
