"""Where ``run --emulator`` writes a deck: beside the real one, never over it.

Its own module, light to import: ``status --config`` and the choice of a run's files ask
it without loading the engine that ``run`` brings.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DRY_RUN_SUFFIX", "dry_run_dir"]

DRY_RUN_SUFFIX = ".dry-run"


def dry_run_dir(output_dir: Path) -> Path:
    """Where ``run --emulator`` writes a deck meant for ``output_dir``: ``<output_dir>.dry-run``."""
    if not output_dir.name:  # the root of a file system
        return output_dir / f"deck{DRY_RUN_SUFFIX}"
    return output_dir.with_name(f"{output_dir.name}{DRY_RUN_SUFFIX}")
