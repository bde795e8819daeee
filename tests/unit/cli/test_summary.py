"""The one-line views: what an agent reads instead of the JSON files."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nanobanana_async.cli.summary import progress_line, result_line

RESULTS: dict[str, Any] = {
    "completed": 8,
    "failed": 2,
    "total": 10,
    "outputs": [{"slide": n, "path": f"/d/slide-{n:02d}.webp", "size_kb": 1} for n in range(1, 9)],
    "errors": [
        {"slide": 9, "error": "prompt blocked (SAFETY)", "timestamp": "t"},
        {"slide": 10, "error": "prompt blocked (SAFETY)", "timestamp": "t"},
    ],
    "duration_seconds": 41,
    "state": "done",
    "output_dir": "/d",
}


def test_result_line_names_the_folder_once_and_groups_failures() -> None:
    assert (
        result_line(RESULTS)
        == "done 8/10 in 41s -> /d; failed slides 9,10: prompt blocked (SAFETY)"
    )


def test_result_line_does_not_grow_with_successes() -> None:
    bigger = {**RESULTS, "total": 100, "completed": 98}
    bigger["outputs"] = [{"slide": n, "path": "/d/x", "size_kb": 1} for n in range(98)]
    assert len(result_line(bigger)) - len(result_line(RESULTS)) <= 4


def test_stopped_and_cancelled_runs_say_how_to_finish() -> None:
    assert result_line({**RESULTS, "state": "cancelled"}).endswith("rerun with --resume to finish")
    assert "reused" in result_line(
        {**RESULTS, "outputs": [{"slide": 1, "path": "p", "size_kb": 1, "reused": True}]}
    )


def test_long_reasons_are_cut() -> None:
    long = {**RESULTS, "errors": [{"slide": 1, "error": "x" * 500}]}
    assert len(result_line(long)) < 200


@pytest.mark.parametrize(
    ("progress", "line"),
    [
        ({"state": "running", "current": 0, "total": 10}, "running 0/10"),
        (
            {"state": "running", "current": 4, "total": 10, "failed": [2], "in_flight": [5, 6],
             "rate_limit_waits": 1, "eta_seconds": 30.4},
            "running 4/10, 1 failed, 2 in flight, 1 rate-limit wait, ETA 30s",
        ),
        (
            {"state": "done", "current": 10, "total": 10, "succeeded": 9, "failed": [3],
             "errors": {"3": "image refused (IMAGE_SAFETY)"}, "output_dir": "/d",
             "started_at": "2026-01-16T10:30:00Z", "updated_at": "2026-01-16T10:30:45Z"},
            "done 9/10 in 45s -> /d; failed slide 3: image refused (IMAGE_SAFETY)",
        ),
    ],
)  # fmt: skip
def test_progress_line(progress: dict[str, Any], line: str) -> None:
    assert progress_line(progress) == line


def test_progress_line_while_waiting_on_the_quota() -> None:
    progress = {"state": "running", "current": 4, "total": 10, "failed": [2], "in_flight": [5],
                "waiting_until": "2026-01-16T10:32:05Z", "rate_limit_waits": 1,
                "rate_limited": 10, "eta_seconds": 3725}  # fmt: skip
    now = datetime(2026, 1, 16, 10, 30, tzinfo=UTC)
    assert progress_line(progress, now) == (
        "running 4/10, 1 failed, 1 in flight, waiting on quota 2m05s, 1 rate-limit wait, ETA 1h02m"
    )
    later = datetime(2026, 1, 16, 10, 32, 5, tzinfo=UTC)
    assert "quota" not in progress_line(progress, later)
    assert "quota" not in progress_line({**progress, "waiting_until": None}, now)
    assert "quota" not in progress_line({**progress, "waiting_until": "garbage"}, now)
