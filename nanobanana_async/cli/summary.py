"""One-line views of a run, for people and for agents who pay for every byte they read.

Both functions take the JSON form of the progress and results files, so ``run``, ``status``
and ``wait`` print the same line wherever the run is. The final line names the output
folder once and lists only what failed, grouped by reason: it grows with failures, not with
the deck. A quota wait is shown from ``waiting_until`` against the wall clock now, not the
file's age, so a wait that is over is never reported, however old the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
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


def _final(
    *,
    state: str,
    completed: int,
    total: int,
    seconds: int,
    output_dir: str,
    reused: int,
    failures: Iterable[tuple[int, str]],
) -> str:
    line = f"{state} {completed}/{total} in {seconds}s"
    if reused:
        line += f" ({reused} reused)"
    line += f" -> {output_dir}"
    groups: dict[str, list[int]] = {}
    for slide, reason in failures:
        groups.setdefault(_short(reason), []).append(slide)
    if groups:
        line += "; failed " + "; ".join(f"{_slides(n)}: {r}" for r, n in groups.items())
    if state != "done":
        line += "; rerun with --resume to finish"
    return line


def result_line(results: Mapping[str, Any]) -> str:
    """The final summary: ``done 9/10 in 41s -> /deck; failed slide 3: prompt blocked``."""
    return _final(
        state=str(results.get("state", "done")),
        completed=int(results.get("completed", 0)),
        total=int(results.get("total", 0)),
        seconds=int(results.get("duration_seconds", 0)),
        output_dir=str(results.get("output_dir", "")),
        reused=sum(1 for o in results.get("outputs", []) if o.get("reused")),
        failures=(
            (int(e.get("slide", 0)), str(e.get("error", ""))) for e in results.get("errors", [])
        ),
    )


def _duration(seconds: int) -> str:
    """``42s``, ``1m30s``, ``2h05m``."""
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _utc(text: object) -> datetime | None:
    """A timestamp of the files (UTC ISO 8601, ``Z``), aware; ``None`` if it is not one."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seconds_between(start: object, end: object) -> int:
    began, ended = _utc(start), _utc(end)
    if began is None or ended is None:
        return 0
    return max(0, round((ended - began).total_seconds()))


def progress_line(progress: Mapping[str, Any], now: datetime | None = None) -> str:
    """``running 4/10, 3 in flight, waiting on quota 42s, 2 rate-limit waits, ETA 1m30s``.

    Or the final line once the run is over. ``now`` is the current time, timezone-aware
    (default: the wall clock); the wait is shown only while at least a second of it is left.
    """
    state = str(progress.get("state", "running"))
    current = int(progress.get("current", 0))
    total = int(progress.get("total", 0))
    failed = list(progress.get("failed") or [])
    if state != "running":
        errors = progress.get("errors") or {}
        return _final(
            state=state,
            completed=int(progress.get("succeeded", current - len(failed))),
            total=total,
            seconds=_seconds_between(progress.get("started_at"), progress.get("updated_at")),
            output_dir=str(progress.get("output_dir", "")),
            reused=int(progress.get("reused") or 0),
            failures=((int(s), str(errors.get(str(s), "failed"))) for s in failed),
        )
    parts = [f"{state} {current}/{total}"]
    if failed:
        parts.append(f"{len(failed)} failed")
    in_flight = progress.get("in_flight") or []
    if in_flight:
        parts.append(f"{len(in_flight)} in flight")
    until = _utc(progress.get("waiting_until"))
    if until is not None:
        left = (until - (now or datetime.now(UTC))).total_seconds()
        if left >= 1:
            parts.append(f"waiting on quota {_duration(int(left))}")
    waits = int(progress.get("rate_limit_waits") or 0)
    if waits:
        parts.append(f"{waits} rate-limit wait{'s' if waits != 1 else ''}")
    eta = progress.get("eta_seconds")
    if eta is not None:
        parts.append(f"ETA {_duration(int(eta))}")
    return ", ".join(parts)
