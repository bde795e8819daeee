"""Scenario 2 with one more ceiling: a thread pool that also fetches its answers over HTTP.

Not part of ``make bench``: a tool for splitting the engine's gap to the full-work ceiling
(:func:`benchmarks.cpu.full_pool`, which reads its answers from files) into what any client
pays to receive them over HTTP from the emulator on the same two cores, and what the
engine adds on top. ``python -m benchmarks.cpu_http`` warms the emulator as scenario 2
does, then alternates three runs ``ROUNDS`` times (the order reversed every other round):
the HTTP pool (``THREADS`` threads, one ``httpx2.Client`` with as many connections, each
thread posting a request, parsing the answer and saving the image as the full-work pool
does), the decode+encode pool, the full-work pool, and the engine. It prints each round,
the medians of the ratios, and each run's CPU milliseconds per image (this process, all
threads, and the emulator's), median and spread: on a shared machine the ratios are noise,
the CPU per image much less so.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import orjson

from nanobanana_async.engine.plan import Job
from nanobanana_async.service.client import ACCEPT_ENCODING
from nanobanana_async.service.protocol import parse_success

from .cpu import (
    IMAGES,
    KEY,
    ROUNDS,
    THREADS,
    Sample,
    decode_encode_pool,
    engine_run,
    full_pool,
    measured,
    parsed,
    warmed,
)
from .deck import MODEL, save_image

__all__ = ["http_pool", "main"]


def http_pool(base_url: str, jobs: list[Job], folder: Path) -> float:
    """Images per second of a thread pool fetching every answer, then saving its image."""
    headers = {"x-goog-api-key": KEY, "content-type": "application/json"}
    headers["accept-encoding"] = ACCEPT_ENCODING
    url = f"{base_url}/v1beta/models/{MODEL}:generateContent"
    limits = httpx2.Limits(max_connections=THREADS)
    started = time.perf_counter()
    with httpx2.Client(headers=headers, timeout=60, limits=limits) as client:

        def one(job: Job) -> None:
            answer = client.post(url, content=orjson.dumps(job.body))
            answer.raise_for_status()
            data = parse_success(answer.content).data
            dest = folder / job.dest.name
            save_image(data, dest, fmt=job.fmt, quality=job.quality, lossless=job.lossless)

        with ThreadPoolExecutor(THREADS) as pool:
            for future in [pool.submit(one, job) for job in jobs]:
                future.result()
    return len(jobs) / (time.perf_counter() - started)


def main() -> None:
    with warmed("nanobanana-cpu-http-") as ready:
        images = [parsed(answer) for answer in ready.answers]
        rounds: list[dict[str, Sample]] = []
        for n in range(ROUNDS):
            for name in ("http", "pool", "full"):
                (ready.base / f"{name}-{n}").mkdir()
            runs: dict[str, Callable[[], float]] = {
                "http": functools.partial(
                    http_pool, ready.emulator.base_url, ready.jobs, ready.base / f"http-{n}"
                ),
                "pool": functools.partial(
                    decode_encode_pool, ready.jobs, images, ready.base / f"pool-{n}"
                ),
                "full": functools.partial(
                    full_pool, ready.jobs, ready.answers, ready.base / f"full-{n}"
                ),
                "engine": functools.partial(
                    engine_run,
                    {**ready.config, "output_dir": str(ready.base / f"e-{n}")},
                    ready.env,
                ),
            }
            order = list(runs) if n % 2 == 0 else list(reversed(runs))
            got = {name: measured(runs[name], ready.emulator.pid) for name in order}
            rounds.append(got)
            print(
                f"round {n + 1}: "
                + ", ".join(
                    f"{name} {got[name].images_per_s:.2f}/s "
                    f"({1000 * got[name].own_cpu / IMAGES:.0f} ms CPU/img)"
                    for name in runs
                )
            )

    def median(top: str, bottom: str) -> float:
        return statistics.median(r[top].images_per_s / r[bottom].images_per_s for r in rounds)

    print(
        f"medians: http pool / full-work pool {median('http', 'full'):.3f}, "
        f"engine / http pool {median('engine', 'http'):.3f}, "
        f"engine / full-work pool {median('engine', 'full'):.3f}"
    )
    print("CPU ms per image, median of the rounds (spread): this process; the emulator")
    for name in rounds[0]:
        own = sorted(1000 * r[name].own_cpu / IMAGES for r in rounds)
        emulator = statistics.median(1000 * r[name].emulator_cpu / IMAGES for r in rounds)
        print(
            f"  {name:7} {statistics.median(own):5.0f} ({own[0]:.0f}-{own[-1]:.0f}); {emulator:.1f}"
        )


if __name__ == "__main__":
    main()
