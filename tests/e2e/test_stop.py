"""``nanobanana stop``: a detached run ended as Ctrl-C would, then its final line.

``stop`` lets the requests on the wire finish and saves their images; ``stop --now`` cuts
them. Either way its line is the one ``status`` prints for the run, to the second.
"""

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

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.files.lock import lock_holder


def in_flight(emulator: Emulator, count: int, process: subprocess.Popen[bytes]) -> None:
    assert wait_for(lambda: emulator.stats()["in_flight"] == count or process.poll() is not None)
    assert process.poll() is None, "the run ended before it could be stopped"


def test_stop_saves_the_requests_on_the_wire_and_says_so(tmp_path: Path) -> None:
    # Latencies shrunk fivefold (3.4-5.8 s a request): the three on the wire are surely
    # going when the stop lands, and answered before the stop's wait runs out.
    emulator = Emulator(EmulatorSettings(time_scale=0.2, signature_bytes=0))
    deck = tmp_path / "deck"
    with serve_in_thread(emulator) as url:
        config = write_json(tmp_path / "slides.json", deck_config(deck, 6, concurrency=3))
        progress = tmp_path / "progress.json"
        process = start_run(config, tmp_path, environment(url))
        in_flight(emulator, 3, process)

        stopped = run_cli("stop", "--progress-file", str(progress))

        assert stopped.returncode == 0, stopped.stderr
        process.communicate(timeout=30)
        stats = emulator.stats()
    assert process.returncode == 143
    line = stopped.stdout.decode()
    assert line.startswith("stopped: 3 in flight finished and saved, 3 of 6 saved in "), line
    assert line.count("\n") == 1
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 3}
    results = read_json(tmp_path / "results.json")
    assert results["state"] == "cancelled"
    assert len(list(deck.glob("slide-*.webp"))) == 3
    assert lock_holder(progress) is None
    # One source for the line, the duration included: status says the same.
    status = run_cli("status", "--progress-file", str(progress))
    assert status.stdout.decode() == line


def test_stop_now_cuts_the_requests_on_the_wire(tmp_path: Path) -> None:
    # Real latency (17-29 s a request): none can be answered before the run ends.
    emulator = Emulator(EmulatorSettings(time_scale=1.0, signature_bytes=0))
    with serve_in_thread(emulator) as url:
        config = write_json(
            tmp_path / "slides.json", deck_config(tmp_path / "deck", 6, concurrency=3)
        )
        progress = tmp_path / "progress.json"
        process = start_run(config, tmp_path, environment(url))
        in_flight(emulator, 3, process)

        stopped = run_cli("stop", "--now", "--progress-file", str(progress))

        assert stopped.returncode == 0, stopped.stderr
        process.communicate(timeout=30)
        assert wait_for(lambda: emulator.stats()["in_flight"] == 0, 10)
        stats = emulator.stats()
    assert process.returncode == 143
    line = stopped.stdout.decode()
    assert line.startswith("stopped at once: 3 in flight cut, 0 of 6 saved in "), line
    assert stats["requests"] == 3
    assert stats["by_status"] == {"499": 3}
    assert read_json(tmp_path / "results.json")["stop"] == {"finished": 0, "cut": 3}
    status = run_cli("status", "--progress-file", str(progress))
    assert status.stdout.decode() == line


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
