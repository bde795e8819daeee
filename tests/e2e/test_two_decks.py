"""Two decks at once, with no flags: the second takes its own files, says so, and is followed.

Each test gives the command a temp dir and a runtime dir of its own (``TMPDIR``,
``XDG_RUNTIME_DIR``), so the default files and the runs registry are the test's; a live
run on the default files is this process holding their run lock, as a run does.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_testing import deck_config, environment, read_json, run_cli, write_json

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread
from nanobanana_async.files.lock import RunLock


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_in_thread(EmulatorSettings(latency=False, signature_bytes=0)) as served:
        yield served


@pytest.fixture
def env(tmp_path: Path, url: str) -> dict[str, str]:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "runtime").mkdir(mode=0o700)
    return environment(url, TMPDIR=str(tmp_path / "tmp"), XDG_RUNTIME_DIR=str(tmp_path / "runtime"))


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, env=env)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def defaults(tmp_path: Path) -> tuple[Path, Path]:
    return (
        tmp_path / "tmp" / "nano-banana-progress.json",
        tmp_path / "tmp" / "nano-banana-results.json",
    )


def dry(config: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("run", str(config), "--emulator", "--emulator-time-scale", "0.001", *extra, env=env)


def test_a_second_deck_runs_on_files_of_its_own_and_is_followed_by_its_id(
    tmp_path: Path, env: dict[str, str]
) -> None:
    progress, results = defaults(tmp_path)
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "q3 deck", 2))
    with RunLock(progress):  # the first deck, live on the default files
        done = cli("run", str(config), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    notice = done.stderr.strip()
    assert notice.startswith("nanobanana: notice: the default progress file is another live ")
    run_id = notice.split("this run is ", 1)[1].split(",")[0]
    assert run_id.startswith("q3-deck-")
    own = tmp_path / "tmp" / f"nano-banana-{run_id}-progress.json"
    assert str(own) in notice
    assert read_json(own)["state"] == "done"
    assert read_json(tmp_path / "tmp" / f"nano-banana-{run_id}-results.json")["completed"] == 2
    assert not results.exists()  # the first deck's results are not touched
    assert not progress.exists()  # nor its progress file

    for follow in (["status", run_id], ["wait", run_id], ["status", "--config", str(config)]):
        seen = cli(*follow, env=env)
        assert seen.returncode == 0, (follow, seen.stdout, seen.stderr)
        assert seen.stdout.startswith("done 2/2"), follow
    listed = cli("runs", env=env)
    assert listed.returncode == 0
    (line,) = listed.stdout.splitlines()
    assert line.startswith(f"{run_id}: done 2/2")
    assert f"progress {own}" in line
    unknown = cli("status", "no-such-run", env=env)
    assert unknown.returncode == 2
    assert (
        unknown.stderr.strip()
        == "nanobanana: error: no run no-such-run; nanobanana runs lists them"
    )


def test_a_lone_run_keeps_the_seeds_default_files_and_is_listed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    progress, results = defaults(tmp_path)
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    done = cli("run", str(config), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert read_json(progress)["state"] == "done"
    assert read_json(results)["completed"] == 1
    assert sorted(p.name for p in (tmp_path / "tmp").glob("nano-banana-*")) == [
        "nano-banana-progress.json",
        "nano-banana-progress.json.lock",
        "nano-banana-results.json",
    ]
    assert cli("status", env=env).stdout.startswith("done 1/1")
    (line,) = cli("runs", env=env).stdout.splitlines()
    assert line.startswith("deck-")
    assert "(default): done 1/1" in line
    assert f"progress {progress}, results {results}" in line


def test_a_dry_run_never_writes_the_default_results_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    progress, results = defaults(tmp_path)
    results.write_bytes(b'{"the real run": "paid for"}')
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    done = dry(config, env)
    assert done.returncode == 0, done.stderr
    assert results.read_bytes() == b'{"the real run": "paid for"}'
    assert read_json(progress)["state"] == "done"  # a lone run: followed with no flags
    (own,) = (tmp_path / "tmp").glob("nano-banana-deck-dry-run-*-results.json")
    assert read_json(own)["dry_run"] is True
    (line,) = cli("runs", env=env).stdout.splitlines()
    assert " dry run: done 2/2" in line


def test_a_second_detached_deck_prints_the_command_that_follows_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    progress, _ = defaults(tmp_path)
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    with RunLock(progress):
        started = dry(config, env, "--detach")
        assert started.returncode == 0, started.stderr
        line = started.stdout.strip()
        assert " as deck-dry-run-" in line
        assert "(the default progress file is another live run's)" in line
        follow = shlex.split(line.split("follow: ", 1)[1])
        assert follow[-2] == "wait"
        assert follow[-1].startswith("deck-dry-run-")
        for _ in range(20):
            waited = subprocess.run(
                follow, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            if waited.returncode != 124:
                break
        assert waited.returncode == 0, (waited.stdout, waited.stderr)
        assert waited.stdout.startswith("done 2/2")
    assert not os.path.exists(defaults(tmp_path)[1])


def test_a_run_refused_for_a_deck_in_use_leaves_the_live_runs_entry_alone(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from nanobanana_async.files.lock import DeckLock

    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 2))
    assert cli("run", str(config), "--quiet", env=env).returncode == 0
    before = cli("runs", env=env).stdout
    assert before.startswith("deck-")
    assert "done 2/2" in before
    progress, _ = defaults(tmp_path)
    # A live run holds the default files and the deck: the second start is refused, and
    # is no run to list (it took the deck's id; registered, it hid the one that ran).
    with RunLock(progress), DeckLock(tmp_path / "deck"):
        refused = cli("run", str(config), "--quiet", env=env)
    assert refused.returncode == 2
    assert "is making the deck in" in refused.stderr
    assert cli("runs", env=env).stdout == before
