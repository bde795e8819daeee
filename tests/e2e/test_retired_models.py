"""A retired model id, from the command line: the original design's own config still runs.

Its example config names ``gemini-3-pro-image-preview``, which Google retired; on Google's
endpoint (and on the embedded emulator of ``--emulator``, which plays it) the id is mapped
to its replacement with a notice on stderr and in the results; behind a proxy, or with
``"strict_model": true``, it is sent as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_testing import (
    environment,
    files_args,
    read_json,
    run_cli,
    write_json,
)

from nanobanana_async.emulator import EmulatorSettings, serve_in_thread

NOTICE = (
    "model: gemini-3-pro-image-preview was retired on 2026-06-25; using gemini-3-pro-image "
    '(set "strict_model": true to keep it)'
)


def seed_design_config(output_dir: Path) -> dict[str, Any]:
    """The example config of the original batch design, word for word but for output_dir."""
    return {
        "slides": [
            {
                "number": 1,
                "prompt": "CI/CD pipeline overview with build, test, deploy stages",
                "style": "professional",
                "output_filename": "slide-1.webp",
            }
        ],
        "output_dir": f"{output_dir}/",
        "model": "gemini-3-pro-image-preview",
        "format": "webp",
        "quality": 90,
        "api_key": "${GEMINI_API_KEY}",
        "base_url": "${GOOGLE_GEMINI_BASE_URL}",
    }


def test_the_seed_design_config_runs_with_emulator_and_says_the_id_was_mapped(
    tmp_path: Path,
) -> None:
    config = write_json(tmp_path / "slides.json", seed_design_config(tmp_path / "presentation"))
    env = environment("unused")
    del env["GEMINI_API_KEY"], env["GOOGLE_GEMINI_BASE_URL"]  # --emulator needs neither
    done = run_cli(
        "--config",
        str(config),
        "--emulator",
        "--emulator-time-scale",
        "0.001",
        *files_args(tmp_path),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("done 1/1")
    assert f"nanobanana: notice: {NOTICE}\n".encode() in done.stderr
    results = read_json(tmp_path / "results.json")
    assert (results["model"], results["notices"]) == ("gemini-3-pro-image", [NOTICE])


def test_behind_a_proxy_the_retired_id_is_sent_as_given(tmp_path: Path) -> None:
    # The emulator on loopback plays a proxy that no longer serves the id: its 404 names
    # the replacement, and nothing was mapped behind the user's back.
    config = write_json(tmp_path / "slides.json", seed_design_config(tmp_path / "presentation"))
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        done = run_cli("run", "--config", str(config), *files_args(tmp_path), env=environment(url))
    assert done.returncode == 1
    assert b"notice" not in done.stderr
    results = read_json(tmp_path / "results.json")
    assert results["model"] == "gemini-3-pro-image-preview"
    assert results["notices"] == []
    assert results["errors"][0]["kind"] == "ModelNotFound"
    assert "use gemini-3-pro-image" in results["errors"][0]["error"]
