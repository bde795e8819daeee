"""``nanobanana stop``: a detached run ended as Ctrl-C would, then its final line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine_testing import (
    deck_config,
    environment,
    files_args,
    read_json,
    run_cli,
    start_run,
    wait_for,
    write_json,
)

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread
from nanobanana_async.files.lock import lock_holder


def test_stop_ends_a_running_deck_and_says_how_it_ended(tmp_path: Path) -> None:
    # Real latency (17 s and more a request): the run is surely going when stopped.
    with serve_in_thread(EmulatorSettings(time_scale=1.0)) as url:
        config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 6))
        progress = tmp_path / "progress.json"
        process = start_run(config, tmp_path, environment(url))
        assert wait_for(lambda: lock_holder(progress) == process.pid, 30)

        stopped = run_cli("stop", "--progress-file", str(progress))

        assert stopped.returncode == 0, stopped.stderr
        process.communicate(timeout=30)
    assert process.returncode == 143
    assert stopped.stdout.decode().count("\n") == 1
    assert b"cancelled" in stopped.stdout
    assert read_json(tmp_path / "results.json")["state"] == "cancelled"
    assert lock_holder(progress) is None


def test_stop_with_no_run_says_so(tmp_path: Path) -> None:
    done = run_cli("stop", "--progress-file", str(tmp_path / "progress.json"))
    assert done.returncode == 1
    assert done.stdout.startswith(b"no run found at ")


def test_stop_after_the_run_ended_signals_nobody(tmp_path: Path) -> None:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    ran = run_cli(
        "run", "--config", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    done = run_cli("stop", "--progress-file", str(tmp_path / "progress.json"))
    assert done.returncode == 0
    assert done.stdout.startswith(b"nothing to stop: ")


def test_stop_signals_the_lock_holder_not_a_pid_from_the_file(tmp_path: Path) -> None:
    # The file names a pid that is not the run (a reused pid, say): that process is left
    # alone; with nobody holding the lock there is nothing to stop.
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        progress = tmp_path / "progress.json"
        write_json(progress, {"state": "running", "pid": bystander.pid, "current": 0, "total": 3})
        done = run_cli("stop", "--progress-file", str(progress))
        assert done.returncode == 0
        assert done.stdout.startswith(b"nothing to stop: died: ")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
