"""``status`` and ``wait`` read a progress file written by another process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from nanobanana_async.status import EXIT_TIMED_OUT, status_command, wait_command


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
