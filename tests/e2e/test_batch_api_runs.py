"""``run --batch-api`` as a user runs it: detached, killed, resumed, followed, cancelled.

The emulator runs in this process (over real HTTP), its times shrunk by ``time_scale`` as
the command's own with ``--time-scale``; the command is a subprocess. SIGKILL leaves no
chance to tidy up: what the run wrote before it is all the next run has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_testing import (
    deck_config,
    environment,
    files_args,
    read_json,
    run_cli,
    wait_for,
    write_json,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

_SCALE = "0.01"


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    # 100 s PENDING and 100 s RUNNING, scaled: 1 s each, time for a kill and a look.
    emulator = Emulator(
        EmulatorSettings(latency=False, time_scale=0.01, batch_latency=100.0, signature_bytes=16)
    )
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


def _progress(tmp_path: Path) -> dict[str, object]:
    try:
        data: dict[str, object] = read_json(tmp_path / "progress.json")
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _batch(tmp_path: Path) -> dict[str, str]:
    batch = _progress(tmp_path).get("batch")
    return batch if isinstance(batch, dict) else {}


def _named(tmp_path: Path) -> bool:
    return _batch(tmp_path).get("name", "").startswith("batches/")


def _running(tmp_path: Path) -> bool:
    return _batch(tmp_path).get("state") == "RUNNING"


def _saving(tmp_path: Path) -> bool:
    saved = _progress(tmp_path).get("succeeded")
    return isinstance(saved, int) and 0 < saved < _SLIDES


_SLIDES = 12


@pytest.mark.parametrize(
    "kill_when", [_named, _running, _saving], ids=["after-create", "running", "saving"]
)
def test_a_run_killed_is_resumed_onto_the_same_batch(
    served: tuple[Emulator, str], tmp_path: Path, kill_when: Callable[[Path], bool]
) -> None:
    emulator, base_url = served
    env = environment(base_url)
    config = write_json(tmp_path / "deck.json", deck_config(tmp_path / "deck", _SLIDES))
    common = ["--config", str(config), *files_args(tmp_path), "--batch-api", "--time-scale", _SCALE]
    started = run_cli("run", *common, "--detach", env=env)
    assert started.returncode == 0, started.stderr
    assert wait_for(lambda: _named(tmp_path))
    if kill_when is _named:
        status = run_cli("status", "--progress-file", str(tmp_path / "progress.json"), env=env)
        assert status.stdout.decode().startswith(f"batch PENDING 0/{_SLIDES}, submitted ")
    assert wait_for(lambda: kill_when(tmp_path), interval=0.002)
    pid = _progress(tmp_path)["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)  # no cleanup: only what was written before
    assert wait_for(lambda: not _alive(pid))
    resumed = run_cli("run", *common, "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.decode().startswith(f"done {_SLIDES}/{_SLIDES}")
    stats = emulator.stats()
    assert stats["batches"]["created"] == 1
    assert stats["requests"] == 0  # not one image asked for at the full price
    results = read_json(tmp_path / "results.json")
    assert [o["slide"] for o in results["outputs"]] == list(range(1, _SLIDES + 1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_cancel_ends_the_batch_and_the_run_says_so(tmp_path: Path) -> None:
    # 10 s PENDING, scaled: the cancel's own process start lands in it even on a busy
    # machine (a parallel suite); the cancel ends the wait, so the test does not take them.
    emulator = Emulator(
        EmulatorSettings(latency=False, time_scale=0.01, batch_latency=1000.0, signature_bytes=16)
    )
    with serve_in_thread(emulator) as base_url:
        env = environment(base_url)
        config = write_json(tmp_path / "deck.json", deck_config(tmp_path / "deck", 4))
        command = [
            *(sys.executable, "-m", "nanobanana_async", "run", "--config", str(config)),
            *files_args(tmp_path),
            *("--batch-api", "--time-scale", _SCALE, "--quiet"),
        ]
        # A context: a failed assertion still reaps the run and closes its pipes, instead of
        # leaving a ResourceWarning to fail whichever test the collector runs in.
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE) as run:
            try:
                assert wait_for(lambda: _batch(tmp_path).get("name", "").startswith("batches/"))
                progress = str(tmp_path / "progress.json")
                cancelled = run_cli("cancel", "--progress-file", progress, env=env)
                assert cancelled.returncode == 0, cancelled.stdout
                line = cancelled.stdout.decode()
                assert line.startswith("cancelled batch batches/")
                assert "(it was PENDING)" in line
                out, _ = run.communicate(timeout=60)
            finally:
                run.kill()
        assert run.returncode == 1  # no image made
        assert "cancelled" in out.decode()
        assert emulator.stats()["batches"]["by_state"] == {"BATCH_STATE_CANCELLED": 1}
        again = run_cli("cancel", "--config", str(config), env=env)
        assert again.returncode == 1  # collected: nothing left to cancel
        assert again.stdout.decode().startswith("no batch to cancel")
