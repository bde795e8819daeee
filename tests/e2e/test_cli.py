"""The ``nanobanana`` command as a subprocess, against the emulator over real HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engine_testing
import orjson
import pytest
from engine_testing import files_args

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

KEY = "cli-test-key-abcdef"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        yield url


def nanobanana(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nanobanana_async", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def environment(base_url: str, **extra: str) -> dict[str, str]:
    return engine_testing.environment(base_url, KEY, **extra)


def write_config(tmp_path: Path, count: int = 3, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
    }
    config.update(extra)
    path = tmp_path / "slides.json"
    path.write_bytes(orjson.dumps(config))
    return path


def test_the_seed_spelling_runs_a_deck(tmp_path: Path, base_url: str) -> None:
    config = write_config(tmp_path)
    done = nanobanana("--config", str(config), *files_args(tmp_path), env=environment(base_url))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("done 3/3")
    assert str(tmp_path / "deck") in lines[0]
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    assert results["completed"] == 3
    assert sorted(p.name for p in (tmp_path / "deck").glob("slide-*")) == [
        "slide-01.webp",
        "slide-02.webp",
        "slide-03.webp",
    ]
    assert KEY not in done.stdout + done.stderr


def test_all_failed_exits_1(tmp_path: Path) -> None:
    with serve_in_thread(EmulatorSettings(latency=False, keys=frozenset({"other"}))) as url:
        config = write_config(tmp_path)
        done = nanobanana(
            "run", "--config", str(config), *files_args(tmp_path), env=environment(url)
        )
    assert done.returncode == 1
    assert "API key not valid" in done.stdout
    assert KEY not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        ({"slides": []}, "slides"),
        ({"quality": 101}, "quality"),
        ({"format": "gif"}, "format"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, base_url: str, mutate: dict[str, Any], field: str
) -> None:
    config = write_config(tmp_path, **mutate)
    done = nanobanana(
        "run", "--config", str(config), *files_args(tmp_path), env=environment(base_url)
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert field in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "deck").exists()
    assert not (tmp_path / "progress.json").exists()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["run"], "--config"),
        (["run", "--config", "{config}", "--concurrency", "0"], "--concurrency"),
        (["run", "--config", "{config}", "--rpm", "-1"], "--rpm"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], named: str) -> None:
    # A config that would run, so only the option can be what is refused.
    config = write_config(tmp_path, 1)
    keyless = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    done = nanobanana(*(a.format(config=config) for a in args), env=keyless)
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "deck").exists()


def test_missing_config_file(tmp_path: Path, base_url: str) -> None:
    done = nanobanana("run", "--config", str(tmp_path / "nope.json"), env=environment(base_url))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1


def test_schema_is_json() -> None:
    done = nanobanana("schema")
    assert done.returncode == 0
    schema = orjson.loads(done.stdout)
    assert "slides" in schema["properties"]
    assert "slides" in schema["required"]
    fields = nanobanana("schema", "--fields")
    assert fields.returncode == 0
    assert fields.stdout.startswith("top level, for every slide")
    assert len(fields.stdout) < len(done.stdout) / 4


def test_dry_run_needs_no_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    done = nanobanana(
        "run",
        "--config",
        str(config),
        "--emulator",
        "--emulator-time-scale",
        "0.001",
        *files_args(tmp_path),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done 2/2")


def test_only_what_sends_needs_the_key_the_config_names(tmp_path: Path) -> None:
    # The README's own config, in a shell with no key at all.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE"))}
    config = write_config(tmp_path, 2, api_key="${GEMINI_API_KEY}")
    planned = nanobanana("plan", str(config), env=env)
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.startswith("plan (free, sends nothing): 2 slides")
    dry = nanobanana("run", str(config), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("plan (free, sends nothing): 2 slides")
    (tmp_path / "other").mkdir()
    other = write_config(tmp_path / "other", 2, api_key="${GOOGLE_API_KEY}")
    emulated = nanobanana(
        "run", str(other), "--emulator", "--emulator-time-scale", "0.001", *files_args(tmp_path),
        env=env,
    )  # fmt: skip
    assert emulated.returncode == 0, emulated.stderr
    exported = nanobanana(
        "export", str(tmp_path / "other" / "deck.dry-run"), "--pdf", "--config", str(config),
        env=env,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    real = nanobanana("run", str(config), *files_args(tmp_path), env=env)
    assert real.returncode == 2
    assert real.stderr.strip() == (
        "nanobanana: error: api_key: environment variable GEMINI_API_KEY is not set; set it, "
        "or remove api_key to read GEMINI_API_KEY; for a dry run that needs no key, use "
        "nanobanana run --emulator"
    )
    assert not (tmp_path / "deck").exists()


def test_a_config_files_relative_paths_are_read_from_its_folder(
    tmp_path: Path, base_url: str
) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    config = folder / "slides.json"
    config.write_bytes(
        orjson.dumps({"slides": [{"number": 1, "prompt": "a"}], "output_dir": "deck"})
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = nanobanana(
        "run", str(config), *files_args(tmp_path), env=environment(base_url), cwd=elsewhere
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "deck" / "slide-01.webp").is_file()
    assert not (elsewhere / "deck").exists()
    assert done.stderr.strip() == (
        f"nanobanana: notice: output_dir: 'deck' is read from the config file's folder, "
        f"{folder / 'deck'}, not the working directory"
    )


def test_sigint_cancels_and_writes_both_files(tmp_path: Path) -> None:
    with serve_in_thread(EmulatorSettings(time_scale=0.2)) as url:
        config = write_config(tmp_path, 6, concurrency=2)
        progress = tmp_path / "progress.json"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nanobanana_async",
                "run",
                "--config",
                str(config),
                *files_args(tmp_path),
            ],
            env=environment(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if progress.exists() and orjson.loads(progress.read_bytes()).get("in_flight"):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert orjson.loads(progress.read_bytes())["state"] == "cancelled"
    results = orjson.loads((tmp_path / "results.json").read_bytes())
    assert results["state"] == "cancelled"
    assert results["completed"] + results["failed"] == 6
    assert out.startswith("stopped: ")
