"""``run --batch-api`` as a user runs it: detached, killed, resumed, followed, cancelled.

The emulator runs in this process (over real HTTP), its times shrunk by ``time_scale`` as
the command's own with ``--time-scale``; the command is a subprocess. SIGKILL leaves no
chance to tidy up: what the run wrote before it is all the next run has.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
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
from nanobanana_async.engine.manifest import MANIFEST_NAME

_SCALE = "0.01"


@contextlib.contextmanager
def _serving(batch_latency: float, create_hold: float = 0.0) -> Iterator[tuple[Emulator, str]]:
    """An emulator whose batches stay ``batch_latency`` s in each state, scaled by 0.01."""
    emulator = Emulator(
        EmulatorSettings(
            latency=False,
            time_scale=0.01,
            batch_latency=batch_latency,
            batch_create_hold=create_hold,
            signature_bytes=16,
        )
    )
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    # 100 s PENDING and 100 s RUNNING, scaled: 1 s each, time for a kill and a look.
    with _serving(100.0) as serving:
        yield serving


@pytest.fixture
def holding() -> Iterator[tuple[Emulator, str]]:
    # As ``served``, and the answer to a create held 5 s (scaled) once its batch is made.
    with _serving(100.0, create_hold=500.0) as serving:
        yield serving


@pytest.fixture
def lasting() -> Iterator[tuple[Emulator, str]]:
    # 10000 s PENDING, scaled: 100 s, longer than any test looks at it.
    with _serving(10000.0) as serving:
        yield serving


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
    # Every image at the batch rate: those the killed run saved and never recorded at the
    # plan's estimate (through the batch), the others as their answers say.
    image = next(o["cost_usd"] for o in results["outputs"] if not o.get("reused"))
    assert results["deck_cost_usd"] == pytest.approx(_SLIDES * image, rel=0.02)


@pytest.mark.parametrize("rerun", [["--resume"], []], ids=["resumed", "run-again"])
def test_a_run_killed_while_its_create_is_on_the_wire_leaves_the_batch_findable(
    holding: tuple[Emulator, str], tmp_path: Path, rerun: list[str]
) -> None:
    # The service has made the batch; its answer (and so its name) never reached the run.
    # Only the display name written before the create lets the next run find it.
    emulator, base_url = holding
    env = environment(base_url)
    config = write_json(tmp_path / "deck.json", deck_config(tmp_path / "deck", _SLIDES))
    common = ["--config", str(config), *files_args(tmp_path), "--batch-api", "--time-scale", _SCALE]
    run = subprocess.Popen(
        [sys.executable, "-m", "nanobanana_async", "run", *common, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: emulator.stats()["batches"]["created"] == 1, interval=0.002)
    finally:
        run.send_signal(signal.SIGKILL)  # no cleanup: only what was written before
        run.wait(timeout=60)
    made = emulator.stats()["batches"]["by_display_name"]
    assert list(made.values()) == [1]
    record = read_json(tmp_path / "deck" / MANIFEST_NAME)["batch"]
    assert record["display_name"] in made  # on disk before the create left
    assert record["name"] == ""  # the answer never came
    again = run_cli("run", *common, *rerun, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().startswith(f"done {_SLIDES}/{_SLIDES}")
    stats = emulator.stats()
    assert stats["batches"]["created"] == 1
    assert stats["requests"] == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_cancel_ends_the_batch_and_the_run_says_so(
    lasting: tuple[Emulator, str], tmp_path: Path
) -> None:
    emulator, base_url = lasting
    env = environment(base_url)
    config = write_json(tmp_path / "deck.json", deck_config(tmp_path / "deck", 4))
    command = [
        *(sys.executable, "-m", "nanobanana_async", "run", "--config", str(config)),
        *files_args(tmp_path),
        *("--batch-api", "--time-scale", _SCALE, "--quiet"),
    ]
    # A context: a failed assertion still reaps the run and closes its pipe, instead of
    # leaving a ResourceWarning to fail whichever test the collector runs in.
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE) as run:
        try:
            assert wait_for(lambda: _batch(tmp_path).get("name", "").startswith("batches/"))
            progress = str(tmp_path / "progress.json")
            cancelled = run_cli("cancel", "--progress-file", progress, env=env)
            assert cancelled.returncode == 0, cancelled.stdout
            line = cancelled.stdout.decode()
            assert line.startswith("cancelled batch batches/")
            assert "(it was PENDING); the run waiting on it ends at its next look" in line
            out, _ = run.communicate(timeout=60)
        finally:
            run.kill()
    assert run.returncode == 130  # cancelled, as the README says of a run cancelled
    assert "cancelled" in out.decode()
    status = run_cli("status", "--progress-file", str(tmp_path / "progress.json"), env=env)
    assert status.returncode == 130
    assert emulator.stats()["batches"]["by_state"] == {"BATCH_STATE_CANCELLED": 1}
    again = run_cli("cancel", "--config", str(config), env=env)
    assert again.returncode == 1  # collected: nothing left to cancel
    assert again.stdout.decode().startswith("no batch to cancel")


def test_a_plain_rerun_while_a_batch_is_out_buys_none_of_its_slides(
    lasting: tuple[Emulator, str], tmp_path: Path
) -> None:
    # The user's story: a --batch-api run SIGKILLed, the deck run again without it.
    emulator, base_url = lasting
    env = environment(base_url)
    config = write_json(tmp_path / "deck.json", deck_config(tmp_path / "deck", 4))
    plain = ["--config", str(config), *files_args(tmp_path), "--time-scale", _SCALE]
    run = subprocess.Popen(
        [sys.executable, "-m", "nanobanana_async", "run", *plain, "--batch-api", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _named(tmp_path))
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=60)
    name = _batch(tmp_path)["name"]
    # plan, plan --json and run --dry-run show the batch, and that nothing is bought again.
    for shown in (
        run_cli("plan", str(config), env=env),
        run_cli("run", *plain, "--dry-run", env=env),
    ):
        assert shown.returncode == 0, shown.stderr
        line = shown.stdout.decode()
        assert f"collect 4 (slides 1-4) from batch {name}" in line
        assert "not bought again (run with --batch-api to wait for it" in line
        assert "; 0 requests, about $0.00" in line
    as_json = _json_of(run_cli("plan", str(config), "--json", env=env).stdout)
    assert as_json["batch"]["name"] == name
    assert as_json["batch"]["slides"] == [1, 2, 3, 4]
    assert (as_json["requests"], as_json["cost_usd"]) == (0, 0.0)
    # The run sends none of them: it says how to wait for the batch or cancel it.
    rerun = run_cli("run", *plain, env=env)
    assert rerun.returncode == 1  # no image made
    line = rerun.stdout.decode()
    assert f"failed slides 1-4: not sent again: batch {name} (PENDING" in line
    assert "run with --batch-api) or cancel it (nanobanana cancel --config FILE)" in line
    assert emulator.stats()["requests"] == 0
    # Cancelled with no run waiting on it: the next run sends the slides, once.
    cancelled = run_cli("cancel", "--config", str(config), env=env)
    assert cancelled.returncode == 0, cancelled.stdout
    assert cancelled.stdout.decode() == (
        f"cancelled batch {name} (it was PENDING); no run is waiting on it: "
        "the deck's next run keeps what it made and sends the rest again\n"
    )
    again = run_cli("run", *plain, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().startswith("done 4/4")
    stats = emulator.stats()
    assert (stats["requests"], stats["batches"]["created"]) == (4, 1)


def _json_of(data: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(data)
    return parsed
