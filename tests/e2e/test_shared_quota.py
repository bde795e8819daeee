"""One quota, many machines: ``nanobanana run --ledger redis://...`` as separate processes
with separate temp and runtime folders (no file ledger shared), one emulator and one real
Redis server. What a deck on one machine learned of the quota, the next on another uses;
a Redis that is not there costs one line, never the run; a bad address is one line, exit 2.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_testing import deck_config, environment, read_json, run_cli, write_json
from redis_server import RedisServer, redis_or_skip

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

SCALE = "0.05"  # a minute is 3 s: longer than a process takes to start


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[Emulator, str]]:
    app = Emulator(EmulatorSettings(rpm=4, time_scale=float(SCALE), signature_bytes=0))
    with serve_in_thread(app) as url:
        yield app, url


def _machine(tmp_path: Path, name: str, url: str) -> dict[str, str]:
    """A machine of its own: its temp and runtime folders, so nothing but Redis is shared."""
    home = tmp_path / name
    (home / "tmp").mkdir(parents=True)
    (home / "runtime").mkdir(mode=0o700)
    return environment(url, TMPDIR=str(home / "tmp"), XDG_RUNTIME_DIR=str(home / "runtime"))


def _run(
    tmp_path: Path, env: dict[str, str], name: str, slides: int, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    config = write_json(tmp_path / f"{name}.json", deck_config(tmp_path / name, slides))
    files = ["--progress-file", str(tmp_path / f"{name}-progress.json")]
    files += ["--results-file", str(tmp_path / f"{name}-results.json")]
    done: subprocess.CompletedProcess[bytes] = run_cli(
        "run", str(config), "--quiet", "--time-scale", SCALE, *files, *extra, env=env
    )
    return done


def _refused(app: Emulator) -> int:
    return int(app.stats()["by_status"].get("429", 0))


def test_a_deck_on_another_machine_paces_by_what_the_first_learned(
    tmp_path: Path, emulator: tuple[Emulator, str], redis_server: RedisServer
) -> None:
    app, url = emulator
    app.reset()
    ledger = ("--ledger", redis_server.url)
    first = _run(tmp_path, _machine(tmp_path, "one", url), "one", 5, *ledger)
    assert first.returncode == 0, first.stderr
    learned = _refused(app)
    assert learned >= 1  # five slides on a quota of four: the first machine learned it
    second = _run(tmp_path, _machine(tmp_path, "two", url), "two", 4, *ledger)
    assert second.returncode == 0, second.stderr
    assert read_json(tmp_path / "two-results.json")["completed"] == 4
    # The second machine knew the window and the sends that filled it: no 429 of its own
    # (without Redis it starts from nothing and bursts into the full window).
    assert _refused(app) == learned
    assert app.stats()["inside_announced_delay"] == 0
    assert b"quota ledger" not in first.stderr + second.stderr


def test_a_redis_that_is_not_there_costs_one_line_not_the_run(
    tmp_path: Path, emulator: tuple[Emulator, str]
) -> None:
    redis_or_skip()
    app, url = emulator
    app.reset()
    secret = "pw-never-shown-4242"
    nobody = f"redis://:{secret}@127.0.0.1:1/0"  # port 1: nothing listens
    env = _machine(tmp_path, "alone", url) | {"NANO_BANANA_LEDGER": nobody}
    done = _run(tmp_path, env, "alone", 3)
    assert done.returncode == 0, done.stderr
    assert read_json(tmp_path / "alone-results.json")["completed"] == 3
    (line,) = done.stderr.decode().splitlines()  # one line, and the run went on
    assert line.startswith("nanobanana: quota ledger redis://127.0.0.1:1/0 unreachable (")
    assert line.endswith("); pacing this run on its own until it is back")
    assert "refused" in line.lower()
    for where in (tmp_path / "alone-progress.json", tmp_path / "alone-results.json"):
        assert secret not in where.read_text()


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (["--ledger", "redis://"], "--ledger: 'redis://' names no host"),
        (["--ledger", "memcached://h:11211"], '--ledger: expected "file", "off", or a Redis URL'),
        (["config", "redis://:pw@h:port/0"], "ledger: 'redis://h:port/0' names no host"),
        (["env", "sometimes"], 'NANO_BANANA_LEDGER: expected "file", "off", or a Redis URL'),
    ],
)
def test_a_bad_ledger_is_one_line_and_exit_2(tmp_path: Path, how: list[str], said: str) -> None:
    env = _machine(tmp_path, "m", "http://127.0.0.1:1")
    deck = deck_config(tmp_path / "deck", 1)
    extra: list[str] = []
    if how[0] == "config":
        deck["ledger"] = how[1]
    elif how[0] == "env":
        env["NANO_BANANA_LEDGER"] = how[1]
    else:
        extra = how
    config = write_json(tmp_path / "slides.json", deck)
    done = run_cli("run", str(config), "--quiet", *extra, env=env, text=True)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert said in line
    assert "Traceback" not in done.stderr
    assert "pw" not in line
    assert not (tmp_path / "deck").exists()


def test_without_the_redis_extra_a_redis_ledger_is_one_line_naming_it(tmp_path: Path) -> None:
    env = _machine(tmp_path, "m", "http://127.0.0.1:1")
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 1))
    code = (
        "import sys; sys.modules['redis'] = None; "  # as if the extra were not installed
        "from nanobanana_async.cli import main; "
        f"sys.exit(main(['run', {str(config)!r}, '--ledger', 'redis://127.0.0.1:6379/0']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 2
    assert "pip install 'nanobanana-async[redis]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # argparse's usage line, then ours
    assert "Traceback" not in done.stderr
