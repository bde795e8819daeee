"""Scenario 2, CPU-bound: no latency, no quota; 2K JPEG answers saved as WebP quality 90.

Once the network costs nothing, a run is as fast as the decode-and-encode work allows. The
ceiling is that work alone, measured in the same process on the same bytes: a plain
:class:`~concurrent.futures.ThreadPoolExecutor` calling
:func:`~benchmarks.deck.save_image` on every image, with as many threads as the
engine is allowed requests in flight, and no HTTP at all. The *full-work* ceiling is the
same pool doing all the engine must do with an answer but the HTTP: read the answer's body
as it came (gzip, from a file), inflate it, parse its JSON, base64-decode the image, then
decode and encode it (:func:`full_pool`).

The emulator (``--no-latency``, a subprocess) is warmed first with every request of the
deck: its rendered images are cached, so the measured runs pay the emulator's HTTP and
gzip work but not its drawing, and the bytes the ceiling encodes are exactly the bytes the
engine receives.

The machine may be shared, and even quiet its speed drifts: one pool ran at 6.5 and 8.6
images/s in one ``make bench`` with no other process busy. So the three are measured in
alternation, ``ROUNDS`` times, in the reverse order every other round (a drift then favours
none), and each round gives its ratios: the figures reported are the median round's, with
the spread of every round beside them. Every run records how much of the machine's CPU
*other* processes used meanwhile (``/proc/stat``, steal time included, minus this process
and the emulator). (Until 2026-12-07 the ratio reported was that of the round least
disturbed by other processes; with every round below 3% that picked a round at random.)
CPU time per
image is recorded too (this process, all threads; and the emulator's), since it hardly
depends on what else the machine is doing: it shows what the engine spends on top of the
encode (receiving, un-gzipping and parsing the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import resource
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2
import orjson

from nanobanana_async import EngineSettings, generate_deck, load_config
from nanobanana_async.engine.plan import Job, plan_jobs
from nanobanana_async.service.client import ACCEPT_ENCODING
from nanobanana_async.service.protocol import parse_success

from .deck import MODEL, deck_config, save_image
from .emulator_process import EmulatorProcess, cpu_seconds

__all__ = [
    "CpuResult",
    "Sample",
    "decode_encode_pool",
    "engine_run",
    "full_pool",
    "measured",
    "parsed",
    "run_cpu_scenario",
    "warm",
    "warmed",
]

IMAGES = 24
THREADS = 4
ROUNDS = 5
IMAGE_SIZE = "2K"
QUALITY = 90
KEY = "bench-cpu"
_TICKS = os.sysconf("SC_CLK_TCK")
_RUN_TIMEOUT = 60.0
_GZIP_WBITS = zlib.MAX_WBITS | 16


@dataclass(frozen=True, slots=True)
class CpuResult:
    """Scenario 2's figures.

    Attributes:
        images: images per measured run.
        threads: the engine's concurrency and the pool's thread count.
        engine_images_per_s: the median of the engine's runs.
        pool_images_per_s: the median of the thread pool's runs (decode and encode only).
        full_pool_images_per_s: the median of the full-work pool's runs.
        ratio: the median over rounds of engine / pool images per second.
        full_ratio: the median over rounds of engine / full-work pool.
        others_cpu_share: the largest share of the machine's CPU other processes used in a
            round (the largest of its three runs; 0.05 = 5%).
        engine_runs: images per second of every engine run.
        pool_runs: images per second of every pool run.
        full_pool_runs: images per second of every full-work pool run.
        round_ratios: engine / pool of every round.
        full_round_ratios: engine / full-work pool of every round.
        round_others_share: other processes' CPU share of every round.
        engine_cpu_ms: CPU milliseconds per image of this process during the engine runs.
        emulator_cpu_ms: the emulator's CPU milliseconds per image during those runs.
        pool_cpu_ms: CPU milliseconds per image during the pool runs.
        full_pool_cpu_ms: CPU milliseconds per image during the full-work pool runs.
    """

    images: int
    threads: int
    engine_images_per_s: float
    pool_images_per_s: float
    full_pool_images_per_s: float
    ratio: float
    full_ratio: float
    others_cpu_share: float
    engine_runs: list[float]
    pool_runs: list[float]
    full_pool_runs: list[float]
    round_ratios: list[float]
    full_round_ratios: list[float]
    round_others_share: list[float]
    engine_cpu_ms: float
    emulator_cpu_ms: float
    pool_cpu_ms: float
    full_pool_cpu_ms: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def warm(base_url: str, jobs: list[Job], folder: Path) -> list[Path]:
    """Send every request once; keep each answer's body as it came (gzip) in ``folder``."""
    headers = {
        "x-goog-api-key": KEY,
        "content-type": "application/json",
        "accept-encoding": ACCEPT_ENCODING,
    }
    url = f"{base_url}/v1beta/models/{MODEL}:generateContent"
    folder.mkdir(parents=True, exist_ok=True)
    answers = []
    with httpx2.Client(headers=headers, timeout=60) as client:
        for job in jobs:
            with client.stream("POST", url, content=orjson.dumps(job.body)) as response:
                response.raise_for_status()
                if response.headers.get("content-encoding") != "gzip":
                    raise RuntimeError("the emulator's answer is not gzipped")
                path = folder / f"answer-{job.slide:03d}.json.gz"
                path.write_bytes(b"".join(response.iter_raw()))
            answers.append(path)
    return answers


@dataclass(frozen=True, slots=True)
class Warmed:
    """The scenario's deck, its answers fetched once, and the emulator that made them."""

    emulator: EmulatorProcess
    base: Path
    env: dict[str, str]
    config: dict[str, Any]
    jobs: list[Job]
    answers: list[Path]


@contextlib.contextmanager
def warmed(prefix: str) -> Iterator[Warmed]:
    """A temporary folder, an emulator, the deck's jobs and every answer, kept on disk."""
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
        EmulatorProcess(latency=False) as emulator,
    ):
        env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": emulator.base_url}
        base = Path(tmp)
        config = deck_config(IMAGES, base / "warm", image_size=IMAGE_SIZE, fmt="webp")
        jobs = plan_jobs(load_config(config, env=env))
        answers = warm(emulator.base_url, jobs, base / "answers")
        yield Warmed(emulator, base, env, config, jobs, answers)


def parsed(answer: Path) -> bytes:
    """The work every answer costs before its image: read, inflate, parse, base64-decode."""
    body = zlib.decompressobj(_GZIP_WBITS).decompress(answer.read_bytes())
    return parse_success(body).data


def _full_work(job: Job, answer: Path, folder: Path) -> None:
    save_image(
        parsed(answer),
        folder / job.dest.name,
        fmt=job.fmt,
        quality=job.quality,
        lossless=job.lossless,
    )


def full_pool(jobs: list[Job], answers: list[Path], folder: Path) -> float:
    """The full-work ceiling: each answer read, inflated, parsed, decoded and encoded."""
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(_full_work, job, answer, folder)
            for job, answer in zip(jobs, answers, strict=True)
        ]
        for future in futures:
            future.result()
    return len(jobs) / (time.perf_counter() - started)


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, steal included)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured run: its speed, and the CPU it, the emulator and others used."""

    images_per_s: float
    own_cpu: float
    emulator_cpu: float
    others_share: float


def measured(run: Callable[[], float], emulator_pid: int) -> Sample:
    own, emulator, busy = _own_cpu(), cpu_seconds(emulator_pid), _machine_busy()
    started = time.perf_counter()
    images_per_s = run()
    wall = time.perf_counter() - started
    own = _own_cpu() - own
    emulator = cpu_seconds(emulator_pid) - emulator
    others = _machine_busy() - busy - own - emulator
    share = max(0.0, others) / (wall * len(os.sched_getaffinity(0)))
    return Sample(images_per_s, own, emulator, share)


def decode_encode_pool(jobs: list[Job], images: list[bytes], folder: Path) -> float:
    """The decode+encode ceiling: ``save_image`` on every image's bytes, no HTTP, no parse."""
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(
                save_image,
                data,
                folder / job.dest.name,
                fmt=job.fmt,
                quality=job.quality,
                lossless=job.lossless,
            )
            for job, data in zip(jobs, images, strict=True)
        ]
        for future in futures:
            future.result()
    return len(jobs) / (time.perf_counter() - started)


def engine_run(config: dict[str, Any], env: dict[str, str]) -> float:
    settings = EngineSettings(concurrency=THREADS)
    started = time.perf_counter()
    run = generate_deck(config, settings=settings, env=env)
    result = asyncio.run(asyncio.wait_for(run, _RUN_TIMEOUT))
    elapsed = time.perf_counter() - started
    if result.completed != IMAGES:
        raise RuntimeError(f"the engine saved {result.completed} of {IMAGES} images")
    return IMAGES / elapsed


def run_cpu_scenario(log: Any = print) -> CpuResult:
    """Warm the emulator, then alternate the two pools and the engine; report the medians."""
    pools: list[Sample] = []
    fulls: list[Sample] = []
    engines: list[Sample] = []
    with warmed("nanobanana-bench-") as ready:
        emulator, base, env, config = ready.emulator, ready.base, ready.env, ready.config
        jobs, answers = ready.jobs, ready.answers
        images = [parsed(answer) for answer in answers]
        for n in range(ROUNDS):
            (base / f"pool-{n}").mkdir()
            (base / f"full-{n}").mkdir()
            runs: dict[str, Callable[[], float]] = {
                "pool": functools.partial(decode_encode_pool, jobs, images, base / f"pool-{n}"),
                "full": functools.partial(full_pool, jobs, answers, base / f"full-{n}"),
                "engine": functools.partial(
                    engine_run, {**config, "output_dir": str(base / f"engine-{n}")}, env
                ),
            }
            order = list(runs) if n % 2 == 0 else list(reversed(runs))
            samples = {name: measured(runs[name], emulator.pid) for name in order}
            pool, full, engine = samples["pool"], samples["full"], samples["engine"]
            pools.append(pool)
            fulls.append(full)
            engines.append(engine)
            log(
                f"  round {n + 1}: pool {pool.images_per_s:.2f}/s, "
                f"full-work pool {full.images_per_s:.2f}/s, "
                f"engine {engine.images_per_s:.2f}/s; other processes used "
                f"{pool.others_share:.0%}, {full.others_share:.0%} and "
                f"{engine.others_share:.0%} of the CPU"
            )
    per_image_ms = 1000 / (IMAGES * ROUNDS)
    rounds = list(zip(pools, fulls, engines, strict=True))
    ratios = [e.images_per_s / p.images_per_s for p, _, e in rounds]
    full_ratios = [e.images_per_s / f.images_per_s for _, f, e in rounds]
    disturbance = [max(s.others_share for s in samples) for samples in rounds]
    return CpuResult(
        images=IMAGES,
        threads=THREADS,
        engine_images_per_s=statistics.median(s.images_per_s for s in engines),
        pool_images_per_s=statistics.median(s.images_per_s for s in pools),
        full_pool_images_per_s=statistics.median(s.images_per_s for s in fulls),
        ratio=statistics.median(ratios),
        full_ratio=statistics.median(full_ratios),
        others_cpu_share=max(disturbance),
        engine_runs=[s.images_per_s for s in engines],
        pool_runs=[s.images_per_s for s in pools],
        full_pool_runs=[s.images_per_s for s in fulls],
        round_ratios=ratios,
        full_round_ratios=full_ratios,
        round_others_share=disturbance,
        engine_cpu_ms=sum(s.own_cpu for s in engines) * per_image_ms,
        emulator_cpu_ms=sum(s.emulator_cpu for s in engines) * per_image_ms,
        pool_cpu_ms=sum(s.own_cpu for s in pools) * per_image_ms,
        full_pool_cpu_ms=sum(s.own_cpu for s in fulls) * per_image_ms,
    )
