"""``make bench``: every scenario (issues 4, 10, 25, 27, 29, 31), the tables, the JSON, a chart.

Run: ``.venv/bin/python -m benchmarks.run``. Everything talks to emulators on loopback
(``127.0.0.1``, free ports) started as subprocesses, but the seeded sweep, which runs its
emulators in process on virtual time (in two worker processes); scenario 9 starts a
``redis-server`` on loopback too; nothing leaves the machine. Progress goes to stderr,
the tables to stdout. The exit code is 0 when every scenario ran, whether or not its
targets were met: targets are figures to read, not assertions.
"""

from __future__ import annotations

import time

from .cpu import run_cpu_scenario
from .memory import run_memory_scenario
from .quota import (
    FORMAT,
    IMAGE_SIZE,
    RPM,
    SDK_CONCURRENCY,
    SEED,
    SLIDES,
    TIME_SCALE,
    run_quota_scenario,
)
from .redis_quota import run_redis_quota_scenario
from .report import (
    RESULTS_DIR,
    chart,
    log,
    redis_quota_tables,
    redis_quota_targets,
    tables,
    targets,
    text_check_tables,
    text_check_targets,
    update_json,
    write_json,
)
from .shapes import run_shapes_scenario
from .startup import run_startup_scenario
from .sweep import CASES, SEEDS, run_sweep
from .text_check import run_text_check_scenario
from .tiers import figures as tier_figures
from .tiers import run_tiers
from .tiers import table as tier_table

__all__ = ["main"]


def main() -> int:
    started = time.perf_counter()
    log("4. start-up")
    startup = run_startup_scenario(log)
    log("2. CPU-bound")
    cpu = run_cpu_scenario(log)
    log("3. memory")
    memory = run_memory_scenario(log)
    log(f"1. quota-bound ({SLIDES} slides, {RPM} rpm, time x{TIME_SCALE:g})")
    runs = run_quota_scenario(log)
    shapes = run_shapes_scenario(log=log)
    log(f"6. pacing spread: {len(CASES)} cases x {SEEDS} seeds on virtual time")
    sweep = run_sweep(jobs=2, log=log)
    log("7. text check (reads, a misspelt deck, its fix, a quota-bound deck on and off)")
    text_check = run_text_check_scenario(log)
    log("8. service tiers: a 20-slide deck on each, on virtual time")
    tier_runs = run_tiers()
    log("9. one quota, several machines: nanobanana run processes through Redis, and without")
    redis_quota = run_redis_quota_scenario(log=log)
    redis_found = redis_quota_targets(redis_quota)
    found = targets(runs, cpu, memory, shapes, sweep)
    text_found = text_check_targets(text_check)
    settings = {
        "model": "gemini-3-pro-image",
        "image_size": IMAGE_SIZE,
        "format": FORMAT,
        "rpm": RPM,
        "slides": SLIDES,
        "time_scale": TIME_SCALE,
        "sdk_concurrency": SDK_CONCURRENCY,
        "seed": SEED,
    }
    json_path = RESULTS_DIR / "latest.json"
    chart_path = RESULTS_DIR / "latest.png"
    chart(chart_path, runs)
    duration = time.perf_counter() - started
    write_json(
        json_path,
        runs=runs,
        settings=settings,
        cpu=cpu,
        memory=memory,
        startup=startup,
        found=[*found, *text_found],
        duration_s=duration,
        shapes=shapes,
        sweep=sweep,
        text_check=text_check,
    )
    update_json(json_path, "tiers", tier_figures(tier_runs), [])
    update_json(json_path, "redis_quota", redis_quota.to_json(), redis_found)
    print(tables(runs, cpu, memory, startup, found, shapes, sweep))
    print()
    print(text_check_tables(text_check, text_found))
    print("\n8. service tiers (virtual time; the emulator's tier model)\n")
    print("\n".join(tier_table(tier_runs)))
    print()
    print(redis_quota_tables(redis_quota, redis_found))
    print(f"\n{json_path}\n{chart_path}\n({duration:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
