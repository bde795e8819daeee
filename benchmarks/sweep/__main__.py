"""``python -m benchmarks.sweep [--seeds N] [--round-trip S] [--jobs J] [CASE...]``: scenario 6.

It prints the spread of every case (or those named) and issue 25's targets, and updates
the ``sweep`` key and those targets of ``benchmarks/results/latest.json``. ``--first S
--seeds 1 CASE`` replays one seed (the worst seed's arrivals are in the JSON).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..report import RESULTS_DIR, log, sweep_tables, sweep_targets, update_json
from .scenario import CASES, ROUND_TRIP, SEEDS, run_sweep

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep; print; 0 whenever it ran (targets are figures to read)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__)
    parser.add_argument(
        "cases",
        nargs="*",
        metavar="CASE",
        help=f"cases to run (default: all): {', '.join(c.key for c in CASES)}",
    )
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds per case ({SEEDS})")
    parser.add_argument("--first", type=int, default=0, help="the first seed (0)")
    parser.add_argument(
        "--round-trip",
        type=float,
        default=ROUND_TRIP,
        metavar="S",
        help=f"emulated seconds of network per request ({ROUND_TRIP:g}; 0: none)",
    )
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=2, help="worker processes (2)")
    args = parser.parse_args(argv)
    unknown = set(args.cases) - {c.key for c in CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    if args.seeds < 1:
        parser.error("--seeds must be 1 or more")
    if args.round_trip < 0:
        parser.error("--round-trip must be 0 or more")
    chosen = [c for c in CASES if not args.cases or c.key in args.cases]
    log(f"6. pacing spread: {len(chosen)} cases x {args.seeds} seeds on virtual time")
    seeds = range(args.first, args.first + args.seeds)
    result = run_sweep(chosen, seeds, round_trip=args.round_trip, jobs=args.jobs, log=log)
    found = sweep_targets(result)
    path = RESULTS_DIR / "latest.json"
    update_json(path, "sweep", result.to_json(), found)
    print(sweep_tables(result, found))
    print(f"\n{path}\n({result.duration_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
