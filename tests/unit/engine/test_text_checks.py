"""The text check inside a run, against the emulator in process (ASGI) and the real OCR:
each saved slide with quoted text is read back, and a misspelt one is named in the
results, the progress file and the final line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.follow.summary import result_line

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")

KEY = "test-key-0123456789"
FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)
# Each slide is read back by the OCR (about 1.3 s): the misspelt one between two right ones.
PROMPTS = [
    'Title slide. Heading "Quarterly Results".',
    'Team slide, heading "Our Engineering Team".',
    'Closing slide with "Thank You".',
]
MISSPELT = 2  # the second request, the second slide (one at a time)


def checked_deck(output_dir: Path, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": p} for n, p in enumerate(PROMPTS, 1)],
        "output_dir": str(output_dir),
        "image_size": "1K",
        "concurrency": 1,
    }
    config.update(extra)
    return config


async def test_a_misspelt_slide_is_named_in_results_progress_and_final_line(
    tmp_path: Path,
) -> None:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({MISSPELT: "misspell"})
    results_file, progress_file = tmp_path / "results.json", tmp_path / "progress.json"
    result = await generate_deck(
        checked_deck(tmp_path / "deck", check_text=True),
        settings=FAST,
        transport=httpx2.ASGITransport(app=emulator),
        env={"GEMINI_API_KEY": KEY},
        results_file=results_file,
        progress_file=progress_file,
    )
    assert emulator.stats()["by_fault"] == {"misspell": 1}
    results = orjson.loads(results_file.read_bytes())
    checks = {o["slide"]: o["text_check"] for o in results["outputs"]}
    assert [checks[n]["state"] for n in (1, 2, 3)] == ["ok", "missing", "ok"]
    (missing,) = checks[MISSPELT]["missing"]
    assert missing["expected"] == "Our Engineering Team"
    assert missing["closest"]
    assert missing["closest"] != missing["expected"]
    assert result.to_dict()["outputs"][MISSPELT - 1]["text_check"] == checks[MISSPELT]
    assert "; 1 slide with text to check (2)" in result_line(results)
    progress = orjson.loads(progress_file.read_bytes())
    assert progress["text_checks"] == {str(n): checks[n] for n in (1, 2, 3)}


async def test_a_deck_that_does_not_ask_reads_nothing(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({MISSPELT: "misspell"})
    results_file, progress_file = tmp_path / "results.json", tmp_path / "progress.json"
    await generate_deck(
        checked_deck(tmp_path / "deck"),
        settings=FAST,
        transport=httpx2.ASGITransport(app=emulator),
        env={"GEMINI_API_KEY": KEY},
        results_file=results_file,
        progress_file=progress_file,
    )
    results = orjson.loads(results_file.read_bytes())
    assert all("text_check" not in o for o in results["outputs"])
    assert "text_checks" not in orjson.loads(progress_file.read_bytes())
    assert "text to check" not in result_line(results)
