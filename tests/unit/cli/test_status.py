"""``status`` and ``wait`` read a progress file written by another process."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from nanobanana_async.cli.status import status_command, wait_command
from nanobanana_async.exits import EXIT_TIMED_OUT


def write(path: Path, **fields: Any) -> None:
    data = {"current": 2, "total": 5, "state": "running", "pid": os.getpid(), "output_dir": "/d"}
    data.update(fields)
    path.write_bytes(orjson.dumps(data))


def test_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert status_command(tmp_path / "none.json") == 1
    assert capsys.readouterr().out.startswith("no run found")


def test_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    write(path, in_flight=[3])
    assert status_command(path) == 0
    assert capsys.readouterr().out == "running 2/5, 1 in flight\n"
    assert wait_command(path, 0.01) == EXIT_TIMED_OUT


def test_a_dead_run_is_reported_not_waited_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    write(path, pid=2**22 + 12345)  # beyond pid_max on Linux: no such process
    assert wait_command(path, 5.0) == 1
    assert capsys.readouterr().out.startswith("died 2/5")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"state": "done", "succeeded": 5, "current": 5}, 0),
        ({"state": "failed", "succeeded": 0, "current": 5, "failed": [1, 2, 3, 4, 5]}, 1),
        ({"state": "cancelled", "succeeded": 2}, 130),
    ],
)
def test_finished_runs(tmp_path: Path, fields: dict[str, Any], code: int) -> None:
    path = tmp_path / "p.json"
    write(path, **fields)
    assert wait_command(path, 5.0) == code
    assert status_command(path) == code


WAITING = {"current": 4, "total": 10, "rate_limit_waits": 3, "rate_limited": 12,
           "eta_seconds": 90, "waiting_until": "2026-01-16T10:30:42Z"}  # fmt: skip


def at(time_of_day: str) -> datetime:
    return datetime.fromisoformat(f"2026-01-16T{time_of_day}").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "wait"),
    [
        ("10:30:00", "waiting on quota 42s, "),
        ("10:30:40.5", "waiting on quota 1s, "),
        # Under a second left, or none: the file (not rewritten since) is not believed.
        ("10:30:41.5", ""),
        ("10:35:00", ""),
    ],
)
def test_status_says_the_quota_wait_only_while_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: str, wait: str
) -> None:
    path = tmp_path / "p.json"
    write(path, **WAITING)
    assert status_command(path, wall_clock=lambda: at(now)) == 0
    assert capsys.readouterr().out == f"running 4/10, {wait}3 rate-limit waits, ETA 1m30s\n"


def test_wait_says_the_quota_wait_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    write(path, **WAITING)
    assert wait_command(path, 0.0, wall_clock=lambda: at("10:29:00")) == EXIT_TIMED_OUT
    assert capsys.readouterr().out.startswith("running 4/10, waiting on quota 1m42s, ")


def test_a_dead_run_waits_on_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    write(path, **WAITING, pid=2**22 + 12345)
    assert status_command(path, wall_clock=lambda: at("10:30:00")) == 1
    out = capsys.readouterr().out
    assert out.startswith("died 4/10, 3 rate-limit waits")
    assert "quota" not in out
