"""Where scenario 2's CPU goes, stage by stage: the engine against the full-work ceiling.

Not part of ``make bench``: a tool for finding what the engine spends beyond the work it
must do. ``python -m benchmarks.cpu_profile`` warms an emulator as scenario 2 does, then
runs the full-work pool (:func:`benchmarks.cpu.full_pool`), the engine, and the engine
with a quota ledger (as the CLI runs it), each once unprofiled and once
under :mod:`cProfile` in *every* thread (a profiler per thread on that thread's CPU clock,
so time spent waiting for the GIL, a lock or the disk is not counted; merged), and prints
each stage's CPU milliseconds per image and share of the run's profiled CPU.

A stage is the outermost stage function on the stack when time is spent (so Pillow's
resize called by the contact sheet is the contact sheet's, not the encode's). cProfile
slows Python code more than C code, so shares of the Python stages (HTTP, event loop) are
upper bounds; the unprofiled CPU per image is printed beside them.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import pstats
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nanobanana_async import EngineSettings, generate_deck

from .cpu import IMAGE_SIZE, IMAGES, THREADS, full_pool, warmed

# Every function's own CPU time goes to one group, by where it is defined (the first match).
_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("decode + encode (Pillow)", ("/PIL/", "PIL.", "Imaging", "files/images.py")),
    ("inflate (zlib)", ("zlib.",)),
    ("parse JSON (orjson)", ("orjson",)),
    ("base64", ("binascii", "base64")),
    ("HTTP (httpx2, h11, sockets)", ("httpx2", "httpcore2", "h11", "_ssl", "_socket", "ssl.py")),
    ("service client", ("service/",)),
    ("fsync (CPU)", ("fsync",)),
    (
        "event loop, threads",
        (
            "asyncio",
            "anyio",
            "sniffio",
            "selectors",
            "select.",
            "contextlib",
            "threading",
            "concurrent",
            "queue",
            "_thread",
            "contextvars",
            "weakref",
        ),
    ),
    ("engine", ("nanobanana_async/engine", "nanobanana_async/export", "nanobanana_async/")),
]
# Parts carved out of the groups above: a function's whole time (itself and what it calls),
# counted once where it is entered from outside its own module.
_PARTS: list[tuple[str, str, str]] = [
    ("thumbnails", "files/images.py", "_thumbnail"),
    ("contact sheet", "export/contact_sheet.py", "write_contact_sheet"),
    ("ledger (flock + JSON)", "ledger/file.py", ""),
    ("progress file", "engine/writer.py", ""),
    ("endpoint check (/proc/net)", "service/endpoint.py", "_listeners"),
]


def _group_of(key: tuple[str, int, str]) -> str:
    where = f"{key[0]} {key[2]}"
    for group, marks in _GROUPS:
        if any(mark in where for mark in marks):
            return group
    return "other (Python builtins, files)"


def _by_stage(stats: pstats.Stats) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds per group (every function's own time, once: they add up to the total),
    and the parts carved out (``thumbnails`` is taken out of the encode's group)."""
    table: Any = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = defaultdict(float)
    parts: dict[str, float] = defaultdict(float)
    for key, (_cc, _nc, tt, ct, callers) in table.items():
        groups[_group_of(key)] += tt
        for part, file, name in _PARTS:
            if not key[0].endswith(file) or (name and key[2] != name):
                continue
            # A function named: its whole time. A module: entered from outside it, once.
            outside = [
                entry
                for caller, entry in callers.items()
                if caller != key and (name or not caller[0].endswith(file))
            ]
            parts[part] += min(ct, sum(entry[3] for entry in outside))
    thumbs = parts.get("thumbnails", 0.0)
    groups["decode + encode (Pillow)"] -= thumbs
    groups["thumbnails (Pillow)"] = thumbs
    return dict(groups), dict(parts)


class _EveryThread:
    """cProfile in this thread and every thread started while it is on, merged at the end.

    A thread is profiled by wrapping ``run``: :class:`threading.Thread`'s and that of every
    subclass defining its own (anyio's worker threads do).
    """

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._patched: list[tuple[type[threading.Thread], Callable[..., None]]] = []

    def _wrap(self, cls: type[threading.Thread]) -> None:
        run = cls.__dict__.get("run")
        if run is not None:
            profiles = self.profiles

            def profiled(thread: threading.Thread) -> None:
                profile = cProfile.Profile(time.thread_time)
                profiles.append(profile)
                profile.enable()
                try:
                    run(thread)
                finally:
                    profile.disable()

            self._patched.append((cls, run))
            cls.run = profiled  # type: ignore[method-assign,assignment]
        for sub in cls.__subclasses__():
            self._wrap(sub)

    def __enter__(self) -> _EveryThread:
        self._wrap(threading.Thread)
        main = cProfile.Profile(time.thread_time)
        self.profiles.append(main)
        main.enable()
        return self

    def __exit__(self, *_: object) -> None:
        self.profiles[0].disable()
        for cls, run in self._patched:
            cls.run = run  # type: ignore[method-assign]

    def stats(self) -> pstats.Stats:
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        return stats


def _profiled(
    run: Callable[[], None], dump: Path | None
) -> tuple[dict[str, float], dict[str, float], float]:
    cpu = time.process_time()
    with _EveryThread() as every:
        run()
    stats = every.stats()
    if dump is not None:
        dump.parent.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(dump)
    groups, parts = _by_stage(stats)
    return groups, parts, time.process_time() - cpu


def _unprofiled(run: Callable[[], None]) -> float:
    cpu = time.process_time()
    run()
    return time.process_time() - cpu


def main(dump: Path | None = None) -> None:
    """Print the table; ``dump``: a folder where both runs' merged profiles are written."""
    with warmed("nanobanana-profile-") as ready:
        base, env, config, jobs, answers = (
            ready.base,
            ready.env,
            ready.config,
            ready.jobs,
            ready.answers,
        )
        runs = iter(range(1000))

        def pool() -> None:
            folder = base / f"pool-{next(runs)}"
            folder.mkdir()
            full_pool(jobs, answers, folder)

        def engine(ledger: Path | None = None) -> None:
            config["output_dir"] = str(base / f"engine-{next(runs)}")
            settings = EngineSettings(concurrency=THREADS, quota_ledger=ledger)
            result = asyncio.run(generate_deck(config, settings=settings, env=env))
            if result.completed != IMAGES:
                raise RuntimeError(f"the engine saved {result.completed} of {IMAGES}")

        # The CLI shares pacing through a ledger file; the bench's engine runs without.
        ledgered = functools.partial(engine, base / "quota-ledger.json")
        variants: dict[str, Callable[[], None]] = {
            "pool": pool,
            "engine": engine,
            "engine+ledger": ledgered,
        }
        pool()  # warm-up (imports, Pillow's plugins)
        engine()
        plain = {name: _unprofiled(run) for name, run in variants.items()}
        found = {
            name: _profiled(run, dump / f"{name}.prof" if dump else None)
            for name, run in variants.items()
        }
    per_image = 1000 / IMAGES
    print(f"{IMAGES} x {IMAGE_SIZE} answers, {THREADS} threads; CPU ms per image")
    print(
        "unprofiled process CPU: "
        + ", ".join(f"{name} {seconds * per_image:.0f}" for name, seconds in plain.items())
    )
    names = list(found)
    header = f"{'stage':34}" + "".join(f" {name + ' ms':>12} {'share':>6}" for name in names)
    print(header)
    print("-" * len(header))
    totals = {name: sum(found[name][0].values()) for name in names}
    rows = sorted({g for groups, _, _ in found.values() for g in groups})
    rows.sort(key=lambda g: -found["engine"][0].get(g, 0.0))
    for row in rows:
        cells = "".join(
            f" {found[n][0].get(row, 0.0) * per_image:12.1f} "
            f"{found[n][0].get(row, 0.0) / totals[n]:6.1%}"
            for n in names
        )
        print(f"{row:34}{cells}")
    cells = "".join(f" {totals[n] * per_image:12.1f} {'':6}" for n in names)
    print(f"{'profiled total':34}{cells}")
    print("parts, within the groups above (a function and all it calls):")
    for part, _, _ in _PARTS[1:]:
        cells = "".join(
            f" {found[n][1].get(part, 0.0) * per_image:12.1f} "
            f"{found[n][1].get(part, 0.0) / totals[n]:6.1%}"
            for n in names
        )
        print(f"  {part:32}{cells}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
