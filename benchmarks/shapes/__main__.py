"""``python -m benchmarks.shapes [SHAPE...]``: scenario 5 alone, its tables and targets printed.

It updates the ``shapes`` key and the issue-10 targets of ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..report import RESULTS_DIR, log, shapes_tables, shapes_targets, update_json
from .scenario import SHAPES, run_shapes_scenario

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shapes named (default: all, then the shared-key scenarios); print; 0."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shapes", description=__doc__)
    parser.add_argument(
        "shapes",
        nargs="*",
        metavar="SHAPE",
        help=f"shapes to run (default: all): {', '.join(s.key for s in SHAPES)}, or 'shared'",
    )
    args = parser.parse_args(argv)
    names = set(args.shapes)
    unknown = names - {s.key for s in SHAPES} - {"shared"}
    if unknown:
        parser.error(f"unknown shape(s): {', '.join(sorted(unknown))}")
    keys = [name for name in args.shapes if name != "shared"] if names else None
    result = run_shapes_scenario(keys, log, shared=not names or "shared" in names)
    found = shapes_targets(result)
    path = RESULTS_DIR / "latest.json"
    update_json(path, "shapes", result.to_json(), found)
    print(shapes_tables(result, found))
    print(f"\n{path}\n({result.duration_s:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
