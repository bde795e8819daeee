"""Scenario 6, the pacing spread on virtual time: the measuring (:mod:`.scenario`) and its
command (``python -m benchmarks.sweep``, :mod:`.__main__`, which prints through
``benchmarks/report.py``: one way, scenario -> report -> command)."""

from __future__ import annotations

from .scenario import (
    CASES,
    IMAGE_SIZE,
    P10_AT_LEAST,
    SEEDS,
    WORST_AT_LEAST,
    Case,
    CaseSpread,
    SeedRun,
    SweepResult,
    run_seed,
    run_sweep,
)

__all__ = [
    "CASES",
    "IMAGE_SIZE",
    "P10_AT_LEAST",
    "SEEDS",
    "WORST_AT_LEAST",
    "Case",
    "CaseSpread",
    "SeedRun",
    "SweepResult",
    "run_seed",
    "run_sweep",
]
