"""One-line views of a run, for people and for agents who pay for every byte they read.

Both functions take the JSON form (the dicts of the progress and results files), so the CLI,
``status`` and ``wait`` print the same line whether the run is in this process or another.
The final line names the output folder once and lists only what failed, grouping slides
that failed for the same reason, never every path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["progress_line", "result_line"]

_MAX_REASON = 120


def _slides(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"slide {numbers[0]}"
    return "slides " + ",".join(str(n) for n in numbers)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _failures(errors: list[Mapping[str, Any]]) -> str:
    groups: dict[str, list[int]] = {}
    for error in errors:
        reason = _short(str(error.get("error", "")))
        groups.setdefault(reason, []).append(int(error.get("slide", 0)))
    return "; ".join(f"{_slides(nums)}: {reason}" for reason, nums in groups.items())


def result_line(results: Mapping[str, Any]) -> str:
    """The final summary: ``done 9/10 in 41s -> /deck; failed slide 3: prompt blocked``."""
    state = str(results.get("state", "done"))
    completed = int(results.get("completed", 0))
    total = int(results.get("total", 0))
    reused = sum(1 for o in results.get("outputs", []) if o.get("reused"))
    line = f"{state} {completed}/{total} in {int(results.get('duration_seconds', 0))}s"
    if reused:
        line += f" ({reused} reused)"
    line += f" -> {results.get('output_dir', '')}"
    errors = list(results.get("errors", []))
    if errors:
        line += f"; failed {_failures(errors)}"
    if state == "cancelled" or (errors and state != "done"):
        line += "; rerun with --resume to finish"
    return line


def progress_line(progress: Mapping[str, Any]) -> str:
    """While running: ``running 4/10, 1 failed, 3 in flight, 2 rate-limit waits, ETA 30s``."""
    state = str(progress.get("state", "running"))
    parts = [f"{state} {int(progress.get('current', 0))}/{int(progress.get('total', 0))}"]
    failed = progress.get("failed") or []
    if failed:
        parts.append(f"{len(failed)} failed")
    in_flight = progress.get("in_flight") or []
    if in_flight:
        parts.append(f"{len(in_flight)} in flight")
    waits = int(progress.get("rate_limit_waits") or 0)
    if waits:
        parts.append(f"{waits} rate-limit wait{'s' if waits != 1 else ''}")
    eta = progress.get("eta_seconds")
    if eta is not None and state == "running":
        parts.append(f"ETA {int(eta)}s")
    return ", ".join(parts)
