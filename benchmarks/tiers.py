"""Scenario 7, the service tiers: a 20-slide deck on standard, Priority, Flex and the Batch API.

The engine and the emulator run in one process on one
:class:`~nanobanana_async.emulator.VirtualTime` (the emulator mounted through the ASGI
transport), so minutes of Flex queue cost no waiting; walls are emulated seconds and are
deterministic per seed. What is measured is the engine against the emulator's tier model
(:mod:`nanobanana_async.emulator.tiers`), not Google: the model's knobs are Google's
outline (Flex 1 to 15 minutes, sheddable; Priority faster), and the numbers below are ours.

The deck is scenario 1's model (``gemini-3-pro-image``, 1K here: only timing and cost
matter), 20 slides, a tier-1 quota of 20 requests a minute shared by every tier, the
engine told no rpm. Emulator: latency on (the pro model's 17 to 29 s), Flex shed at 10 %
(:data:`FLEX_SHED_RATE`; 50 % in the ``flex-shedding`` row) and queued 1 to 10 minutes
(:data:`FLEX_QUEUE`), Priority at half the latency, a batch 10 minutes PENDING and 10
RUNNING (:data:`BATCH_LATENCY`; Google says "within 24 hours, often minutes"). The engine:
the default retry policy (a shed retried on Flex twice, then made at standard).

Per run: wall (emulated, the run's start to its end), the run's cost from its answers, the
slides that fell back from Flex to standard, requests sent. Several seeds; the table shows
each tier's median and range.

Run: ``python -m benchmarks.tiers [--seeds N]`` (about 35 s of CPU for 3 seeds); ``make
bench`` runs it with 3.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2

from nanobanana_async import EngineSettings, generate_deck
from nanobanana_async.emulator import Emulator, EmulatorSettings, VirtualTime

from .deck import deck_config
from .report import RESULTS_DIR, update_json

__all__ = ["TIERS", "TierRun", "figures", "run_tier", "run_tiers", "table"]

SLIDES = 20
RPM = 20
FLEX_SHED_RATE = 0.1
FLEX_QUEUE = (60.0, 600.0)
BATCH_LATENCY = 600.0
TIERS = ("standard", "priority", "flex", "flex-shedding", "batch-api")
"""The rows: each tier, Flex again with half its requests shed (:data:`SHEDDING_RATE`: the
fallback at work), and the Batch API."""
SHEDDING_RATE = 0.5
_KEY = "bench-tiers-key-0123456789"


@dataclass(frozen=True, slots=True)
class TierRun:
    """One deck on one tier, one seed."""

    tier: str
    seed: int
    wall_s: float
    cost_usd: float
    fell_back: int
    requests: int
    saved: int


def run_tier(tier: str, seed: int, *, slides: int = SLIDES) -> TierRun:
    """A deck of ``slides`` on ``tier`` (or the Batch API), on a virtual clock of its own."""
    clock = VirtualTime()
    emulator = Emulator(
        EmulatorSettings(
            rpm=RPM,
            seed=seed,
            signature_bytes=0,
            flex_shed_rate=SHEDDING_RATE if tier == "flex-shedding" else FLEX_SHED_RATE,
            flex_queue=FLEX_QUEUE,
            batch_latency=BATCH_LATENCY,
            clock=clock.clock,
            sleep=clock.sleep,
        )
    )
    transport = httpx2.ASGITransport(app=emulator)
    with tempfile.TemporaryDirectory(prefix="nanobanana-tiers-") as tmp:
        config = deck_config(slides, Path(tmp) / "deck", image_size="1K", fmt="jpg", distinct=False)
        if tier == "batch-api":
            config["mode"] = "batch-api"
        else:
            config["service_tier"] = tier.removesuffix("-shedding")
        settings = EngineSettings(
            seed=seed,
            progress_interval=0.0,
            contact_sheet=False,
            batch_poll=(30.0, 60.0),
            clock=clock.clock,
            sleep=clock.sleep,
        )
        results = []

        async def deck() -> None:
            env = {"GEMINI_API_KEY": _KEY}
            results.append(
                await generate_deck(config, settings=settings, transport=transport, env=env)
            )

        started = clock.clock()

        async def main() -> None:
            await clock.run(deck())

        asyncio.run(main())
        wall = clock.clock() - started
    (result,) = results
    return TierRun(
        tier=tier,
        seed=seed,
        wall_s=wall,
        cost_usd=result.cost_usd or 0.0,
        fell_back=sum(1 for output in result.outputs if output.fell_back),
        requests=result.requests,
        saved=result.completed,
    )


def run_tiers(seeds: int = 3, *, slides: int = SLIDES) -> list[TierRun]:
    """Every tier over ``seeds`` seeds (0 to ``seeds - 1``)."""
    return [run_tier(tier, seed, slides=slides) for tier in TIERS for seed in range(seeds)]


def table(runs: list[TierRun]) -> list[str]:
    """One row per tier: median wall (min to max), cost, fell back, requests, saved."""
    lines = [
        "| tier | wall, median (range) | cost | fell back | requests | saved |",
        "|---|---|---|---|---|---|",
    ]
    for tier in TIERS:
        mine = [run for run in runs if run.tier == tier]
        walls = [run.wall_s for run in mine]
        wall = (
            f"{_minutes(statistics.median(walls))} "
            f"({_minutes(min(walls))} to {_minutes(max(walls))})"
        )
        cost = f"${statistics.median(run.cost_usd for run in mine):.2f}"
        fell = "/".join(str(run.fell_back) for run in mine)
        requests = "/".join(str(run.requests) for run in mine)
        saved = "/".join(str(run.saved) for run in mine)
        lines.append(f"| {tier} | {wall} | {cost} | {fell} | {requests} | {saved} |")
    return lines


def figures(runs: list[TierRun]) -> dict[str, Any]:
    """The runs as ``latest.json`` keeps them: the setup, then every run by tier."""
    setup: dict[str, Any] = {"slides": SLIDES, "rpm": RPM, "flex_shed_rate": FLEX_SHED_RATE}
    setup["shedding_rate"] = SHEDDING_RATE
    setup |= {"flex_queue_s": list(FLEX_QUEUE), "batch_latency_s": BATCH_LATENCY}
    by_tier = {tier: [asdict(run) for run in runs if run.tier == tier] for tier in TIERS}
    return {"settings": setup, "runs": by_tier}


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiers")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    began = time.perf_counter()
    runs = run_tiers(args.seeds)
    print(f"{SLIDES} slides, gemini-3-pro-image 1K, {RPM} rpm, seeds 0-{args.seeds - 1}")
    print("\n".join(table(runs)))
    print(f"({time.perf_counter() - began:.0f} s of CPU time; walls are emulated)")
    update_json(RESULTS_DIR / "latest.json", "tiers", figures(runs), [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
