"""Everything the benchmarks print or write: the tables, the targets, the JSON and the chart.

``latest.json`` (schema 1, keys documented in ``benchmarks/README.md``) and ``latest.png``
go to ``benchmarks/results/``, which git ignores. ``python -m benchmarks.shapes`` and
``python -m benchmarks.sweep`` alone update their key (``shapes``, ``sweep``) and their
targets in an existing ``latest.json``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .cpu import CpuResult
from .memory import MemoryResult
from .quota import RPM, SDK_CONCURRENCY, SLIDES, TIME_SCALE, WINDOW, QuotaRun, ideal_starts
from .redis_quota import (
    JOIN_429_AT_MOST,
    MACHINES,
    RATIO_AT_MOST,
    TOGETHER_AT_LEAST,
    RedisQuotaResult,
)
from .redis_quota import RUN_TIMEOUT as REDIS_RUN_TIMEOUT
from .shapes import RUN_TIMEOUT, SMALL_DECK, ShapeRun, ShapesResult, SharedDeck
from .startup import StartupResult
from .sweep import P10_AT_LEAST, WORST_AT_LEAST, SweepResult
from .text_check import (
    FIX_ROUNDS,
    QUOTA_ROUNDS,
    QUOTA_RPM,
    QUOTA_SCALE,
    QUOTA_SLIDES,
    RATE,
    TextCheckResult,
)

__all__ = [
    "RESULTS_DIR",
    "Target",
    "chart",
    "machine",
    "redis_quota_tables",
    "redis_quota_targets",
    "shapes_tables",
    "shapes_targets",
    "sweep_tables",
    "sweep_targets",
    "tables",
    "targets",
    "text_check_tables",
    "text_check_targets",
    "update_json",
    "write_json",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Target:
    """One target of the issue, with what was measured.

    Attributes:
        key: stable name.
        wanted: the target, in words.
        measured: the figure, in words.
        met: whether the figure meets the target.
    """

    key: str
    wanted: str
    measured: str
    met: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "wanted": self.wanted, "measured": self.measured, "met": self.met}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _speedups(runs: Sequence[QuotaRun]) -> dict[str, dict[str, float]]:
    """Each concurrent run's speed-up over the sequential one, and the ceiling's."""
    base = runs[0]
    return {
        run.key: {
            "speedup": run.images_per_min / base.images_per_min,
            "allowed": run.ceiling_per_min / base.ceiling_per_min,
            "ratio": run.efficiency / base.efficiency,
        }
        for run in runs[1:]
    }


def targets(
    runs: Sequence[QuotaRun],
    cpu: CpuResult,
    memory: MemoryResult,
    shapes: ShapesResult | None = None,
    sweep: SweepResult | None = None,
) -> list[Target]:
    """The issues' targets, judged on this run's figures (issue 4's, 10's, then 25's)."""
    by_key = {run.key: run for run in runs}
    sdk = by_key["google_genai"]
    true_rpm = by_key["engine_true_rpm"]
    share_429 = true_rpm.http_429 / max(1, true_rpm.requests)
    speedup = _speedups(runs)["engine_true_rpm"]
    found = [
        Target(
            "true_rpm_efficiency",
            "true rpm: efficiency >= 0.95",
            f"{true_rpm.efficiency:.3f}",
            true_rpm.efficiency >= 0.95,
        ),
        Target(
            "true_rpm_429s",
            "true rpm: 429s <= 1% of requests",
            f"{true_rpm.http_429}/{true_rpm.requests} ({share_429:.1%})",
            share_429 <= 0.01,
        ),
        Target("true_rpm_lost", "true rpm: no slide lost", str(true_rpm.lost), true_rpm.lost == 0),
    ]
    for key, name in (("engine_no_rpm", "no rpm"), ("engine_double_rpm", "2x rpm")):
        run = by_key[key]
        found += [
            Target(
                f"{key}_efficiency",
                f"{name}: efficiency >= 0.85",
                f"{run.efficiency:.3f}",
                run.efficiency >= 0.85,
            ),
            Target(f"{key}_lost", f"{name}: no slide lost", str(run.lost), run.lost == 0),
            Target(
                f"{key}_vs_sdk",
                f"{name}: images/min and slides lost no worse than google-genai",
                f"{run.images_per_min:.2f} vs {sdk.images_per_min:.2f} images/min, "
                f"{run.lost} vs {sdk.lost} lost",
                run.images_per_min >= sdk.images_per_min and run.lost <= sdk.lost,
            ),
        ]
    found += [
        Target(
            "speedup",
            "speed-up (true rpm over sequential) >= 0.95 of the ceiling's",
            f"{speedup['speedup']:.2f}x of {speedup['allowed']:.2f}x ({speedup['ratio']:.3f})",
            speedup["ratio"] >= 0.95,
        ),
        Target(
            "cpu_ratio",
            "CPU-bound: >= 0.90 of the thread-pool ceiling",
            f"{cpu.ratio:.3f} (median of {len(cpu.round_ratios)} rounds, "
            f"{min(cpu.round_ratios):.3f}-{max(cpu.round_ratios):.3f})",
            cpu.ratio >= 0.90,
        ),
        Target(
            "cpu_full_ratio",
            "CPU-bound: >= 0.95 of the full-work ceiling",
            f"{cpu.full_ratio:.3f} (median of {len(cpu.full_round_ratios)} rounds, "
            f"{min(cpu.full_round_ratios):.3f}-{max(cpu.full_round_ratios):.3f})",
            cpu.full_ratio >= 0.95,
        ),
        Target(
            "memory_ratio",
            f"memory: {memory.large_slides}-slide peak <= 1.15 x {memory.small_slides}-slide peak"
            " (medians)",
            f"{memory.ratio:.3f}",
            memory.ratio <= 1.15,
        ),
    ]
    if shapes is not None:
        found += shapes_targets(shapes, runs)
    if sweep is not None:
        found += sweep_targets(sweep)
    return found


_NO_RPM_EFFICIENCY = 0.85
_TRUE_RPM_EFFICIENCY = 0.95
_SLOWER_AT_MOST = 1.5


def _wall(run: ShapeRun) -> str:
    return "timeout" if run.outcome == "timeout" else f"{run.wall_s or 0:.0f} s"


def _not_below(engine: ShapeRun, sdk: ShapeRun) -> bool:
    """Fewer slides lost than the SDK, or as few and a wall no longer (a timeout loses)."""
    if engine.outcome != "ok" or engine.lost is None or engine.wall_s is None:
        return False
    if sdk.outcome != "ok" or sdk.lost is None or sdk.wall_s is None:
        return True
    return (engine.lost, engine.wall_s) <= (sdk.lost, sdk.wall_s)


def shapes_targets(
    result: ShapesResult, scenario1: Sequence[QuotaRun] | None = None
) -> list[Target]:
    """Issue 10's targets on scenario 5 (and scenario 1's true-rpm run, when given)."""
    found: list[Target] = []
    lost: list[str] = []
    inside: list[str] = []
    for shape in result.shapes:
        key, name = shape.shape.key, shape.shape.label
        no_rpm, sdk = shape.run("engine_no_rpm"), shape.run("google_genai")
        efficiency = no_rpm.deck_efficiency
        found.append(
            Target(
                f"shapes_{key}_efficiency",
                f"{name}: no rpm deck efficiency >= {_NO_RPM_EFFICIENCY}",
                "timeout" if efficiency is None else f"{efficiency:.3f}",
                efficiency is not None and efficiency >= _NO_RPM_EFFICIENCY,
            )
        )
        engines = [r for r in shape.runs if r.client == "nanobanana-async" and r.outcome != "n/a"]
        found.append(
            Target(
                f"shapes_{key}_vs_sdk",
                f"{name}: never below google-genai (lost, then wall)",
                " ".join(f"{_wall(r)}/{r.lost}" for r in engines)
                + f" vs {_wall(sdk)}/{sdk.lost} lost",
                all(_not_below(r, sdk) for r in engines),
            )
        )
        for run in engines:
            where = key if run.key == "engine_no_rpm" else f"{key} (rpm)"
            if run.lost:
                lost.append(f"{where} {run.lost}")
            if run.inside_announced_delay:
                inside.append(f"{where} {run.inside_announced_delay}")
    for shared in result.shared:
        where = shared.key.replace("_", " ") + ("" if shared.ledger else " (no ledger)")
        decks: list[SharedDeck] = [*shared.decks]
        if sum(d.lost for d in decks):
            lost.append(f"{where} {sum(d.lost for d in decks)}")
        rows = [shared.together] if shared.together else decks
        count = sum(d.inside_announced_delay or 0 for d in rows)
        if count:
            inside.append(f"{where} {count}")
    found += [
        Target(
            "shapes_lost",
            "shapes, back to back, two at once: no slide lost (engine)",
            "; ".join(lost) or "0",
            not lost,
        ),
        Target(
            "shapes_inside_delay",
            "shapes, back to back, two at once: no request inside an announced delay (engine)",
            "; ".join(inside) or "0",
            not inside,
        ),
    ]
    for shared in result.shared:
        if not shared.ledger:
            continue
        if shared.key == "back_to_back":
            second = shared.decks[1]
            found.append(
                Target(
                    "back_to_back_efficiency",
                    f"back to back (ledger): deck 2 efficiency >= {_NO_RPM_EFFICIENCY}",
                    "-" if second.efficiency is None else f"{second.efficiency:.3f}",
                    second.efficiency is not None and second.efficiency >= _NO_RPM_EFFICIENCY,
                )
            )
        elif shared.together is not None:
            use = shared.together.efficiency
            found += [
                Target(
                    "two_at_once_quota_use",
                    f"two at once (ledger): together >= {_NO_RPM_EFFICIENCY} of the quota",
                    "-" if use is None else f"{use:.3f}",
                    use is not None and use >= _NO_RPM_EFFICIENCY,
                ),
                Target(
                    "two_at_once_fairness",
                    f"two at once (ledger): slower / faster <= {_SLOWER_AT_MOST}",
                    "-" if shared.ratio is None else f"{shared.ratio:.2f}",
                    shared.ratio is not None and shared.ratio <= _SLOWER_AT_MOST,
                ),
            ]
    if scenario1:
        true_rpm = next(r for r in scenario1 if r.key == "engine_true_rpm")
        found.append(
            Target(
                "true_rpm_deck_efficiency",
                f"scenario 1, true rpm: deck efficiency >= {_TRUE_RPM_EFFICIENCY}",
                f"{true_rpm.deck_efficiency:.3f}",
                true_rpm.deck_efficiency >= _TRUE_RPM_EFFICIENCY,
            )
        )
    else:
        sliding = next((s for s in result.shapes if s.shape.key == "sliding"), None)
        if sliding is not None:
            efficiency = sliding.run("engine_true_rpm").steady_efficiency
            found.append(
                Target(
                    "true_rpm_deck_efficiency",
                    f"scenario 1's deck eff. (here: shape 1, true rpm, steady eff.) >= "
                    f"{_TRUE_RPM_EFFICIENCY}",
                    "timeout" if efficiency is None else f"{efficiency:.3f}",
                    efficiency is not None and efficiency >= _TRUE_RPM_EFFICIENCY,
                )
            )
    return found


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def tables(
    runs: Sequence[QuotaRun],
    cpu: CpuResult,
    memory: MemoryResult,
    startup: StartupResult,
    found: Sequence[Target],
    shapes: ShapesResult | None = None,
    sweep: SweepResult | None = None,
) -> str:
    """The text printed on stdout: one table per scenario, one row per run, then targets."""
    speedups = _speedups(runs)
    quota_rows = []
    for run in runs:
        speed = speedups.get(run.key)
        quota_rows.append(
            [
                run.label,
                f"{run.wall_s:.0f}",
                f"{run.images_per_min:.2f}",
                str(run.requests),
                str(run.http_429),
                str(run.lost),
                f"{run.ceiling_per_min:.2f}",
                f"{run.efficiency:.3f}",
                f"{run.deck_efficiency:.3f}",
                f"{speed['speedup']:.2f}/{speed['allowed']:.2f}" if speed else "1.00/1.00",
                str(run.peak_in_flight),
            ]
        )
    quota = _table(
        [
            f"1. quota-bound ({SLIDES} slides, {RPM} rpm, time x{TIME_SCALE:g})",
            "wall s",
            "img/min",
            "requests",
            "429s",
            "lost",
            "ceiling",
            "effic.",
            "deck eff.",
            "speed-up/allowed",
            "peak",
        ],
        quota_rows,
    )
    cpu_table = _table(
        [
            f"2. CPU-bound ({cpu.images} x 2K JPEG -> WebP q90)",
            "threads",
            "img/s",
            "CPU ms/img",
            "ratio",
        ],
        [
            [
                "nanobanana-async engine (+ emulator CPU)",
                str(cpu.threads),
                f"{cpu.engine_images_per_s:.2f}",
                f"{cpu.engine_cpu_ms:.0f} (+{cpu.emulator_cpu_ms:.0f})",
                "",
            ],
            [
                "thread pool, no HTTP: decode + encode",
                str(cpu.threads),
                f"{cpu.pool_images_per_s:.2f}",
                f"{cpu.pool_cpu_ms:.0f}",
                "",
            ],
            [
                "thread pool, full work: read, inflate, parse, base64 + the above",
                str(cpu.threads),
                f"{cpu.full_pool_images_per_s:.2f}",
                f"{cpu.full_pool_cpu_ms:.0f}",
                "",
            ],
            [
                f"engine / pool (median of {len(cpu.round_ratios)} rounds; others used "
                f"at most {cpu.others_cpu_share:.0%} of the CPU)",
                "",
                "",
                "",
                f"{cpu.ratio:.3f}",
            ],
            [
                "engine / full-work pool (median of the rounds)",
                "",
                "",
                "",
                f"{cpu.full_ratio:.3f}",
            ],
        ],
    )
    memory_table = _table(
        [
            f"3. memory (CLI, {memory.image_size}, --concurrency {memory.concurrency})",
            "median peak MiB",
            "each run",
            "wall s",
            "ratio",
        ],
        [
            [
                f"{slides} slides",
                f"{peak:.0f}",
                " ".join(f"{p:.0f}" for p in peaks),
                f"{wall:.1f}",
                ratio,
            ]
            for slides, peak, peaks, wall, ratio in (
                (
                    memory.small_slides,
                    memory.small_peak_mib,
                    memory.small_peaks_mib,
                    memory.small_wall_s,
                    "",
                ),
                (
                    memory.large_slides,
                    memory.large_peak_mib,
                    memory.large_peaks_mib,
                    memory.large_wall_s,
                    f"{memory.ratio:.3f}",
                ),
            )
        ],
    )
    startup_table = _table(
        [f"4. start-up (median of {startup.runs})", "ms"],
        [
            ["nanobanana --help", f"{startup.help_s * 1000:.0f}"],
            ['python -c "import nanobanana_async"', f"{startup.import_s * 1000:.0f}"],
            ["python -c pass (interpreter alone)", f"{startup.python_s * 1000:.0f}"],
        ],
    )
    target_table = _table(
        ["targets", "measured", "met"],
        [[t.wanted, t.measured, "yes" if t.met else "MISSED"] for t in found],
    )
    notes = (
        "img/min: steady-state images per emulated minute, (saved - 1) / (first arrival ->\n"
        "last accepted arrival); effic. = img/min / min(quota, concurrency / mean latency);\n"
        "deck eff. = img/min / the best rate this deck allows under the sliding quota window;\n"
        f"peak = most requests in flight at the emulator. google-genai ran under a semaphore\n"
        f"of {SDK_CONCURRENCY}. Definitions: benchmarks/README.md."
    )
    parts = [quota, notes]
    if shapes is not None:
        parts += _shapes_parts(shapes)
    if sweep is not None:
        parts += _sweep_parts(sweep)
    parts += [cpu_table, memory_table, startup_table, target_table]
    return "\n\n".join(parts)


def _cell(value: float | int | None, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _shapes_parts(result: ShapesResult) -> list[str]:
    """Scenario 5's two tables and their notes."""
    parts: list[str] = []
    if result.shapes:
        rows: list[list[str]] = []
        for shape in result.shapes:
            rows.append([f"{shape.shape.label}  ({' '.join(shape.shape.args)})", *[""] * 8])
            for run in shape.runs:
                if run.outcome == "n/a":
                    rows.append([f"   {run.label}", "n/a", *[""] * 7])
                    continue
                measured = run.client != "ideal"
                rows.append(
                    [
                        f"   {run.label}",
                        "timeout" if run.outcome == "timeout" else _cell(run.wall_s, ".0f"),
                        _cell(run.saved),
                        _cell(run.lost),
                        _cell(run.requests) if measured else "",
                        _cell(run.http_429) if measured else "",
                        _cell(run.inside_announced_delay) if measured else "",
                        _cell(run.deck_efficiency, ".3f") if measured else "",
                        _cell(run.steady_efficiency, ".3f") if measured else "",
                    ]
                )
        parts.append(
            _table(
                [
                    f"5. quota shapes ({SLIDES} slides, 2K, time x{TIME_SCALE:g})",
                    "wall s",
                    "saved",
                    "lost",
                    "requests",
                    "429s",
                    "in delay",
                    "deck eff.",
                    "steady eff.",
                ],
                rows,
            )
        )
    if result.shared:
        rows = []
        for shared in result.shared:
            name = "10 back to back" if shared.key == "back_to_back" else "11 two at once"
            decks = [*shared.decks, *([shared.together] if shared.together else [])]
            for deck in decks:
                ratio = shared.ratio if deck is shared.together else None
                rows.append(
                    [
                        f"{name}: {deck.label}",
                        "yes" if shared.ledger else "no",
                        "timeout"
                        if shared.outcome == "timeout" and deck.wall_s is None
                        else _cell(deck.wall_s, ".0f"),
                        _cell(deck.best_wall_s, ".0f"),
                        str(deck.saved),
                        str(deck.lost),
                        _cell(deck.requests),
                        _cell(deck.http_429),
                        _cell(deck.inside_announced_delay),
                        _cell(deck.efficiency, ".3f"),
                        _cell(ratio, ".2f"),
                    ]
                )
        parts.append(
            _table(
                [
                    f"5. one key, two decks ({RPM} rpm sliding)",
                    "ledger",
                    "wall s",
                    "best s",
                    "saved",
                    "lost",
                    "requests",
                    "429s",
                    "in delay",
                    "effic.",
                    "slower/faster",
                ],
                rows,
            )
        )
    parts.append(
        "wall s (emulated): shapes, our first arrival -> our last 200 answer; shared key, the\n"
        "deck's start -> its last 200 answer (one deck of two at once: its client's wall).\n"
        "best: the fastest schedule the quota allows (emulator.ideal_starts, mean latency).\n"
        "deck eff. = best / wall x saved / slides (together: best for 40 / wall of both x\n"
        "saved / 40). steady eff.: scenario 1's deck efficiency, (saved - 1) / (first arrival\n"
        "-> last arrival answered 200) over the best schedule's (40 - 1) / its send span (no\n"
        "fill, no drain, so no latency jitter). in delay: requests that arrived before the\n"
        "delay a 429 announced ran out, after it was answered (on its own connection) or\n"
        "100 ms after (on another: it may have been on its way). A run over\n"
        f"{RUN_TIMEOUT:g} s of real time is stopped (timeout). Definitions: benchmarks/README.md."
    )
    return parts


def shapes_tables(result: ShapesResult, found: Sequence[Target]) -> str:
    """What ``python -m benchmarks.shapes`` prints: scenario 5's tables, then its targets."""
    target_table = _table(
        ["targets (issue 10)", "measured", "met"],
        [[t.wanted, t.measured, "yes" if t.met else "MISSED"] for t in found],
    )
    return "\n\n".join([*_shapes_parts(result), target_table])


def sweep_targets(result: SweepResult) -> list[Target]:
    """Issue 25's targets on the sweep: one per case, all four conditions in it."""
    return [
        Target(
            f"sweep_{spread.case.key}",
            f"sweep, {spread.case.shape.label}: p10 >= {P10_AT_LEAST:.2f}, worst >= "
            f"{WORST_AT_LEAST:.2f}, 0 lost, 0 in delay",
            f"{spread.p10:.3f}, {spread.lowest:.3f} (seed {spread.worst.seed}), "
            f"{spread.lost}, {spread.inside_delay}",
            not spread.missed,
        )
        for spread in result.cases
    ]


def _sweep_parts(result: SweepResult) -> list[str]:
    """Scenario 6's table and its notes."""
    seeds = "/".join(str(n) for n in sorted({len(spread.runs) for spread in result.cases}))
    rows = [
        [
            spread.case.shape.label,
            f"{spread.lowest:.3f}",
            f"{spread.p10:.3f}",
            f"{spread.median:.3f}",
            str(spread.worst.seed),
            str(spread.lost),
            str(spread.inside_delay),
            f"{statistics.median(spread.http_429):g}",
            "met" if not spread.missed else "missed: " + ", ".join(spread.missed),
        ]
        for spread in result.cases
    ]
    table = _table(
        [
            f"6. pacing spread ({result.slides} slides, {seeds} seeds, virtual time)",
            "min",
            "p10",
            "median",
            "worst seed",
            "lost",
            "in delay",
            "429s",
            "targets",
        ],
        rows,
    )
    notes = (
        "Deck efficiency per seed = best / wall x saved / slides, as in scenario 5 (back to\n"
        "back: the second deck, from its start). min, p10 (the ceil(n/10)-th lowest) and\n"
        "median over the seeds; worst seed: the seed of the min; lost, in delay: totals over\n"
        "the seeds; 429s: the median per run. Targets (issue 25): p10 >= "
        f"{P10_AT_LEAST:.2f}, worst >= {WORST_AT_LEAST:.2f},\n"
        "0 lost, 0 in delay. Engine (no rpm) and emulator on one virtual clock, "
        f"{result.round_trip * 1000:g} ms of\n"
        "network per request (emulated); a seed is the emulator's and the engine's. "
        f"{result.duration_s:.0f} s of\n"
        f"real time in {result.jobs} process(es). Definitions: benchmarks/README.md."
    )
    return [table, notes]


def sweep_tables(result: SweepResult, found: Sequence[Target]) -> str:
    """What ``python -m benchmarks.sweep`` prints: scenario 6's table, then its targets."""
    target_table = _table(
        ["targets (issue 25)", "p10, worst (seed), lost, in delay", "met"],
        [[t.wanted, t.measured, "yes" if t.met else "MISSED"] for t in found],
    )
    return "\n\n".join([*_sweep_parts(result), target_table])


# -- scenario 7: the text check (issue 27) --------------------------------------------------

_CAUGHT_AT_LEAST = 0.95
_RIGHT_FLAGGED_AT_MOST = 0.05
_LONGER_AT_MOST = 1.05


def text_check_targets(result: TextCheckResult) -> list[Target]:
    """Issue 27's targets: the catch, the fix, the cost per slide, the quota-bound wall."""
    right = result.slides - result.misspelt
    caught = result.misspelt_flagged / result.misspelt if result.misspelt else 0.0
    wrongly = result.right_flagged / right if right else 0.0
    ratios = [p.ratio for p in result.quota]
    spread = f"{min(ratios):.3f}-{max(ratios):.3f}" if ratios else "none"
    return [
        Target(
            "text_caught",
            f">= 95% of misspelt slides flagged ({result.slides} slides, {RATE:.0%} misspelt)",
            f"{result.misspelt_flagged}/{result.misspelt} ({caught:.0%})",
            bool(result.misspelt) and caught >= _CAUGHT_AT_LEAST,
        ),
        Target(
            "text_right_flagged",
            "<= 5% of right slides flagged",
            f"{result.right_flagged}/{right} ({wrongly:.0%})",
            wrongly <= _RIGHT_FLAGGED_AT_MOST,
        ),
        Target(
            "text_fixed",
            f'all fixed with "fix_text": {FIX_ROUNDS}',
            f"{result.fixed}/{result.misspelt} fixed, {result.still_flagged} still flagged, "
            f"{result.fix_requests} requests",
            bool(result.misspelt) and result.fixed == result.misspelt and result.still_flagged == 0,
        ),
        Target(
            "text_cost",
            "the check's cost per slide (reported)",
            f"1K {result.ms_1k:.0f} ms ({result.cpu_ms_1k:.0f} ms CPU), "
            f"2K {result.ms_2k:.0f} ms ({result.cpu_ms_2k:.0f} ms CPU)",
            result.ok_1k and result.ok_2k,
        ),
        Target(
            "text_quota_wall",
            f"quota-bound deck, check on vs off: wall <= {_LONGER_AT_MOST:g} x",
            f"{result.quota_ratio:.3f} (median of {len(ratios)}, {spread})",
            bool(ratios) and result.quota_ratio <= _LONGER_AT_MOST,
        ),
    ]


def text_check_tables(result: TextCheckResult, found: Sequence[Target]) -> str:
    """Scenario 7's tables: a read's cost, the quota-bound rounds, then its targets."""
    reads = _table(
        ["7. text check: a read (median of 3)", "wall ms", "CPU ms", "read right"],
        [
            ["1K, 1376x768", f"{result.ms_1k:.0f}", f"{result.cpu_ms_1k:.0f}", str(result.ok_1k)],
            ["2K, 2752x1536 (reduced)", f"{result.ms_2k:.0f}", f"{result.cpu_ms_2k:.0f}",
             str(result.ok_2k)],
        ],
    )  # fmt: skip
    title = (
        f"7. quota-bound ({QUOTA_SLIDES} slides, 2K, sliding {QUOTA_RPM}/60s, "
        f"time x{QUOTA_SCALE:g})"
    )
    rounds = _table(
        [title, "wall on s", "wall off s", "on/off", "after last image on/off s", "saved"],
        [
            [
                f"round {i + 1} (seed {p.seed})",
                f"{p.wall_on:.1f}",
                f"{p.wall_off:.1f}",
                f"{p.ratio:.3f}",
                f"{p.tail_on:.1f} / {p.tail_off:.1f}",
                f"{p.saved_on} / {p.saved_off}",
            ]
            for i, p in enumerate(result.quota)
        ],
    )
    target_table = _table(
        ["targets (issue 27)", "measured", "met"],
        [[t.wanted, t.measured, "yes" if t.met else "MISSED"] for t in found],
    )
    note = f"real seconds; {QUOTA_ROUNDS} rounds, the order of on and off swapped every other one"
    return "\n\n".join([reads, rounds, note, target_table])


def redis_quota_targets(result: RedisQuotaResult) -> list[Target]:
    """Issue 31's targets: three machines on one Redis, a fourth joining, Redis killed."""
    found: list[Target] = []
    three = result.run("three_redis")
    if three is not None:
        ok = three.outcome == "ok"
        found += [
            Target(
                "redis_together",
                f"{MACHINES} machines on Redis: together >= {TOGETHER_AT_LEAST:g} of the quota",
                _cell(three.efficiency, ".3f") if ok else three.outcome,
                ok and (three.efficiency or 0.0) >= TOGETHER_AT_LEAST,
            ),
            Target(
                "redis_ratio",
                f"{MACHINES} machines on Redis: slowest / fastest <= {RATIO_AT_MOST:g}",
                _cell(three.ratio, ".2f") if ok else three.outcome,
                ok and three.ratio is not None and three.ratio <= RATIO_AT_MOST,
            ),
            Target(
                "redis_in_delay",
                f"{MACHINES} machines on Redis: no request inside an announced delay",
                _cell(three.inside_announced_delay) if ok else three.outcome,
                ok and three.inside_announced_delay == 0,
            ),
        ]
    join = result.run("join_redis")
    if join is not None:
        files = result.run("join_files")
        without = "" if files is None else f" (file ledgers: {_cell(files.http_429_after_join)})"
        found.append(
            Target(
                "redis_join",
                f"a fourth joins without a 429 storm: <= {JOIN_429_AT_MOST} 429s after its "
                "first request",
                (_cell(join.http_429_after_join) if join.outcome == "ok" else join.outcome)
                + without,
                join.outcome == "ok"
                and join.http_429_after_join is not None
                and join.http_429_after_join <= JOIN_429_AT_MOST,
            )
        )
    killed = result.run("redis_killed")
    if killed is not None:
        codes = [m.exit_code for m in killed.machines]
        found.append(
            Target(
                "redis_killed_lost",
                "Redis killed mid-run: 0 slides lost, every machine exits 0",
                f"{killed.lost} lost, exit codes {' '.join(_cell(c) for c in codes) or '-'}",
                killed.outcome == "ok" and killed.lost == 0 and bool(codes) and set(codes) == {0},
            )
        )
        notices = [f"{m.alone_notices}/{m.back_notices}" for m in killed.machines]
        found.append(
            Target(
                "redis_killed_notices",
                "Redis killed mid-run: each machine says so once (on its own / back lines)",
                " ".join(notices) or "-",
                killed.outcome == "ok"
                and bool(killed.machines)
                and all(m.alone_notices == 1 and m.back_notices <= 1 for m in killed.machines),
            )
        )
    return found


def redis_quota_tables(result: RedisQuotaResult, found: Sequence[Target]) -> str:
    """Scenario 9's tables (the runs, then each machine), its notes, then its targets."""
    rows = []
    for run in result.runs:
        shown = run.outcome if run.outcome != "ok" else _cell(run.wall_s, ".0f")
        events = []
        if run.joined_at_s is not None:
            events.append(f"{_cell(run.http_429_after_join)} after join")
        if run.redis_killed_at_s is not None:
            events.append("killed")
        if run.redis_back_at_s is not None:
            events.append("back")
        if run.unattributed:
            events.append(f"{run.unattributed} requests unattributed")
        rows.append(
            [
                run.label,
                shown,
                _cell(run.best_wall_s, ".0f"),
                f"{run.saved}/{run.slides}",
                _cell(run.requests),
                _cell(run.http_429),
                _cell(run.inside_announced_delay),
                _cell(run.efficiency, ".3f"),
                _cell(run.ratio, ".2f"),
                ", ".join(events),
            ]
        )
    runs = _table(
        [
            f"9. one quota, several machines ({SMALL_DECK} slides each, {RPM} rpm sliding, "
            f"time x{result.time_scale:g})",
            "wall s",
            "best s",
            "saved",
            "requests",
            "429s",
            "in delay",
            "together",
            "slow/fast",
            "events",
        ],
        rows,
    )
    machine_rows = [
        [
            f"{run.key} {m.name}",
            _cell(m.exit_code) if m.exit_code is not None else "killed",
            f"{m.saved}/{m.slides}",
            str(m.requests),
            str(m.http_429),
            _cell(m.first_arrival_s, ".0f"),
            _cell(m.go_to_first_ms, ".0f"),
            _cell(m.wall_s, ".0f"),
            f"{m.alone_notices}/{m.back_notices}",
        ]
        for run in result.runs
        for m in run.machines
    ]
    machines = _table(
        ["9. each machine", "exit", "saved", "requests", "429s", "first s", "go->first ms",
         "wall s", "alone/back"],
        machine_rows,
    )  # fmt: skip
    note = (
        "Emulated seconds. Each machine a `nanobanana run` process with its own TMPDIR,\n"
        "XDG_RUNTIME_DIR and HOME, one key, one emulator; Redis runs: --ledger redis://.\n"
        "wall: the first arrival of all -> the last 200 answer (a machine's: of its own; the\n"
        "fourth's from its own first arrival). best: the best schedule for every slide from\n"
        "that first arrival. together = best / wall x saved / slides. slow/fast: the three\n"
        "first machines' walls. after join: 429s answered after the fourth's first request.\n"
        "first s: a machine's first request, since the run's first arrival; go->first ms: real\n"
        "ms from its start (imports done) to its first request. alone/back: its\n"
        "stderr lines naming the quota ledger going on its own / back. Requests are put down\n"
        "to machines by their connections' ports (/proc). A run over "
        f"{REDIS_RUN_TIMEOUT * result.time_scale / TIME_SCALE:g} s of real time is\n"
        f"stopped (timeout). ({result.duration_s:.0f} s real)"
    )
    for run in result.runs:
        if run.redis_killed_at_s is None:
            continue
        note += (
            f"\n\n{run.key}: redis-server killed at {_cell(run.redis_killed_at_s, '.1f')} s, "
            f"back at {_cell(run.redis_back_at_s, '.1f')} s; notices [when read, s]:"
        )
        note += "".join(f"\n  {m.name} {line}" for m in run.machines for line in m.notices)
    failures = [
        f"{run.key} {m.name} exit {_cell(m.exit_code)}: {m.stderr_tail[-1]}"
        for run in result.runs
        for m in run.machines
        if m.exit_code != 0 and m.stderr_tail
    ]
    if failures:
        note += "\n\n" + "\n".join(failures)
    target_table = _table(
        ["targets (issue 31)", "measured", "met"],
        [[t.wanted, t.measured, "yes" if t.met else "MISSED"] for t in found],
    )
    return "\n\n".join([runs, machines, note, target_table])


def write_json(
    path: Path,
    *,
    runs: Sequence[QuotaRun],
    settings: dict[str, Any],
    cpu: CpuResult,
    memory: MemoryResult,
    startup: StartupResult,
    found: Sequence[Target],
    duration_s: float,
    shapes: ShapesResult | None = None,
    sweep: SweepResult | None = None,
    text_check: TextCheckResult | None = None,
) -> None:
    """Write ``latest.json``."""
    data = {
        "schema": SCHEMA,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "duration_s": round(duration_s, 1),
        "quota": {
            "settings": settings,
            "runs": {run.key: run.to_json() for run in runs},
            "speedup": _speedups(runs),
        },
        "cpu": cpu.to_json(),
        "memory": memory.to_json(),
        "startup": startup.to_json(),
        "targets": [t.to_json() for t in found],
    }
    if shapes is not None:
        data["shapes"] = shapes.to_json()
    if sweep is not None:
        data["sweep"] = sweep.to_json()
    if text_check is not None:
        data["text_check"] = text_check.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def update_json(path: Path, part: str, figures: dict[str, Any], found: Sequence[Target]) -> None:
    """Put one scenario's ``figures`` under ``part`` (and its targets) into ``latest.json``.

    For ``python -m benchmarks.shapes`` or ``.sweep`` alone: everything else stays as the
    last run wrote it; a missing or unreadable file is started afresh.
    """
    data: dict[str, Any] = {}
    try:
        loaded = orjson.loads(path.read_bytes())
        if isinstance(loaded, dict) and loaded.get("schema") == SCHEMA:
            data = loaded
    except (OSError, orjson.JSONDecodeError):
        pass
    data.setdefault("schema", SCHEMA)
    data["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data["machine"] = machine()
    data[part] = figures
    names = {t.key for t in found}
    kept = [t for t in data.get("targets", []) if t.get("key") not in names]
    data["targets"] = [*kept, *(t.to_json() for t in found)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def chart(path: Path, runs: Sequence[QuotaRun]) -> None:
    """Slides completed over emulated time, one line per scenario-1 run (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (full, zoom) = plt.subplots(1, 2, figsize=(13, 5))
    latency = sum(run.mean_latency_s for run in runs) / len(runs)
    best = [
        start + latency
        for start in ideal_starts(
            SLIDES, limit=RPM, window=WINDOW, concurrency=None, latency=latency
        )
    ]
    for axes in (full, zoom):
        for run in runs:
            times = [0.0, *(t for t, _ in run.timeline)]
            counts = [0, *(n for _, n in run.timeline)]
            axes.step(times, counts, where="post", label=run.label)
        axes.plot(
            [latency, latency + (SLIDES - 1) / RPM * WINDOW],
            [1, SLIDES],
            linestyle="--",
            color="grey",
            label=f"quota rate ({RPM}/min) after one mean latency",
        )
        axes.step(
            [0.0, *best],
            range(SLIDES + 1),
            where="post",
            linestyle=":",
            color="black",
            label="best schedule the sliding window allows",
        )
        axes.set_xlabel("emulated time (s)")
        axes.set_ylabel("slides completed")
        axes.grid(alpha=0.3)
    concurrent_end = max(run.wall_s for run in runs[1:])
    zoom.set_xlim(0, concurrent_end * 1.05)
    zoom.set_title("concurrent runs")
    full.set_title(f"all runs ({SLIDES} slides, {RPM} rpm quota)")
    full.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def log(message: str) -> None:
    """Progress lines go to stderr, so stdout carries the tables alone."""
    print(message, file=sys.stderr, flush=True)
