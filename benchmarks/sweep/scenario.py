"""Scenario 6, the pacing spread: every quota shape of scenario 5 over many seeds, on virtual time.

Scenario 5 runs each shape once, in real time scaled by 0.04, and a shape whose runs are
bimodal shows whichever mode came up. Here the engine and the emulator run in one process
on one :class:`~nanobanana_async.emulator.VirtualTime` (the emulator mounted through the
ASGI transport): a window of minutes costs no waiting, only the run's CPU work, so each
shape is run over many seeds. The setup is scenario 5's otherwise: its shapes
(``emulate`` arguments, scripts, time scale 0.04), scenario 1's deck of 40 slides of
``gemini-3-pro-image``, an engine told no rpm (what the skill does).

A **seed** is the emulator's (every latency, overload draw and a scripted 429's delay) and
the engine's (its backoff jitter, ``EngineSettings.seed``); the pacer's run id is random
but only names the run in the ledger. The rest is deterministic, so one seed replays one
run exactly (``python -m benchmarks.sweep --first S --seeds 1 CASE``).

**Cases**: each shape of :data:`~benchmarks.shapes.SHAPES` (``transient`` is the lone
early 429 without ``quotaValue``: request 3 gets a scripted minute-quota 429 whose delay
the seed draws, 1 to 60 s), and ``back_to_back``: a deck of 20 slides, then, as soon as it
ends, the deck of 40 on the same key through the quota ledger (scenario 5's back to back);
its row is the second deck's, timed from its start with the first deck's admissions in
the best schedule's quota book.

**A network between them**: each request reaches the emulator half a round trip
(:data:`ROUND_TRIP`, 100 ms emulated) after it leaves, each answer the engine as long
after it is sent. Over the bare in-process transport the emulator runs in the sender's
task, so a refusal is answered before the next request of a burst has even left: the
engine sees a 429 that no network could have brought back so soon, and the spread is
another (seeds 0 to 19: the lone early 429's median 0.47 without the link, 0.80 with it;
the concurrency cap's p10 0.90 without, 0.69 with). ``round_trip=0`` runs without it.
Each request is its own connection, so the verdict counts one inside a delay from a round
trip after the 429 was answered: what arrived sooner had left before the engine knew.

**Cheap images**: only timing matters, so each answer is the emulator's smallest output,
1K JPEG (on this model 1K and 2K take the same 17 to 29 s), without the Gemini 3
``thoughtSignature`` (random base64 that only costs gzip and inflate time), the prompts
repeating every 8 (the emulator renders 8 images and serves the rest from its cache), the
deck written to ``/dev/shm`` when there is one (the engine's writes are fsynced).

**Per run**, in emulated seconds from the emulator's arrivals: wall (first arrival, or
the second deck's start, to the last 200 answer), the best schedule's wall from there
(:func:`~benchmarks.shapes.best_wall` with the latencies the run drew, in order: the best
schedule's wall ends on its last answer, not its last start plus the mean), **efficiency** =
best / wall x saved / slides, slides lost, and requests inside an announced delay (the
emulator's verdict, as above).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx2

from nanobanana_async import EngineSettings, generate_deck
from nanobanana_async.emulator import Emulator, VirtualTime
from nanobanana_async.emulator.asgi import Receive, Scope, Send
from nanobanana_async.emulator.stats import SLACK

from ..deck import deck_config
from ..quota import FORMAT, SLIDES, TIME_SCALE
from ..shapes import (
    SHAPES,
    SHARED_RPM,
    SMALL_DECK,
    Seen,
    Shape,
    SharedDeck,
    best_wall,
    compact_arrivals,
    deck_row,
    emulator_settings,
)

__all__ = [
    "CASES",
    "IMAGE_SIZE",
    "P10_AT_LEAST",
    "ROUND_TRIP",
    "SEEDS",
    "WORST_AT_LEAST",
    "Case",
    "CaseSpread",
    "SeedRun",
    "SweepResult",
    "run_seed",
    "run_sweep",
]

SEEDS = 20
IMAGE_SIZE = "1K"
# Issue 25's targets per case, besides no slide lost and no request inside a delay.
P10_AT_LEAST = 0.90
WORST_AT_LEAST = 0.80
# Emulated seconds from a request's leaving to its answer's arrival, generation aside. Its
# length is a choice: that it is not zero is what counts (0 s through the clock's timers
# and 100 ms gave the same spread on the lone early 429, 10 seeds).
ROUND_TRIP = 0.1
_KEY = "sweep-key-0123456789"
_SCRATCH = Path("/dev/shm")


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the sweep: a quota shape, and the deck sent before on its key, if any.

    Attributes:
        shape: the quota shape (its ``emulate`` arguments and fault script).
        before: slides of a deck sent first on the same key, both decks sharing the quota
            ledger; the row measures the deck after it. 0: the deck alone.
    """

    shape: Shape
    before: int = 0

    @property
    def key(self) -> str:
        return self.shape.key


CASES: tuple[Case, ...] = (
    *(Case(shape) for shape in SHAPES),
    Case(
        Shape(
            "back_to_back",
            f"10 back to back: deck 2 ({SLIDES}) right after deck 1 ({SMALL_DECK}), ledger",
            ("--rpm", str(SHARED_RPM)),
            float(SHARED_RPM),
        ),
        before=SMALL_DECK,
    ),
)


@dataclass(frozen=True, slots=True)
class SeedRun:
    """One case on one seed.

    Attributes:
        seed: the emulator's and the engine's.
        deck: the measured deck's figures (emulated seconds).
        real_s: real seconds the run took (both decks for ``back_to_back``).
        arrivals: what the emulator saw of the measured deck, ``[t, answered, status,
            retry_delay]`` per request, emulated seconds since its start.
    """

    seed: int
    deck: SharedDeck
    real_s: float
    arrivals: list[list[Any]] = field(default_factory=list)

    @property
    def efficiency(self) -> float:
        return self.deck.efficiency or 0.0

    def to_json(self, *, arrivals: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"seed": self.seed, **asdict(self.deck)}
        data["real_s"] = round(self.real_s, 3)
        if arrivals:
            data["arrivals"] = self.arrivals
        return data


def _nearest_rank(ordered: Sequence[float], share: float) -> float:
    """The value a ``share`` of the runs are at or below (nearest rank: no interpolation)."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class CaseSpread:
    """Every seed of one case, and what they add up to."""

    case: Case
    runs: list[SeedRun]

    @property
    def efficiencies(self) -> list[float]:
        return sorted(run.efficiency for run in self.runs)

    @property
    def lowest(self) -> float:
        return self.efficiencies[0]

    @property
    def p10(self) -> float:
        """The ceil(n / 10)-th lowest efficiency: the 2nd of 20 seeds."""
        return _nearest_rank(self.efficiencies, 0.10)

    @property
    def median(self) -> float:
        return statistics.median(self.efficiencies)

    @property
    def worst(self) -> SeedRun:
        return min(self.runs, key=lambda run: (run.efficiency, run.seed))

    @property
    def lost(self) -> int:
        return sum(run.deck.lost for run in self.runs)

    @property
    def inside_delay(self) -> int:
        return sum(run.deck.inside_announced_delay or 0 for run in self.runs)

    @property
    def http_429(self) -> list[int]:
        return [run.deck.http_429 or 0 for run in self.runs]

    @property
    def missed(self) -> list[str]:
        """Issue 25's targets this case misses, in words (empty: all met)."""
        found = []
        if self.p10 < P10_AT_LEAST:
            found.append(f"p10 < {P10_AT_LEAST:.2f}")
        if self.lowest < WORST_AT_LEAST:
            found.append(f"worst < {WORST_AT_LEAST:.2f}")
        if self.lost:
            found.append("lost")
        if self.inside_delay:
            found.append("inside a delay")
        return found

    def to_json(self) -> dict[str, Any]:
        worst = self.worst
        return {
            "label": self.case.shape.label,
            "args": list(self.case.shape.args),
            "script": self.case.shape.script,
            "before": self.case.before,
            "seeds": len(self.runs),
            "min": round(self.lowest, 4),
            "p10": round(self.p10, 4),
            "median": round(self.median, 4),
            "worst_seed": worst.seed,
            "lost": self.lost,
            "inside_announced_delay": self.inside_delay,
            "missed": self.missed,
            "runs": [run.to_json(arrivals=run is worst) for run in self.runs],
        }


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Scenario 6."""

    cases: list[CaseSpread]
    slides: int
    round_trip: float
    jobs: int
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {
                "slides": self.slides,
                "image_size": IMAGE_SIZE,
                "format": FORMAT,
                "time_scale": TIME_SCALE,
                "round_trip_s": self.round_trip,
                "jobs": self.jobs,
                "p10_at_least": P10_AT_LEAST,
                "worst_at_least": WORST_AT_LEAST,
            },
            "cases": {spread.case.key: spread.to_json() for spread in self.cases},
            "duration_s": round(self.duration_s, 1),
        }


# -- one run ------------------------------------------------------------------------------


class _Network:
    """An ASGI app in front of ``app``: half a round trip each way, on the run's clock.

    Each request gets a connection of its own (an HTTP/2 stream, or a pooled connection):
    the emulator's verdict then counts a request inside a delay only a ``reaction`` after
    the 429 was answered, and a round trip is what that takes here.
    """

    def __init__(
        self, app: Emulator, one_way: float, sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._app = app
        self._one_way = one_way
        self._sleep = sleep
        self._streams = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        await self._sleep(self._one_way)
        scope = {**scope, "client": ("engine", next(self._streams))}

        async def back(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await self._sleep(self._one_way)
            await send(message)

        await self._app(scope, receive, back)


def _scratch() -> str | None:
    """Where the decks are written: memory, when the machine has a tmpfs for it."""
    return str(_SCRATCH) if _SCRATCH.is_dir() else None


def run_seed(
    case: Case, seed: int, *, slides: int = SLIDES, round_trip: float = ROUND_TRIP
) -> SeedRun:
    """``case`` on ``seed``, on a virtual clock of its own; its figures.

    ``slides``: the measured deck's size (the test runs a small one); a ``back_to_back``
    first deck keeps its :attr:`Case.before` slides. ``round_trip``: emulated seconds of
    network (0: the engine calls the emulator directly).
    """
    clock = VirtualTime()
    settings = replace(
        emulator_settings(case.shape.args, seed=seed),
        signature_bytes=0,
        clock=clock.clock,
        sleep=clock.sleep,
    )
    emulator = Emulator(settings)
    origin = clock.clock()  # the emulator's arrivals count from its creation
    if case.shape.script:
        emulator.script(case.shape.script)
    one_way = round_trip / 2 * TIME_SCALE
    app = _Network(emulator, one_way, clock.sleep) if round_trip > 0 else emulator
    transport = httpx2.ASGITransport(app=app)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nanobanana-sweep-", dir=_scratch()) as tmp:
        folder = Path(tmp)
        engine = EngineSettings(
            time_scale=TIME_SCALE,
            progress_interval=0.0,
            seed=seed,
            quota_ledger=folder / "ledger.json" if case.before else None,
            contact_sheet=False,
            clock=clock.clock,
            sleep=clock.sleep,
        )

        async def deck(count: int, name: str) -> int:
            config = deck_config(
                count, folder / name, image_size=IMAGE_SIZE, fmt=FORMAT, distinct=False
            )
            env = {"GEMINI_API_KEY": _KEY}
            result = await generate_deck(config, settings=engine, transport=transport, env=env)
            return result.completed

        saved: list[int] = []
        start: list[float] = []  # when the measured deck starts, on the emulator's clock
        before: list[int] = []  # the requests the emulator had seen by then

        async def decks() -> None:
            if case.before:
                await deck(case.before, "first")
            start.append(clock.clock() - origin)
            before.append(emulator.stats()["requests"])
            saved.append(await deck(slides, "deck"))

        async def main() -> None:
            await clock.run(decks())

        asyncio.run(main())
    real = time.perf_counter() - started
    arrivals: list[dict[str, Any]] = emulator.stats()["arrivals"]
    first = before[0]
    seen = Seen.of(arrivals[first:])
    begin = start[0] if case.before else seen.first
    best = None
    if seen.latency is not None and begin is not None:
        admitted = [(a["t"], a["answered"]) for a in arrivals[:first] if a["status"] == 200]
        best = best_wall(settings, slides, seen.latency, begin, admitted, seen.latencies)
        best /= TIME_SCALE
    row = deck_row(
        case.shape.label,
        slides,
        saved[0],
        arrivals,
        start=begin if begin is not None else 0.0,
        best=best,
        before=first,
        reaction=2 * one_way + SLACK,
    )
    return SeedRun(seed, row, real, compact_arrivals(arrivals[first:]))


# -- the sweep ----------------------------------------------------------------------------


def _run_one(job: tuple[Case, int, int, float]) -> SeedRun:
    case, seed, slides, round_trip = job
    return run_seed(case, seed, slides=slides, round_trip=round_trip)


def run_sweep(
    cases: Iterable[Case] = CASES,
    seeds: Iterable[int] = range(SEEDS),
    *,
    slides: int = SLIDES,
    round_trip: float = ROUND_TRIP,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> SweepResult:
    """Every case on every seed: in this process, or in ``jobs`` worker processes (at most 2).

    Runs are independent (each has its own clock, emulator and folder), so a pool changes
    no figure, only the time the sweep takes.
    """
    started = time.perf_counter()
    chosen, numbers = list(cases), list(seeds)
    work = [(case, seed, slides, round_trip) for case in chosen for seed in numbers]
    spreads: list[CaseSpread] = []
    runs: list[SeedRun] = []

    def take(done: Iterable[SeedRun]) -> None:
        for run in done:
            runs.append(run)
            if len(runs) == len(numbers):
                spread = CaseSpread(chosen[len(spreads)], list(runs))
                spreads.append(spread)
                runs.clear()
                log(
                    f"  {spread.case.key}: min {spread.lowest:.3f}, p10 {spread.p10:.3f}, "
                    f"median {spread.median:.3f}, worst seed {spread.worst.seed}, lost "
                    f"{spread.lost}, in delay {spread.inside_delay} "
                    f"({sum(r.real_s for r in spread.runs):.0f} s of runs)"
                )

    if jobs > 1:
        with ProcessPoolExecutor(min(jobs, 2), mp_context=get_context("spawn")) as pool:
            take(pool.map(_run_one, work))
    else:
        take(map(_run_one, work))
    return SweepResult(spreads, slides, round_trip, jobs, time.perf_counter() - started)
