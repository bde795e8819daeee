"""Scenario 5, quota shapes: the measuring (:mod:`.scenario`) and its command.

``python -m benchmarks.shapes [SHAPE...]`` (:mod:`.__main__`) runs it alone. The command
sits apart from the measuring because it prints through ``benchmarks/report.py``, which
reads this scenario's results: one way, scenario -> report -> command.
"""

from __future__ import annotations

from .scenario import (
    RUN_TIMEOUT,
    SHAPES,
    SHARED_RPM,
    SMALL_DECK,
    Seen,
    Shape,
    ShapeResult,
    ShapeRun,
    ShapesResult,
    SharedDeck,
    SharedResult,
    best_wall,
    compact_arrivals,
    deck_row,
    emulator_settings,
    run_shapes_scenario,
)

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
