"""Fix rounds inside a run, against the emulator in process (ASGI) and the real OCR: a
misspelt slide is edited until it reads right, a stubborn one is kept and flagged, the
budget holds a round back, a rerun reads nothing again, a resume pays nothing twice.

Each read is about 1.3 s of OCR: decks of one or two slides, reads counted through the
engine's ``text_read`` hook.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.manifest import MANIFEST_NAME
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.follow.summary import result_line
from nanobanana_async.results import DeckResult

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")

KEY = "test-key-0123456789"
PROMPTS = [
    'Title slide. Heading "Quarterly Results".',
    'Team slide, heading "Our Engineering Team".',
]


def deck(output_dir: Path, count: int, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": p} for n, p in enumerate(PROMPTS[:count], 1)],
        "output_dir": str(output_dir),
        "image_size": "1K",
        "concurrency": 1,
        "check_text": True,
    }
    config.update(extra)
    return config


@dataclasses.dataclass
class Ran:
    result: DeckResult
    results: dict[str, Any]
    progress: dict[str, Any]
    reads: list[int]
    emulator: Emulator


async def run(
    tmp_path: Path,
    config: dict[str, Any],
    script: dict[int, str] | None = None,
    **settings: Any,
) -> Ran:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script(script or {})
    reads: list[int] = []
    results_file, progress_file = tmp_path / "results.json", tmp_path / "progress.json"
    resume = settings.pop("resume", False)
    result = await generate_deck(
        config,
        settings=EngineSettings(
            retry=RetryPolicy.instant(), progress_interval=0.0, text_read=reads.append, **settings
        ),
        transport=httpx2.ASGITransport(app=emulator),
        env={"GEMINI_API_KEY": KEY},
        results_file=results_file,
        progress_file=progress_file,
        resume=resume,
    )
    return Ran(
        result,
        orjson.loads(results_file.read_bytes()),
        orjson.loads(progress_file.read_bytes()),
        reads,
        emulator,
    )


def file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def checks(ran: Ran) -> dict[int, dict[str, Any]]:
    return {o["slide"]: o["text_check"] for o in ran.results["outputs"]}


async def test_a_misspelt_slide_is_fixed_in_one_round(tmp_path: Path) -> None:
    ran = await run(tmp_path, deck(tmp_path / "deck", 2, fix_text=1), {2: "misspell"})
    assert ran.results["requests"] == 3  # two slides, one fix
    assert ran.emulator.stats()["edits"] == 1
    assert sorted(ran.reads) == [1, 2, 2]  # the fix round read again
    assert checks(ran) == {
        1: {"state": "ok", "read": True},
        2: {"state": "ok", "fixes": 1, "read": True},
    }
    assert ran.progress["text_checks"] == {str(n): c for n, c in checks(ran).items()}
    assert "text to check" not in result_line(ran.results)
    fixed = ran.results["outputs"][1]
    assert fixed["previous"]  # the misspelt image kept in .versions
    assert fixed["cost_usd"] > ran.results["outputs"][0]["cost_usd"]  # the slide and its fix


async def test_a_slide_still_wrong_is_kept_flagged_a_rerun_reads_nothing_more_rounds_fix_it(
    tmp_path: Path,
) -> None:
    config = deck(tmp_path / "deck", 1, fix_text=2)
    first = await run(tmp_path, config, {1: "misspell", 2: "misspell", 3: "misspell"})
    assert first.results["requests"] == 3
    assert first.reads == [1, 1, 1]
    check = checks(first)[1]
    assert (check["state"], check["fixes"]) == ("missing", 2)
    assert check["missing"][0]["expected"] == "Quarterly Results"
    assert "; 1 slide with text to check (1, after 2 fixes)" in result_line(first.results)
    again = await run(tmp_path, config)
    assert (again.results["requests"], again.reads) == (0, [])
    assert checks(again)[1] == {**check, "read": False}
    assert "; 1 slide with text to check (1, after 2 fixes)" in result_line(again.results)
    assert again.progress["text_checks"]["1"] == checks(again)[1]
    # More rounds allowed now: read again, the two made found under their keys, one bought.
    more = await run(tmp_path, {**config, "fix_text": 3})
    assert (more.results["requests"], len(more.reads)) == (1, 4)
    assert checks(more)[1] == {"state": "ok", "fixes": 3, "read": True}


async def test_the_budget_holds_a_fix_back_and_says_so_once(tmp_path: Path) -> None:
    (tmp_path / "probe").mkdir()
    probe = await run(tmp_path / "probe", deck(tmp_path / "probe" / "deck", 1), {1: "misspell"})
    one_image = probe.results["cost_usd"]
    config = deck(tmp_path / "deck", 1, fix_text=2, max_cost=one_image * 1.05)
    ran = await run(tmp_path, config, {1: "misspell"})
    assert ran.results["requests"] == 1
    check = checks(ran)[1]
    assert (check["state"], check["fixes"], check["fixes_stopped"]) == ("missing", 0, "over budget")
    budget = [n for n in ran.results["notices"] if "text fixes not sent" in n]
    assert budget == [
        f"text fixes not sent: they would pass the budget of ${one_image * 1.05:.2f}; "
        "slide 1 kept as they are, flagged (raise max_cost, then run again)"
    ]
    assert ran.results["outputs"][0]["path"]  # the slide is kept


async def test_a_resume_after_a_kill_mid_fix_pays_nothing_twice(tmp_path: Path) -> None:
    config = deck(tmp_path / "deck", 1, fix_text=1)
    first = await run(tmp_path, config, {1: "misspell"})
    assert first.results["requests"] == 2
    # Killed after the round was kept, before it was put in place and recorded.
    output = first.results["outputs"][0]
    fixed = file_bytes(output["path"])
    shutil.copyfile(output["previous"], output["path"])
    (tmp_path / "deck" / MANIFEST_NAME).unlink()
    resumed = await run(tmp_path, config, resume=True)
    assert resumed.results["requests"] == 0
    assert checks(resumed)[1] == {"state": "ok", "fixes": 1, "read": True}
    assert file_bytes(output["path"]) == fixed  # the round put in place
    assert resumed.results["deck_cost_usd"] > 0  # the round adopted at its estimate
