"""Exit codes and default file locations of the ``nanobanana`` command, in one place.

0 when at least one slide was made, 1 when none was, 2 for a usage or config error, 130 and
143 for SIGINT and SIGTERM; ``wait`` adds 124 (still running when its timeout ran out), as
``timeout(1)`` does (docs/design.md, Contracts). The default progress and results files sit
in the temp dir under the names agents and scripts poll. Every command (``nanobanana
emulate`` too) reads them from here, and this module imports nothing of ours.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

__all__ = [
    "DEFAULT_PROGRESS_FILE",
    "DEFAULT_RESULTS_FILE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_TIMED_OUT",
    "EXIT_USAGE",
    "RESULTS_COPY_NAME",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMED_OUT = 124
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

DEFAULT_PROGRESS_FILE = Path(tempfile.gettempdir()) / "nano-banana-progress.json"
DEFAULT_RESULTS_FILE = Path(tempfile.gettempdir()) / "nano-banana-results.json"
# The copy of the results a run leaves in its output_dir, so the deck carries its record.
RESULTS_COPY_NAME = "nano-banana-results.json"
