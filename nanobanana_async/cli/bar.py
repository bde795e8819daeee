"""The progress bar ``nanobanana run`` draws on a terminal, one line redrawn in place.

A line longer than the terminal wraps, and ``\\r`` then returns only to the start of its
last row: every redraw would leave a stale, cut row behind. So the line is fitted to the
width, read at each draw (a resize is followed), and never reaches the last column (some
terminals wrap on it). The parts go in order of importance, and the least important drop
first, whole: the counts stay longest, then the wait on the quota (why nothing moves), the
failures, the ETA, the elapsed time and the rate, the slides in flight, the waits counted.
Only a line that still does not fit loses its gauge, and then its end, to ``…``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from ..engine.progress import Progress
from ..follow.summary import duration, running_parts, utc_moment

__all__ = ["ProgressBar"]

_GAUGE_MAX = 24
_GAUGE_MIN = 5
# The parts, most important first: the order they are shown in and the reverse of the
# order they are dropped in.
_ORDER = ("count", "waiting", "failed", "eta", "elapsed", "rate", "in_flight", "waits")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _terminal_columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is on; else ``$COLUMNS`` or 80, as ``shutil``.

    ``shutil.get_terminal_size`` asks stdout's terminal, which a redirected stdout loses
    while the bar's stderr still shows.
    """
    if "COLUMNS" not in os.environ:
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            pass
    return shutil.get_terminal_size(fallback=(80, 24)).columns


class ProgressBar:
    """A progress bar redrawn in place, fitted to the terminal's width at every draw.

    Called with each snapshot the engine's progress writer publishes; :meth:`close` clears
    the line for the summary that takes its place.

    Args:
        enabled: draw at all (a terminal, and not ``--quiet``).
        stream: where to draw (default: ``sys.stderr`` at the time of the draw).
        columns: the terminal's width now (default: the stream's terminal, else
            ``$COLUMNS``, else 80).
        wall_clock: the current UTC time, aware, for the elapsed time, the rate and the
            quota wait (injectable for tests).
    """

    __slots__ = ("_columns", "_stream", "_wall_clock", "drawn", "enabled")

    def __init__(
        self,
        enabled: bool,
        *,
        stream: TextIO | None = None,
        columns: Callable[[], int] | None = None,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.enabled = enabled
        self.drawn = False
        self._stream = stream
        self._columns = columns
        self._wall_clock = wall_clock

    def __repr__(self) -> str:
        return f"<ProgressBar enabled={self.enabled} drawn={self.drawn}>"

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        stream = self.stream
        width = self._columns() if self._columns is not None else _terminal_columns(stream)
        stream.write(f"\r{self.line(progress, width if width > 0 else 80)}\x1b[K")
        stream.flush()
        self.drawn = True

    def line(self, progress: Progress, width: int) -> str:
        """The bar for ``progress``, at most ``width - 1`` columns."""
        limit = width - 1
        data = progress.to_dict()
        now = self._wall_clock()
        parts = running_parts(data, now)
        started = utc_moment(data.get("started_at"))
        elapsed = (now - started).total_seconds() if started is not None else 0.0
        if elapsed >= 1:
            parts["elapsed"] = f"{duration(elapsed)} elapsed"
            finished = int(data["current"]) - int(data["reused"])  # found on disk: no work
            if finished > 0:
                rate = finished * 60 / elapsed
                parts["rate"] = f"{rate:.1f} slides/min" if rate < 10 else f"{rate:.0f} slides/min"
        shown = [parts[name] for name in _ORDER if name in parts]
        total = max(1, int(data["total"]))
        size = max(_GAUGE_MIN, min(_GAUGE_MAX, limit // 6))
        filled = size * min(int(data["current"]), total) // total
        gauge = f"[{'#' * filled}{'-' * (size - filled)}] "
        while len(shown) > 1 and len(gauge) + len(", ".join(shown)) > limit:
            shown.pop()
        text = ", ".join(shown)
        if len(gauge) + len(text) <= limit:
            return gauge + text
        if len(text) <= limit:
            return text
        return text[: limit - 1] + "…" if limit > 0 else ""

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")  # the summary line takes its place
            self.stream.flush()
