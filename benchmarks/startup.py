"""Scenario 4, start-up: ``nanobanana --help`` and ``import nanobanana_async``.

Each command runs ``RUNS`` times in a fresh interpreter; the median wall time is kept
(the first run also pays for a cold page cache, and a shared machine adds outliers).
``python -c pass`` is timed the same way, so the interpreter's own start-up can be told
apart from the package's.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["StartupResult", "run_startup_scenario"]

RUNS = 7


@dataclass(frozen=True, slots=True)
class StartupResult:
    """Median wall times in seconds.

    Attributes:
        runs: runs per command.
        help_s: ``nanobanana --help`` (the console script).
        import_s: ``python -c "import nanobanana_async"``.
        python_s: ``python -c pass``, the interpreter alone.
    """

    runs: int
    help_s: float
    import_s: float
    python_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _median_time(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=30)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_startup_scenario(log: Any = print) -> StartupResult:
    """Time the three commands."""
    script = Path(sys.executable).with_name("nanobanana")
    help_command = [str(script), "--help"] if script.exists() else []
    if not help_command:
        help_command = [sys.executable, "-m", "nanobanana_async", "--help"]
    result = StartupResult(
        runs=RUNS,
        help_s=_median_time(help_command),
        import_s=_median_time([sys.executable, "-c", "import nanobanana_async"]),
        python_s=_median_time([sys.executable, "-c", "pass"]),
    )
    log(f"  --help {result.help_s * 1000:.0f} ms, import {result.import_s * 1000:.0f} ms")
    return result
