"""Scenario 5, quota shapes: one deck against every shape of quota the emulator can play.

Each shape is a set of ``nanobanana emulate`` arguments, played by its own emulator
subprocess, with the deck of scenario 1 (``gemini-3-pro-image`` at 2K, JPEG, 40 slides,
``--time-scale 0.04``, seed 7). Runs per shape, each after an emulator reset and on a key
of its own (``bench-<shape>-<run>``):

* ``best``: not run, computed. The best schedule the shape allows, from
  :func:`nanobanana_async.emulator.ideal_starts` (the emulator's own quota book on a
  simulated clock: its windows, its concurrency cap, its other client), started at the
  first arrival of the ``engine_no_rpm`` run, with that run's mean latency. Its wall is
  ``last start - first start + mean latency``;
* ``engine_no_rpm``: :func:`~nanobanana_async.generate_deck`, told neither rpm nor
  concurrency (what the skill does);
* ``engine_true_rpm``: the same, told the shape's nominal rpm (its limit per minute; none
  for a bare concurrency cap, where the run is skipped);
* ``google_genai``: the official SDK under a semaphore, as run e of scenario 1.

Times are emulated seconds. A run's **wall** is read from the emulator's arrivals: from
our first arrival to the end of our last 200 answer. **Deck efficiency** = best wall /
wall x saved / slides. Fixed windows count from the emulator's start (a reset does not
move that origin), so before every run on a fixed-window shape the benchmark waits until
the emulator's clock is half-way through a window: every run, and the best schedule, meet
the same phase.

Two more scenarios share one key through the quota ledger
(``EngineSettings(quota_ledger=...)``), on the sliding minute of 20 rpm, and run again
without it for comparison:

* ``back_to_back``: a deck of 20, then, as soon as it ends, a deck of 40. The second
  deck's best schedule starts where it was started, with the first deck's admissions
  still in the quota book; its wall runs from its start to its last answer (so a client
  that waits longer than needed before its first send pays for it);
* ``two_at_once``: two decks of 20 started together (``asyncio.gather``), each with its
  own output folder. Reported together: the share of the quota used,
  ``saved / 40 x best wall for 40 / wall of both``, from their start; and the ratio of
  their wall times (slower / faster, as each client saw it).

Run this scenario alone with ``python -m benchmarks.shapes [SHAPE...]`` (the package's
``__main__``); it prints its tables and targets and updates the ``shapes`` part of
``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from nanobanana_async import EngineSettings, generate_deck, load_config
from nanobanana_async.emulator import EmulatorSettings, ideal_starts
from nanobanana_async.emulator.server import emulate_settings
from nanobanana_async.emulator.stats import REACTION, SLACK, Arrival, inside_announced_delay
from nanobanana_async.engine.plan import plan_jobs

from ..deck import MODEL, deck_config
from ..emulator_process import EmulatorProcess
from ..genai_baseline import run_sdk
from ..quota import FORMAT, IMAGE_SIZE, SDK_CONCURRENCY, SEED, SLIDES, TIME_SCALE

__all__ = [
    "RUN_TIMEOUT",
    "SHAPES",
    "SHARED_RPM",
    "SMALL_DECK",
    "Seen",
    "Shape",
    "ShapeResult",
    "ShapeRun",
    "ShapesResult",
    "SharedDeck",
    "SharedResult",
    "best_wall",
    "compact_arrivals",
    "deck_row",
    "emulator_settings",
    "run_shapes_scenario",
]

T = TypeVar("T")

# Real seconds one run (or one pair of decks) may take; the slowest shape's best run takes
# about 6 (a concurrency cap of 6: 7 rounds of 23 s, scaled).
RUN_TIMEOUT = 45.0
SHARED_RPM = 20
SMALL_DECK = 20


@dataclass(frozen=True, slots=True)
class Shape:
    """One quota shape.

    Attributes:
        key: stable name (``python -m benchmarks.shapes KEY``).
        label: how the table shows it.
        args: the ``nanobanana emulate`` arguments that make it.
        rpm: its nominal requests per minute, told to the true-rpm run (``None``: the
            shape has none, and that run is skipped).
        script: a fault script, sent again after every reset.
    """

    key: str
    label: str
    args: tuple[str, ...]
    rpm: float | None
    script: dict[str, str] | None = None


SHAPES: tuple[Shape, ...] = (
    Shape("sliding", "1 sliding minute, 20/60s", ("--rpm", "20"), 20.0),
    Shape(
        "fixed",
        "2 fixed minute, 20/60s, deck starts mid-window",
        ("--quota", "fixed:20/60s+30s"),
        20.0,
    ),
    Shape("short_window", "3 short window, sliding 4/10s", ("--quota", "sliding:4/10s"), 24.0),
    Shape("bucket", "4 token bucket, 20/60s, burst 5", ("--quota", "bucket:20/60s,burst=5"), 20.0),
    Shape("concurrency", "5 concurrency cap 6, no rate quota", ("--max-concurrent", "6"), None),
    Shape(
        "other_client",
        "6 20/60s, another client taking 8/60s",
        ("--rpm", "20", "--other-client", "8/60s"),
        20.0,
    ),
    Shape(
        "silent",
        "7 20/60s, no RetryInfo, no quotaValue",
        ("--rpm", "20", "--hide-retry-info", "--hide-quota-value"),
        20.0,
    ),
    Shape(
        "overload", "8 20/60s, overload 429s 10%", ("--rpm", "20", "--overload-rate", "0.1"), 20.0
    ),
    Shape(
        "transient",
        "9 20/60s, request 3 a scripted 429, no quotaValue",
        ("--rpm", "20", "--hide-quota-value"),
        20.0,
        script={"3": "429"},
    ),
)


@dataclass(frozen=True, slots=True)
class ShapeRun:
    """One run on one shape; times in emulated seconds, ``None`` where nothing applies.

    Attributes:
        key: ``best``, ``engine_no_rpm``, ``engine_true_rpm`` or ``google_genai``.
        label: how the table shows it.
        client: ``ideal``, ``nanobanana-async`` or ``google-genai``.
        outcome: ``ok``, ``timeout`` (gave up after :data:`RUN_TIMEOUT`), ``n/a``
            (skipped) or ``computed`` (the best schedule).
        rpm_told: the rpm the client was given.
        api_key: the key it used.
        slides: slides in the deck.
        saved, lost: images saved, slides without one.
        requests, http_429, other_errors: ``generateContent`` requests the emulator
            received; answered 429; answered neither 200 nor 429.
        inside_announced_delay: requests sent while a delay a 429 announced was running.
        first_arrival_s: our first arrival, on the emulator's clock (since its start).
        wall_s: our first arrival to the end of our last 200 answer.
        send_span_s: our first arrival to our last arrival answered 200.
        client_wall_s: the client's own wall time, call to return.
        mean_latency_s: mean arrival-to-answer time of the 200 answers.
        deck_efficiency: the best run's wall / ``wall_s``, x ``saved / slides`` (a run
            that loses slides ends sooner, but has not made the deck).
        steady_efficiency: scenario 1's deck efficiency: ``(saved - 1) / send_span_s``
            over the best schedule's ``(slides - 1) / send span``. Fill and drain are
            left out, and with them the jitter of single latencies (the last answer of a
            burst comes after its longest latency, not its mean).
        retry_delays_s: the delays the 429s announced, in arrival order (``None``: none
            announced).
        inside_after_ms: for each request inside an announced delay, real milliseconds
            from the answer of the 429 it ignored to its arrival.
        arrivals: what the emulator saw, ``[t, answered, status, retry_delay]`` per
            request in emulated seconds (``t`` and ``answered`` since its start).
    """

    key: str
    label: str
    client: str
    outcome: str
    rpm_told: float | None = None
    api_key: str | None = None
    slides: int = SLIDES
    saved: int | None = None
    lost: int | None = None
    requests: int | None = None
    http_429: int | None = None
    other_errors: int | None = None
    inside_announced_delay: int | None = None
    first_arrival_s: float | None = None
    wall_s: float | None = None
    send_span_s: float | None = None
    client_wall_s: float | None = None
    mean_latency_s: float | None = None
    deck_efficiency: float | None = None
    steady_efficiency: float | None = None
    retry_delays_s: list[float | None] = field(default_factory=list)
    inside_after_ms: list[float] = field(default_factory=list)
    arrivals: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["retry_delays_s"] = [None if d is None else round(d, 3) for d in self.retry_delays_s]
        return data


@dataclass(frozen=True, slots=True)
class ShapeResult:
    """Every run on one shape, the best first."""

    shape: Shape
    runs: list[ShapeRun]

    def run(self, key: str) -> ShapeRun:
        return next(r for r in self.runs if r.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.shape.label,
            "args": list(self.shape.args),
            "script": self.shape.script,
            "rpm": self.shape.rpm,
            "best_wall_s": self.run("best").wall_s,
            "runs": {run.key: run.to_json() for run in self.runs},
        }


@dataclass(frozen=True, slots=True)
class SharedDeck:
    """One deck of a shared-key scenario, or the decks together; emulated seconds.

    Attributes:
        label: how the table shows it.
        slides, saved, lost: deck size, images saved, slides without one.
        wall_s: from the deck's start to its last 200 answer (emulator's arrivals), or
            for a deck of ``two_at_once`` the client's own wall (the arrivals do not say
            which deck sent what).
        best_wall_s: the best schedule's wall from the same start.
        efficiency: ``best_wall_s / wall_s`` (x ``saved / slides`` together).
        requests, http_429, inside_announced_delay: as in :class:`ShapeRun` (``None`` for
            one deck of two sent at once).
    """

    label: str
    slides: int
    saved: int
    lost: int
    wall_s: float | None
    best_wall_s: float | None
    efficiency: float | None
    requests: int | None = None
    http_429: int | None = None
    inside_announced_delay: int | None = None


@dataclass(frozen=True, slots=True)
class SharedResult:
    """One run of ``back_to_back`` or ``two_at_once``.

    Attributes:
        key: ``back_to_back`` or ``two_at_once``.
        ledger: whether the decks shared the quota ledger.
        outcome: ``ok`` or ``timeout``.
        decks: the two decks, in order.
        together: for ``two_at_once``, both decks as one.
        ratio: for ``two_at_once``, slower wall / faster wall.
        arrivals: as in :class:`ShapeRun`, both decks'.
    """

    key: str
    ledger: bool
    outcome: str
    decks: list[SharedDeck]
    together: SharedDeck | None = None
    ratio: float | None = None
    arrivals: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "outcome": self.outcome,
            "decks": [asdict(d) for d in self.decks],
            "together": asdict(self.together) if self.together else None,
            "ratio": self.ratio,
            "arrivals": self.arrivals,
        }


@dataclass(frozen=True, slots=True)
class ShapesResult:
    """Scenario 5."""

    shapes: list[ShapeResult]
    shared: list[SharedResult]
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": {
                "model": MODEL,
                "image_size": IMAGE_SIZE,
                "format": FORMAT,
                "slides": SLIDES,
                "time_scale": TIME_SCALE,
                "seed": SEED,
                "sdk_concurrency": SDK_CONCURRENCY,
                "run_timeout_s": RUN_TIMEOUT,
                "shared_rpm": SHARED_RPM,
            },
            "shapes": {r.shape.key: r.to_json() for r in self.shapes},
            "shared": {
                f"{r.key}_{'ledger' if r.ledger else 'no_ledger'}": r.to_json() for r in self.shared
            },
            "duration_s": round(self.duration_s, 1),
        }


# -- the quotas, as the emulator and the best schedule see them --------------------------


def emulator_settings(
    args: Sequence[str], *, time_scale: float = TIME_SCALE, seed: int = SEED
) -> EmulatorSettings:
    """The settings ``nanobanana emulate ARGS`` runs with (this scenario's scale and seed).

    Identical requests get identical, cached images (``--same-repeats``): a deck of repeated
    prompts is drawn once per prompt, as before the emulator marked repeats.
    """
    fixed = ["--time-scale", repr(time_scale), "--seed", str(seed), "--same-repeats"]
    return emulate_settings([*args, *fixed])


def best_wall(
    settings: EmulatorSettings,
    n: int,
    latency: float,
    start: float,
    admitted: Iterable[tuple[float, float]] = (),
    latencies: Sequence[float] = (),
) -> float:
    """Real seconds from ``start`` to the end of the best schedule that may begin then.

    ``admitted`` (arrival, due) pairs of earlier requests on the same key go into the
    quota book first; then :func:`ideal_starts`'s loop runs on that book. ``latencies``:
    the run's own, in the order it drew them; the best schedule's k-th request takes the
    k-th, and its wall ends on the answer that ends last (a burst ends on its longest
    answer, not its mean: with the mean alone, a client sending exactly the best schedule
    scored 0.89 on the fixed window). Without them, every request takes ``latency``.
    """
    starts = ideal_starts(
        n, settings, latency=latency, start=start, admitted=admitted, latencies=latencies
    )
    own = [*latencies[:n], *[latency] * (n - len(latencies))]
    return max(s + t for s, t in zip(starts, own, strict=True)) - start


def _align(emulator: EmulatorProcess, settings: EmulatorSettings) -> None:
    """On a fixed window, wait until the emulator's clock is half-way through one."""
    fixed = [q for q in settings.rate_quotas if q.kind == "fixed"]
    if not fixed:
        return
    span = fixed[0].window * TIME_SCALE
    boundary = fixed[0].phase * TIME_SCALE
    into = (emulator.now() - boundary) % span
    time.sleep((span / 2 - into) % span)


# -- what the emulator saw ----------------------------------------------------------------


def _arrival(data: dict[str, Any]) -> Arrival:
    arrival = Arrival(data["n"], data["t"], data["model"], data["key"], conn=data.get("conn", ""))
    arrival.status = data["status"]
    arrival.answered = data["answered"]
    arrival.retry_delay = data["retry_delay"]
    return arrival


def _inside(
    arrivals: Sequence[dict[str, Any]], *, before: int = 0, reaction: float = REACTION
) -> int:
    """Requests after the first ``before`` sent inside an announced delay (any of the key's).

    ``reaction``: the emulator's verdict's allowance for a request on another connection.
    """
    every = inside_announced_delay((_arrival(a) for a in arrivals), reaction=reaction)
    earlier = inside_announced_delay((_arrival(a) for a in arrivals[:before]), reaction=reaction)
    return every - earlier


def _inside_after(arrivals: Sequence[dict[str, Any]]) -> list[float]:
    """For each request counted by :func:`_inside`: real ms since the 429 answer it ignored.

    The latest answered 429 of its key whose announced delay it arrived in, as the
    emulator's verdict counts them (on the 429's own connection from its answer, on another
    after ``REACTION``; before the delay's end).
    """
    quiet = [
        (a["key"], a.get("conn", ""), a["answered"], a["answered"] + a["retry_delay"])
        for a in arrivals
        if a["status"] == 429 and a["retry_delay"] is not None and a["answered"] is not None
    ]
    lags = []
    for a in arrivals:
        answers = [
            start
            for key, conn, start, end in quiet
            if key == a["key"]
            and start + (SLACK if conn == a.get("conn", "") else REACTION) <= a["t"] < end - SLACK
        ]
        if answers:
            lags.append(round((a["t"] - max(answers)) * 1000, 1))
    return lags


def compact_arrivals(arrivals: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """``[t, answered, status, retry_delay]`` per arrival, emulated seconds since start."""

    def emulated(value: float | None) -> float | None:
        return None if value is None else round(value / TIME_SCALE, 3)

    return [
        [emulated(a["t"]), emulated(a["answered"]), a["status"], emulated(a["retry_delay"])]
        for a in arrivals
    ]


@dataclass(frozen=True, slots=True)
class Seen:
    """Arrivals of one run, in real seconds on the emulator's clock."""

    requests: int
    http_429: int
    other_errors: int
    first: float | None
    last_accepted: float | None
    last_answer: float | None
    latency: float | None
    retry_delays: list[float | None]
    latencies: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, arrivals: Sequence[dict[str, Any]]) -> Seen:
        ok = [a for a in arrivals if a["status"] == 200 and a["answered"] is not None]
        refused = [a for a in arrivals if a["status"] == 429]
        return cls(
            requests=len(arrivals),
            http_429=len(refused),
            other_errors=len(arrivals) - len(ok) - len(refused),
            first=min((a["t"] for a in arrivals), default=None),
            last_accepted=max((a["t"] for a in ok), default=None),
            last_answer=max((a["answered"] for a in ok), default=None),
            latency=statistics.fmean(a["answered"] - a["t"] for a in ok) if ok else None,
            retry_delays=[a["retry_delay"] for a in refused],
            latencies=[a["answered"] - a["t"] for a in sorted(ok, key=lambda a: a["t"])],
        )


# -- running clients ----------------------------------------------------------------------


def _within_timeout(make: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """Run ``make()`` to its end, or ``None`` after :data:`RUN_TIMEOUT` real seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), RUN_TIMEOUT)

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        return None


def _on_disk(folder: Path) -> int:
    return sum(1 for p in folder.glob(f"*.{FORMAT}") if not p.name.startswith("."))


async def _deck(config: dict[str, Any], env: dict[str, str], settings: EngineSettings) -> float:
    """Run one deck; the real seconds it took."""
    started = time.perf_counter()
    await generate_deck(config, settings=settings, env=env)
    return time.perf_counter() - started


def _env(emulator: EmulatorProcess, api_key: str) -> dict[str, str]:
    return {"GEMINI_API_KEY": api_key, "GOOGLE_GEMINI_BASE_URL": emulator.base_url}


def _engine_settings(rpm: float | None = None, ledger: Path | None = None) -> EngineSettings:
    return EngineSettings(
        rpm=rpm, time_scale=TIME_SCALE, progress_interval=0.0, seed=SEED, quota_ledger=ledger
    )


def _client_run(
    emulator: EmulatorProcess,
    settings: EmulatorSettings,
    folder: Path,
    *,
    shape: Shape,
    key: str,
) -> ShapeRun:
    """One measured run on ``shape``: the engine (with or without rpm) or the SDK."""
    emulator.reset()
    api_key = f"bench-{shape.key}-{key}"
    env = _env(emulator, api_key)
    config = deck_config(SLIDES, folder, image_size=IMAGE_SIZE, fmt=FORMAT)
    rpm = shape.rpm if key == "engine_true_rpm" else None
    _align(emulator, settings)
    wall: float | None
    if key == "google_genai":
        client, label = "google-genai", f"google-genai, semaphore {SDK_CONCURRENCY}"
        jobs = plan_jobs(load_config(config, env=env))
        folder.mkdir(parents=True)

        def sdk() -> Coroutine[Any, Any, tuple[int, float, list[tuple[float, int]]]]:
            return run_sdk(
                jobs,
                model=MODEL,
                base_url=emulator.base_url,
                api_key=api_key,
                concurrency=SDK_CONCURRENCY,
                time_scale=TIME_SCALE,
            )

        answer = _within_timeout(sdk)
        wall = None if answer is None else answer[1]
    else:
        client = "nanobanana-async"
        label = "engine, no rpm" if rpm is None else f"engine, rpm {rpm:g} (true)"
        wall = _within_timeout(lambda: _deck(config, env, _engine_settings(rpm)))
    arrivals: list[dict[str, Any]] = emulator.settle()["arrivals"]
    seen = Seen.of(arrivals)
    saved = _on_disk(folder)
    span = sends = None
    if seen.first is not None and seen.last_answer is not None:
        span = (seen.last_answer - seen.first) / TIME_SCALE
    if seen.first is not None and seen.last_accepted is not None:
        sends = (seen.last_accepted - seen.first) / TIME_SCALE
    return ShapeRun(
        key=key,
        label=label,
        client=client,
        outcome="ok" if wall is not None else "timeout",
        rpm_told=rpm,
        api_key=api_key,
        saved=saved,
        lost=SLIDES - saved,
        requests=seen.requests,
        http_429=seen.http_429,
        other_errors=seen.other_errors,
        inside_announced_delay=_inside(arrivals),
        first_arrival_s=None if seen.first is None else seen.first / TIME_SCALE,
        wall_s=span,
        send_span_s=sends,
        client_wall_s=None if wall is None else wall / TIME_SCALE,
        mean_latency_s=None if seen.latency is None else seen.latency / TIME_SCALE,
        retry_delays_s=[None if d is None else d / TIME_SCALE for d in seen.retry_delays],
        inside_after_ms=_inside_after(arrivals),
        arrivals=compact_arrivals(arrivals),
    )


def run_shape(shape: Shape, tmp: Path, log: Callable[[str], None] = print) -> ShapeResult:
    """The best schedule and every run on one shape, against its own emulator."""
    settings = emulator_settings(shape.args)
    measured: list[ShapeRun] = []
    with EmulatorProcess(
        time_scale=TIME_SCALE, seed=SEED, extra=shape.args, script=shape.script
    ) as emulator:
        for key in ("engine_no_rpm", "engine_true_rpm", "google_genai"):
            if key == "engine_true_rpm" and shape.rpm is None:
                measured.append(ShapeRun(key, "engine, true rpm: n/a", "nanobanana-async", "n/a"))
                continue
            run = _client_run(emulator, settings, tmp / shape.key / key, shape=shape, key=key)
            measured.append(run)
            wall = "timeout" if run.outcome == "timeout" else f"{run.wall_s or 0:.0f} s"
            log(f"  {shape.key} {run.label}: {run.saved}/{SLIDES}, {wall}, {run.http_429} 429s")
    base = measured[0]
    if base.first_arrival_s is None or base.mean_latency_s is None:
        # The no-rpm run sent nothing that succeeded: any other run's figures will do.
        base = next((r for r in measured if r.mean_latency_s is not None), base)
    latency = (base.mean_latency_s or 23.0) * TIME_SCALE
    start = (base.first_arrival_s or 0.0) * TIME_SCALE
    starts = ideal_starts(SLIDES, settings, latency=latency, start=start)
    best_sends = (starts[-1] - starts[0]) / TIME_SCALE
    best_wall = best_sends + latency / TIME_SCALE
    best = ShapeRun(
        "best",
        "best schedule (computed)",
        "ideal",
        "computed",
        saved=SLIDES,
        lost=0,
        first_arrival_s=start / TIME_SCALE,
        wall_s=best_wall,
        send_span_s=best_sends,
        mean_latency_s=latency / TIME_SCALE,
        deck_efficiency=1.0,
        steady_efficiency=1.0,
    )
    runs = [best]
    for run in measured:
        if run.outcome == "ok" and run.wall_s and run.saved is not None:
            run = replace(run, deck_efficiency=best_wall / run.wall_s * run.saved / SLIDES)
        if run.outcome == "ok" and run.send_span_s and run.saved and best_sends > 0:
            rate = (run.saved - 1) / run.send_span_s
            run = replace(run, steady_efficiency=rate / ((SLIDES - 1) / best_sends))
        runs.append(run)
    return ShapeResult(shape, runs)


# -- one key, two decks ---------------------------------------------------------------------


def deck_row(
    label: str,
    slides: int,
    saved: int,
    arrivals: Sequence[dict[str, Any]],
    *,
    start: float,
    best: float | None,
    before: int = 0,
    reaction: float = REACTION,
) -> SharedDeck:
    """One deck's figures from the emulator's arrivals (real seconds on its clock).

    Its arrivals are those after the first ``before``; its wall runs from ``start`` to its
    last 200 answer, in emulated seconds, and its efficiency is ``best`` (emulated seconds)
    over that wall, times the share of its ``slides`` it ``saved``. ``reaction``: as
    :func:`~nanobanana_async.emulator.stats.inside_announced_delay` takes it.
    """
    seen = Seen.of(arrivals[before:])
    wall = None if seen.last_answer is None else (seen.last_answer - start) / TIME_SCALE
    efficiency = None
    if wall and best is not None:
        efficiency = best / wall * (saved / slides)
    return SharedDeck(
        label=label,
        slides=slides,
        saved=saved,
        lost=slides - saved,
        wall_s=wall,
        best_wall_s=best,
        efficiency=efficiency,
        requests=seen.requests,
        http_429=seen.http_429,
        inside_announced_delay=_inside(arrivals, before=before, reaction=reaction),
    )


def _back_to_back(
    emulator: EmulatorProcess, settings: EmulatorSettings, tmp: Path, *, ledger: bool
) -> SharedResult:
    name = "ledger" if ledger else "no_ledger"
    folder = tmp / f"back_to_back_{name}"
    folder.mkdir(parents=True)
    emulator.reset()
    env = _env(emulator, f"bench-back-to-back-{name}")
    engine = _engine_settings(ledger=folder / "ledger.json" if ledger else None)
    first = deck_config(SMALL_DECK, folder / "deck1", image_size=IMAGE_SIZE, fmt=FORMAT)
    second = deck_config(SLIDES, folder / "deck2", image_size=IMAGE_SIZE, fmt=FORMAT)
    start1 = emulator.now()
    wall1 = _within_timeout(lambda: _deck(first, env, engine))
    count1 = emulator.settle()["requests"]
    start2 = emulator.now()
    wall2 = _within_timeout(lambda: _deck(second, env, engine))
    arrivals: list[dict[str, Any]] = emulator.settle()["arrivals"]
    one, two = Seen.of(arrivals[:count1]), Seen.of(arrivals[count1:])
    best1 = best2 = None
    if one.latency is not None:
        best1 = best_wall(settings, SMALL_DECK, one.latency, start1, [], one.latencies)
        best1 /= TIME_SCALE
    if two.latency is not None:
        admitted = [(a["t"], a["answered"]) for a in arrivals[:count1] if a["status"] == 200]
        best2 = best_wall(settings, SLIDES, two.latency, start2, admitted, two.latencies)
        best2 /= TIME_SCALE
    decks = [
        deck_row(
            f"deck 1 ({SMALL_DECK} slides)",
            SMALL_DECK,
            _on_disk(folder / "deck1"),
            arrivals[:count1],
            start=start1,
            best=best1,
        ),
        deck_row(
            f"deck 2 ({SLIDES} slides), right after",
            SLIDES,
            _on_disk(folder / "deck2"),
            arrivals,
            start=start2,
            best=best2,
            before=count1,
        ),
    ]
    outcome = "ok" if wall1 is not None and wall2 is not None else "timeout"
    return SharedResult("back_to_back", ledger, outcome, decks, arrivals=compact_arrivals(arrivals))


def _two_at_once(
    emulator: EmulatorProcess, settings: EmulatorSettings, tmp: Path, *, ledger: bool
) -> SharedResult:
    name = "ledger" if ledger else "no_ledger"
    folder = tmp / f"two_at_once_{name}"
    folder.mkdir(parents=True)
    emulator.reset()
    env = _env(emulator, f"bench-two-at-once-{name}")
    engine = _engine_settings(ledger=folder / "ledger.json" if ledger else None)
    configs = [
        deck_config(SMALL_DECK, folder / deck, image_size=IMAGE_SIZE, fmt=FORMAT)
        for deck in ("a", "b")
    ]

    async def both() -> list[float]:
        return list(await asyncio.gather(*(_deck(c, env, engine) for c in configs)))

    start = emulator.now()
    walls = _within_timeout(both)
    arrivals: list[dict[str, Any]] = emulator.settle()["arrivals"]
    seen = Seen.of(arrivals)
    saved = [_on_disk(folder / deck) for deck in ("a", "b")]
    best = None
    if seen.latency is not None:
        best = best_wall(settings, 2 * SMALL_DECK, seen.latency, start, [], seen.latencies)
        best /= TIME_SCALE
    together = deck_row(
        f"together ({2 * SMALL_DECK} slides)",
        2 * SMALL_DECK,
        sum(saved),
        arrivals,
        start=start,
        best=best,
    )
    decks = [
        SharedDeck(
            label=f"deck {deck} ({SMALL_DECK} slides)",
            slides=SMALL_DECK,
            saved=n,
            lost=SMALL_DECK - n,
            wall_s=None if walls is None else walls[i] / TIME_SCALE,
            best_wall_s=None,
            efficiency=None,
        )
        for i, (deck, n) in enumerate(zip(("A", "B"), saved, strict=True))
    ]
    ratio = None if walls is None or min(walls) <= 0 else max(walls) / min(walls)
    outcome = "ok" if walls is not None else "timeout"
    return SharedResult(
        "two_at_once", ledger, outcome, decks, together, ratio, arrivals=compact_arrivals(arrivals)
    )


def run_shared(tmp: Path, log: Callable[[str], None] = print) -> list[SharedResult]:
    """``back_to_back`` and ``two_at_once``, with the ledger and without it."""
    args = ("--rpm", str(SHARED_RPM))
    settings = emulator_settings(args)
    found: list[SharedResult] = []
    with EmulatorProcess(time_scale=TIME_SCALE, seed=SEED, extra=args) as emulator:
        for run in (_back_to_back, _two_at_once):
            for ledger in (True, False):
                result = run(emulator, settings, tmp, ledger=ledger)
                found.append(result)
                effs = [d.efficiency for d in [*result.decks, result.together] if d]
                shown = " ".join("-" if e is None else f"{e:.3f}" for e in effs)
                log(f"  {result.key}, ledger {ledger}: {result.outcome}, efficiency {shown}")
    return found


def run_shapes_scenario(
    keys: Sequence[str] | None = None, log: Callable[[str], None] = print, *, shared: bool = True
) -> ShapesResult:
    """Every shape (or those named by ``keys``), then the shared-key scenarios."""
    started = time.perf_counter()
    chosen = [s for s in SHAPES if keys is None or s.key in keys]
    shapes: list[ShapeResult] = []
    shared_runs: list[SharedResult] = []
    with tempfile.TemporaryDirectory(prefix="nanobanana-bench-shapes-") as tmp:
        for shape in chosen:
            log(f"5. {shape.label} ({' '.join(shape.args)})")
            shapes.append(run_shape(shape, Path(tmp), log))
        if shared:
            log("5. one key, two decks (back to back, two at once)")
            shared_runs = run_shared(Path(tmp), log)
    return ShapesResult(shapes, shared_runs, time.perf_counter() - started)
