"""``nanobanana models`` against the emulator over HTTP, as a subprocess: what the endpoint
serves (``models.list``, followed page by page) beside what the project's tables know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from engine_testing import environment, run_cli, vertex_credentials

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread


def _models(url: str, *args: str) -> Any:
    return run_cli("models", *args, env=environment(url))


def test_the_table_puts_what_is_served_beside_what_is_known() -> None:
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        shown = _models(url)
        listed = _models(url, "--json")
    assert shown.returncode == 0, shown.stdout
    lines = shown.stdout.decode().splitlines()
    assert lines[0].split() == [
        "model",
        "served",
        "an",
        "image",
        "(default",
        "size)",
        "sizes",
        "status",
    ]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert rows["gemini-3-pro-image"].split()[1:] == [
        "yes", "$0.134,", "batch", "$0.067", "1K", "2K", "4K", "current",
    ]  # fmt: skip
    # Served, known to edit, but no price or sizes on any Google page: said, not guessed.
    assert rows["gemini-3.1-flash-lite-image"].split()[1:] == [
        "yes", "unknown", "unknown", "current",
    ]  # fmt: skip
    assert rows["gemini-2.5-flash-image"].endswith("listed for shutdown 2026-10-02")
    # Retired ids are not served, and say their replacement.
    assert rows["gemini-3-pro-image-preview"].split()[1] == "no"
    assert rows["gemini-3-pro-image-preview"].endswith("retired 2026-06-25: use gemini-3-pro-image")
    assert lines[-1].startswith("prices as of ")
    document = orjson.loads(listed.stdout)
    served = {row["model"] for row in document["models"] if row["served"]}
    assert served == {
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image",
        "gemini-2.5-flash-image",
    }


def test_without_a_key_it_is_one_line_and_exit_2() -> None:
    env = environment("http://127.0.0.1:9")
    del env["GEMINI_API_KEY"]
    done = run_cli("models", env=env)
    assert done.returncode == 2
    assert done.stdout.decode().splitlines() == [
        "nanobanana: error: api_key: no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)"
    ]


def test_on_vertex_it_lists_the_publishers_models_with_a_token(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    with serve_in_thread(emulator) as url:
        env = environment(url) | {
            "GOOGLE_GENAI_USE_VERTEXAI": "true",
            "GOOGLE_CLOUD_PROJECT": "deck-project",
            "GOOGLE_APPLICATION_CREDENTIALS": str(vertex_credentials(tmp_path, url)),
            "NO_GCE_CHECK": "True",
        }
        listed = run_cli("models", "--json", env=env)
        stats = emulator.stats()
    assert listed.returncode == 0, listed.stdout + listed.stderr
    served = {row["model"] for row in orjson.loads(listed.stdout)["models"] if row["served"]}
    assert "gemini-3-pro-image" in served
    assert stats["tokens_granted"] == 1
