"""Scenario 3, memory: peak resident memory of the CLI for a short and a long deck.

``python -m nanobanana_async run`` runs as a user would run it, against the emulator (a
second subprocess; realistic 4K latencies, shrunk by ``TIME_SCALE``), at the same
``--concurrency`` for ``SMALL`` and ``LARGE`` slides. The figure is the kernel's own
high-water mark for the process, ``VmHWM`` in ``/proc/PID/status``, read every 10 ms until
the process exits (it only grows, so the last read holds the peak of the whole run but
its last few milliseconds). Not ``ru_maxrss`` from ``wait4``: Linux carries the parent's
high-water mark into a child across ``vfork`` + ``exec``, so a child of this (large)
benchmark process would report the parent's peak.
Memory must follow concurrency, not deck size: the ratio of the two peaks is the figure
that matters. The peak of one run varies by 20-30% from run to run (how many 50 MB decodes
happen to overlap, and how much freed memory the allocator keeps), so each deck runs
``ROUNDS`` times, alternating, and the ratio is taken between the median peaks; every
peak is kept in the results.

The prompts repeat every eight slides, so the emulator draws eight 4K images and serves
the rest from its cache; drawing 100 distinct ones would cost it 0.11 s of CPU each and
leave the client short of CPU, which is not the situation being measured (a real 4K
answer takes half a minute).

Images are saved as JPEG (the model's format, kept byte for byte after a full decode),
which still decodes every 4K image (5504x3072, 50 MB of pixels) but skips the WebP encode:
0.9 s of CPU per 4K image would make the 100-slide run take minutes.

``python -m benchmarks.memory --no-latency`` runs the same pair with the emulator answering
at once: a stress case outside ``make bench``, where answers arrive faster than they can
be decoded and saved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from .deck import deck_config
from .emulator_process import EmulatorProcess

__all__ = ["MemoryResult", "run_memory_scenario"]

SMALL = 10
LARGE = 100
CONCURRENCY = 8
ROUNDS = 3
TIME_SCALE = 0.025
IMAGE_SIZE = "4K"
_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """Scenario 3's figures (MiB are 2**20 bytes).

    Attributes:
        concurrency: ``--concurrency`` of both runs.
        image_size: the images' ``imageSize``.
        small_slides: slides in the short deck.
        large_slides: slides in the long deck.
        small_peak_mib: median peak RSS of the CLI on the short deck.
        large_peak_mib: the same on the long deck.
        ratio: ``large_peak_mib / small_peak_mib``.
        small_wall_s: real seconds of the short deck's slowest run.
        large_wall_s: real seconds of the long deck's slowest run.
        small_peaks_mib: the peak of every run on the short deck.
        large_peaks_mib: the peak of every run on the long deck.
    """

    concurrency: int
    image_size: str
    small_slides: int
    large_slides: int
    small_peak_mib: float
    large_peak_mib: float
    ratio: float
    small_wall_s: float
    large_wall_s: float
    small_peaks_mib: list[float]
    large_peaks_mib: list[float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _high_water_mib(pid: int) -> float | None:
    """``VmHWM`` of a live process in MiB; ``None`` once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _peak_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``command``; its peak RSS in MiB and its wall time, or raise if it fails."""
    started = time.perf_counter()
    peak = 0.0
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as process:
        while process.poll() is None:
            peak = max(peak, _high_water_mib(process.pid) or 0.0)
            if time.perf_counter() - started > _TIMEOUT:
                process.kill()
                raise RuntimeError(f"the CLI did not finish within {_TIMEOUT:.0f} s")
            time.sleep(0.01)
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"the CLI failed ({process.returncode}): {output.strip()}")
    return peak, wall


def _run_cli(base_url: str, folder: Path, slides: int) -> tuple[float, float]:
    folder.mkdir()
    config = deck_config(slides, folder / "deck", image_size=IMAGE_SIZE, fmt="jpg", distinct=False)
    config_path = folder / "slides.json"
    config_path.write_bytes(orjson.dumps(config))
    env = {
        **os.environ,
        "GEMINI_API_KEY": f"bench-memory-{slides}",
        "GOOGLE_GEMINI_BASE_URL": base_url,
    }
    command = [
        sys.executable,
        "-m",
        "nanobanana_async",
        "run",
        "--config",
        str(config_path),
        "--concurrency",
        str(CONCURRENCY),
        "--time-scale",
        repr(TIME_SCALE),
        "--progress-file",
        str(folder / "progress.json"),
        "--results-file",
        str(folder / "results.json"),
        "--quiet",
    ]
    return _peak_rss(command, env)


def run_memory_scenario(log: Any = print, *, latency: bool = True) -> MemoryResult:
    """The CLI on the short deck and on the long one, alternating, against one emulator."""
    peaks: dict[int, list[float]] = {SMALL: [], LARGE: []}
    walls: dict[int, list[float]] = {SMALL: [], LARGE: []}
    with (
        tempfile.TemporaryDirectory(prefix="nanobanana-bench-") as tmp,
        EmulatorProcess(time_scale=TIME_SCALE, latency=latency) as emulator,
    ):
        for n in range(ROUNDS):
            for slides in (SMALL, LARGE):
                folder = Path(tmp) / f"{slides}-{n}"
                peak, wall = _run_cli(emulator.base_url, folder, slides)
                peaks[slides].append(peak)
                walls[slides].append(wall)
                log(f"  {slides} slides: peak {peak:.0f} MiB in {wall:.1f} s")
    return MemoryResult(
        concurrency=CONCURRENCY,
        image_size=IMAGE_SIZE,
        small_slides=SMALL,
        large_slides=LARGE,
        small_peak_mib=statistics.median(peaks[SMALL]),
        large_peak_mib=statistics.median(peaks[LARGE]),
        ratio=statistics.median(peaks[LARGE]) / statistics.median(peaks[SMALL]),
        small_wall_s=max(walls[SMALL]),
        large_wall_s=max(walls[LARGE]),
        small_peaks_mib=peaks[SMALL],
        large_peaks_mib=peaks[LARGE],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-latency", action="store_true", help="the emulator answers at once")
    args = parser.parse_args(argv)
    result = run_memory_scenario(latency=not args.no_latency)
    print(f"peak RSS ratio {LARGE}/{SMALL} slides: {result.ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
