"""A deck on the Vertex AI backend, from the command line, against the emulator's Vertex
paths: Application Default Credentials from a file whose token endpoint is the emulator's,
a token that expires mid-run, and each way it can be refused, in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_testing import (
    environment,
    files_args,
    read_json,
    run_cli,
    vertex_credentials,
    write_json,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread


def _deck(tmp_path: Path, count: int = 3, name: str = "deck", **top: Any) -> Path:
    slides = [{"number": n, "prompt": f"Slide {n}: Vertex"} for n in range(1, count + 1)]
    config = {"slides": slides, "output_dir": str(tmp_path / name), "backend": "vertex"}
    return write_json(tmp_path / f"{name}.json", config | top)


def _env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = environment(
        url, GOOGLE_APPLICATION_CREDENTIALS=str(vertex_credentials(tmp_path, url)), **extra
    )
    env |= {"HOME": str(tmp_path), "NO_GCE_CHECK": "True", "GOOGLE_CLOUD_PROJECT": "deck-project"}
    return env


def test_a_deck_runs_on_vertex_with_a_token_that_expires_mid_run(tmp_path: Path) -> None:
    # A token lasts 0.3 s of the emulator's clock: google-auth sees it expire and gets
    # another before each request; the GEMINI_API_KEY in the environment is never sent
    # (the Vertex paths answer 401 to a key).
    emulator = Emulator(
        EmulatorSettings(
            latency=False, token_lifetime=0.3, vertex_projects=frozenset({"deck-project"})
        )
    )
    with serve_in_thread(emulator) as url:
        done = run_cli(
            "run", "--config", str(_deck(tmp_path)), *files_args(tmp_path), env=_env(url, tmp_path)
        )
        stats = emulator.stats()
    assert done.returncode == 0, done.stdout + done.stderr
    results = read_json(tmp_path / "results.json")
    assert (results["completed"], results["errors"]) == (3, [])
    assert all((tmp_path / "deck" / f"slide-0{n}.webp").is_file() for n in (1, 2, 3))
    assert stats["tokens_granted"] >= 2
    assert [a["status"] for a in stats["arrivals"]] == [200] * 3
    # The token is a secret like the key: in no file the run wrote.
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt", ".log", ""):
            assert b"ya29." not in path.read_bytes(), path


def _refusal(tmp_path: Path, url: str, config: Path, **extra: str) -> list[str]:
    done = run_cli(
        "run", "--config", str(config), *files_args(tmp_path), env=_env(url, tmp_path, **extra)
    )
    lines = (done.stdout + done.stderr).decode().strip().splitlines()
    return [str(done.returncode), *lines]


def test_each_refusal_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    settings = EmulatorSettings(
        latency=False,
        vertex_projects=frozenset({"deck-project", "off-project"}),
        vertex_disabled=frozenset({"off-project"}),
    )
    with serve_in_thread(settings) as url:
        keyed = _refusal(tmp_path, url, _deck(tmp_path, 1, "a", api_key="${GEMINI_API_KEY}"))
        batch = _refusal(tmp_path, url, _deck(tmp_path, 1, "b", mode="batch-api"))
        stranger = _refusal(tmp_path, url, _deck(tmp_path, 1, "c", project="other-project"))
        disabled = _refusal(tmp_path, url, _deck(tmp_path, 1, "d", project="off-project"))
    assert keyed[0] == "2"
    assert keyed[1:] == [
        "nanobanana: error: api_key: Vertex AI takes no API key (it signs in with Application "
        'Default Credentials); remove api_key, or set "backend": "gemini"'
    ]
    assert batch[0] == "2"
    assert "batch-api is not supported on Vertex AI yet" in batch[1]
    assert stranger[0] == "1"
    assert any("grant roles/aiplatform.user" in line for line in stranger)
    assert any(
        "gcloud services enable aiplatform.googleapis.com --project off-project" in line
        for line in disabled
    )


def test_no_credentials_is_one_line(tmp_path: Path) -> None:
    env = environment("http://127.0.0.1:9")
    env |= {"HOME": str(tmp_path), "NO_GCE_CHECK": "True", "GOOGLE_CLOUD_PROJECT": "p-project"}
    done = run_cli("run", "--config", str(_deck(tmp_path, 1)), *files_args(tmp_path), env=env)
    assert done.returncode == 2
    last = done.stderr.decode().strip().splitlines()[-1]
    assert last == (
        "nanobanana: error: backend: vertex found no Google Cloud credentials: run gcloud auth "
        "application-default login, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
        "key file"
    )
    assert not (tmp_path / "deck").exists()  # refused before anything was written


def test_pacing_on_vertex_takes_429s_with_no_retry_info(tmp_path: Path) -> None:
    # Dynamic shared quota: "Resource exhausted", no RetryInfo, no quota named: waited out
    # (the legacy per-minute body is the emulator's test), and the slides are made.
    for quota, name in (("dsq", "dsq"),):
        emulator = Emulator(EmulatorSettings(latency=False, vertex_quota=quota, time_scale=0.01))
        emulator.script({1: "429"})
        with serve_in_thread(emulator) as url:
            done = run_cli(
                "run",
                "--config",
                str(_deck(tmp_path, 2, name)),
                "--time-scale",
                "0.01",  # the run's pause after the 429 at the emulator's scale
                *files_args(tmp_path),
                env=_env(url, tmp_path),
            )
            stats = emulator.stats()
        assert done.returncode == 0, done.stdout + done.stderr
        results = read_json(tmp_path / "results.json")
        assert (results["completed"], results["rate_limited"]) == (2, 1), name
        assert [a["status"] for a in stats["arrivals"]].count(429) == 1
