"""Scenario 1, quota-bound: one deck, five ways of sending it, against a per-minute quota.

The emulator runs in a subprocess with ``gemini-3-pro-image`` at 2K (17-29 s per image,
uniform jitter), a quota of ``RPM`` requests per minute and ``--time-scale TIME_SCALE``;
every client is told the same time scale. Runs, each after an emulator reset (same seed, so
the k-th admitted request gets the same latency in every run):

a. ``sequential``: our engine, concurrency 1, no rpm (the seed's one-at-a-time loop);
b. ``engine_true_rpm``: our engine told the true rpm, concurrency left to the engine;
c. ``engine_no_rpm``: our engine told nothing; it must learn the quota from its 429s;
d. ``engine_double_rpm``: our engine told twice the true rpm;
e. ``google_genai``: the official SDK with ``HttpRetryOptions`` under a semaphore of
   ``SDK_CONCURRENCY`` (see :mod:`.genai_baseline`).

**Throughput** (images per minute) is the steady-state rate, in emulated minutes::

    images_per_min = (images saved - 1) / (last accepted arrival - first arrival)

with arrival times as the emulator stamped them. Any client's first image comes one
latency after its first request and its last one latency after its last request; those
two latencies (fill and drain) are the same for every client, so they are left out, and
with them the jitter of single latencies. Everything a client does wrong stays in the
span: idle time, pauses after 429s, a slow start while learning the rate, wasted attempts.
Lost slides lower the count. ``deck_images_per_min`` (images / wall time) is reported too.

**Ceiling** = ``min(quota, concurrency / mean latency)`` (the issue's definition), with the
mean latency the emulator actually applied to this run's successful requests; runs that
size their own concurrency are bounded by the quota alone. **Efficiency** = throughput /
ceiling.

That ceiling is a long-run rate. The emulator's quota is a sliding window (at most ``RPM``
arrivals in any 60 s), which lets a client send a whole window's worth at once; on a deck
only a few windows long, that first burst is worth a window of time, so a client that uses
it can beat the rate ceiling (efficiency above 1). The **deck ceiling** accounts for it: the
steady-state rate of the best schedule for this deck, where every request starts as early
as the quota window and the concurrency allow (with the mean latency; see
:func:`ideal_span`). It equals the rate ceiling for a sequential run and for long decks.
**Deck efficiency** = throughput / deck ceiling, never above 1 but for latency jitter.

The deck is saved as JPEG, the model's own format, which ``save_image`` keeps byte for byte
after a full decode check (about 25 ms per 2K image). Converting to WebP costs about
0.37 s of CPU per 2K image on the benchmark machine; with time running 25 times faster,
a 20 rpm quota would then need 3 cores for encoding alone and the run would measure the
CPU, not the quota (scenario 2 measures the conversion).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nanobanana_async import EngineSettings, generate_deck, load_config
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.engine.progress import Progress

from .deck import MODEL, deck_config
from .emulator_process import EmulatorProcess
from .genai_baseline import run_sdk

__all__ = [
    "FORMAT",
    "IMAGE_SIZE",
    "RPM",
    "SDK_CONCURRENCY",
    "SEED",
    "SLIDES",
    "TIME_SCALE",
    "WINDOW",
    "QuotaRun",
    "ideal_span",
    "ideal_starts",
    "run_quota_scenario",
]

RPM = 20
SLIDES = 40
TIME_SCALE = 0.04
IMAGE_SIZE = "2K"
FORMAT = "jpg"
SEED = 7
WINDOW = 60.0  # the quota's sliding window, in emulated seconds
# Real seconds one run may take before the benchmark gives up on it (the longest, the
# sequential run, takes about 40).
_RUN_TIMEOUT = 150.0
# The issue asks for a semaphore the size of ours, which is now a whole window (20). With
# 20 the SDK lost 20 of the 40 slides (100 429s on 120 requests: its five attempts are
# spent long before the window frees), so it runs with 10, Little's law for the true rpm
# (20/min x 23 s x 1.25 = 9.6): its best showing, and the harder comparison for us.
SDK_CONCURRENCY = 10


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one client run did, seen from the client (times in real seconds)."""

    saved: int
    wall: float
    timeline: list[tuple[float, int]]


@dataclass(frozen=True, slots=True)
class QuotaRun:
    """One run of scenario 1; times are emulated seconds, rates per emulated minute.

    Attributes:
        key: stable name of the run.
        label: how the table shows it.
        client: ``nanobanana-async`` or ``google-genai``.
        concurrency: requests in flight allowed (``None``: the engine sized it).
        rpm_told: the rpm the client was given (``None``: none).
        slides: slides in the deck.
        saved: images saved.
        lost: slides without an image at the end.
        requests: ``generateContent`` requests the emulator received.
        http_429: of which answered 429.
        other_errors: of which answered anything else but 200 or 429.
        peak_in_flight: the most requests the emulator held at once.
        wall_s: the client's wall time, start to last image saved.
        span_s: first arrival to last accepted arrival at the emulator.
        mean_latency_s: mean emulator latency of the 200 answers.
        images_per_min: steady-state throughput (see the module docstring).
        deck_images_per_min: ``saved / wall_s``, per minute.
        ceiling_per_min: ``min(quota, concurrency / mean latency)``.
        efficiency: ``images_per_min / ceiling_per_min``.
        deck_ceiling_per_min: the best rate this deck allows (see :func:`ideal_span`).
        deck_efficiency: ``images_per_min / deck_ceiling_per_min``.
        timeline: (emulated seconds since start, images saved so far), one per image.
    """

    key: str
    label: str
    client: str
    concurrency: int | None
    rpm_told: float | None
    slides: int
    saved: int
    lost: int
    requests: int
    http_429: int
    other_errors: int
    peak_in_flight: int
    wall_s: float
    span_s: float
    mean_latency_s: float
    images_per_min: float
    deck_images_per_min: float
    ceiling_per_min: float
    efficiency: float
    deck_ceiling_per_min: float
    deck_efficiency: float
    timeline: list[tuple[float, int]]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timeline"] = [[round(t, 3), n] for t, n in self.timeline]
        return data


def ideal_starts(
    n: int, *, limit: int | None, window: float, concurrency: int | None, latency: float
) -> list[float]:
    """Start times of ``n`` requests sent as early as the quota and concurrency allow.

    Request ``k`` starts when the one ``concurrency`` places before it has ended (all take
    ``latency``) and, with a quota of ``limit`` per sliding ``window``, when the one
    ``limit`` places before it has left the window. Starting every request as early as
    possible is optimal here (the requests are identical), so no client can start its last
    request sooner.
    """
    starts: list[float] = []
    for k in range(n):
        t = starts[-1] if starts else 0.0
        if concurrency is not None and k >= concurrency:
            t = max(t, starts[k - concurrency] + latency)
        if limit is not None and k >= limit:
            t = max(t, starts[k - limit] + window)
        starts.append(t)
    return starts


def ideal_span(
    n: int, *, limit: int | None, window: float, concurrency: int | None, latency: float
) -> float:
    """Time from the first to the last start of :func:`ideal_starts`."""
    starts = ideal_starts(n, limit=limit, window=window, concurrency=concurrency, latency=latency)
    return starts[-1] - starts[0] if starts else 0.0


async def _engine(
    config: dict[str, Any], env: dict[str, str], settings: EngineSettings
) -> _Outcome:
    timeline: list[tuple[float, int]] = []
    started = time.perf_counter()

    def on_progress(progress: Progress) -> None:
        if progress.succeeded > (timeline[-1][1] if timeline else 0):
            timeline.append((time.perf_counter() - started, progress.succeeded))

    result = await generate_deck(config, progress=on_progress, settings=settings, env=env)
    return _Outcome(result.completed, time.perf_counter() - started, timeline)


def _measure(
    emulator: EmulatorProcess,
    outcome: _Outcome,
    *,
    key: str,
    label: str,
    client: str,
    concurrency: int | None,
    rpm_told: float | None,
) -> QuotaRun:
    stats = emulator.settle()
    latencies = emulator.latencies(200)
    arrivals: list[dict[str, Any]] = stats["arrivals"]
    by_status: dict[str, int] = stats["by_status"]
    scale = TIME_SCALE
    accepted = [a["t"] for a in arrivals if a["status"] == 200]
    span = max(accepted) - min(a["t"] for a in arrivals) if accepted else 0.0
    rate = (outcome.saved - 1) / span if outcome.saved > 1 and span > 0 else 0.0  # per real s
    latency = statistics.fmean(latencies) if latencies else float("nan")
    quota = RPM / (WINDOW * scale)  # per real second
    ceiling = quota if concurrency is None else min(quota, concurrency / latency)
    best_span = ideal_span(
        SLIDES, limit=RPM, window=WINDOW * scale, concurrency=concurrency, latency=latency
    )
    deck_ceiling = (SLIDES - 1) / best_span
    per_min = 60.0 * scale  # real-time rate per second -> emulated rate per minute
    return QuotaRun(
        key=key,
        label=label,
        client=client,
        concurrency=concurrency,
        rpm_told=rpm_told,
        slides=SLIDES,
        saved=outcome.saved,
        lost=SLIDES - outcome.saved,
        requests=stats["requests"],
        http_429=by_status.get("429", 0),
        other_errors=sum(n for s, n in by_status.items() if s not in ("200", "429")),
        peak_in_flight=stats["peak_concurrency"],
        wall_s=outcome.wall / scale,
        span_s=span / scale,
        mean_latency_s=latency / scale,
        images_per_min=rate * per_min,
        deck_images_per_min=outcome.saved / outcome.wall * per_min,
        ceiling_per_min=ceiling * per_min,
        efficiency=rate / ceiling,
        deck_ceiling_per_min=deck_ceiling * per_min,
        deck_efficiency=rate / deck_ceiling,
        timeline=[(t / scale, n) for t, n in outcome.timeline],
    )


# (key, label, concurrency, rpm told)
_ENGINE_RUNS: tuple[tuple[str, str, int | None, float | None], ...] = (
    ("sequential", "a sequential (engine, concurrency 1)", 1, None),
    ("engine_true_rpm", f"b engine, rpm {RPM} (true)", None, float(RPM)),
    ("engine_no_rpm", "c engine, no rpm", None, None),
    ("engine_double_rpm", f"d engine, rpm {2 * RPM} (2x)", None, float(2 * RPM)),
)


def _engine_run(
    emulator: EmulatorProcess,
    folder: Path,
    *,
    key: str,
    label: str,
    concurrency: int | None,
    rpm: float | None,
) -> QuotaRun:
    emulator.reset()
    env = {"GEMINI_API_KEY": f"bench-{key}", "GOOGLE_GEMINI_BASE_URL": emulator.base_url}
    config = deck_config(SLIDES, folder, image_size=IMAGE_SIZE, fmt=FORMAT)
    settings = EngineSettings(
        concurrency=concurrency,
        rpm=rpm,
        time_scale=TIME_SCALE,
        progress_interval=0.0,
        seed=SEED,
    )
    outcome = asyncio.run(asyncio.wait_for(_engine(config, env, settings), _RUN_TIMEOUT))
    return _measure(
        emulator,
        outcome,
        key=key,
        label=label,
        client="nanobanana-async",
        concurrency=concurrency,
        rpm_told=rpm,
    )


def _sdk_run(emulator: EmulatorProcess, folder: Path) -> QuotaRun:
    emulator.reset()
    key = "google_genai"
    env = {"GEMINI_API_KEY": f"bench-{key}", "GOOGLE_GEMINI_BASE_URL": emulator.base_url}
    config = load_config(deck_config(SLIDES, folder, image_size=IMAGE_SIZE, fmt=FORMAT), env=env)
    folder.mkdir()
    sdk = run_sdk(
        plan_jobs(config),
        model=MODEL,
        base_url=emulator.base_url,
        api_key=env["GEMINI_API_KEY"],
        concurrency=SDK_CONCURRENCY,
        time_scale=TIME_SCALE,
    )
    saved, wall, timeline = asyncio.run(asyncio.wait_for(sdk, _RUN_TIMEOUT))
    return _measure(
        emulator,
        _Outcome(saved, wall, timeline),
        key=key,
        label=f"e google-genai, semaphore {SDK_CONCURRENCY}",
        client="google-genai",
        concurrency=SDK_CONCURRENCY,
        rpm_told=None,
    )


def run_quota_scenario(log: Any = print) -> list[QuotaRun]:
    """Run a-e against one emulator subprocess; one :class:`QuotaRun` each, in order."""
    runs: list[QuotaRun] = []
    with (
        tempfile.TemporaryDirectory(prefix="nanobanana-bench-") as tmp,
        EmulatorProcess(rpm=RPM, time_scale=TIME_SCALE, seed=SEED) as emulator,
    ):
        for key, label, concurrency, rpm in _ENGINE_RUNS:
            folder = Path(tmp) / key
            run = _engine_run(
                emulator, folder, key=key, label=label, concurrency=concurrency, rpm=rpm
            )
            runs.append(run)
            log(f"  {run.label}: {run.saved}/{SLIDES} in {run.wall_s * TIME_SCALE:.1f} s")
        run = _sdk_run(emulator, Path(tmp) / "google_genai")
        runs.append(run)
        log(f"  {run.label}: {run.saved}/{SLIDES} in {run.wall_s * TIME_SCALE:.1f} s")
    return runs
