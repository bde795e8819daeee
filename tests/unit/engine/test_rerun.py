"""The plan of a run: decisions from the folder and its manifest, and the expected cost."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from nanobanana_async.config.loading import BatchConfig, load_config
from nanobanana_async.engine.manifest import (
    Decision,
    Manifest,
    SlideRecord,
    generation_digest,
    output_digest,
)
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.engine.rerun import plan_run


def _config(tmp_path: Path, count: int, **top: object) -> BatchConfig:
    raw = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)],
        "output_dir": "deck",
        **top,
    }
    return load_config(raw, env={"GEMINI_API_KEY": "k" * 39}, base_dir=tmp_path)


def _made(config: BatchConfig, slides: set[int]) -> None:
    """As if a run had made ``slides``: images on disk, originals kept, a manifest."""
    (config.output_dir / ".originals").mkdir(parents=True, exist_ok=True)
    records = {}
    for job in plan_jobs(config):
        if job.slide not in slides:
            continue
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "white").save(buffer, "WEBP")
        job.dest.write_bytes(buffer.getvalue())
        original = f".originals/{job.dest.stem}.jpg"
        (config.output_dir / original).write_bytes(b"jpeg bytes")
        records[job.slide] = SlideRecord(
            generation_digest(config.model, job.body), output_digest(job), job.dest.name, original
        )
    Manifest(records).write(config.output_dir)


def test_a_first_run_generates_every_slide_at_the_page_price(tmp_path: Path) -> None:
    plan = plan_run(config := _config(tmp_path, 10, image_size="2K"), plan_jobs(config))
    assert plan.slides(Decision.GENERATE) == list(range(1, 11))
    assert plan.requests == 10
    assert plan.cost_usd == pytest.approx(10 * 0.134, abs=0.01)


def test_a_rerun_after_two_prompts_changed_generates_two(tmp_path: Path) -> None:
    config = _config(tmp_path, 10)
    _made(config, set(range(1, 11)))
    raw = {
        "slides": [
            {"number": n, "prompt": f"Slide {n}" + (" again" if n in (3, 7) else "")}
            for n in range(1, 11)
        ],
        "output_dir": "deck",
    }
    edited = load_config(raw, env={"GEMINI_API_KEY": "k" * 39}, base_dir=tmp_path)
    plan = plan_run(edited, plan_jobs(edited))
    assert plan.slides(Decision.GENERATE) == [3, 7]
    assert plan.requests == 2
    assert len(plan.slides(Decision.KEEP)) == 8
    assert plan.cost_usd == pytest.approx(2 * 0.134, abs=0.01)


def test_a_format_change_reencodes_and_costs_nothing(tmp_path: Path) -> None:
    _made(_config(tmp_path, 3), {1, 2, 3})
    plan = plan_run(config := _config(tmp_path, 3, quality=70), plan_jobs(config))
    assert plan.slides(Decision.REENCODE) == [1, 2, 3]
    assert (plan.requests, plan.cost_usd) == (0, 0.0)


def test_regenerate_and_force_redo_on_purpose(tmp_path: Path) -> None:
    config = _config(tmp_path, 4)
    _made(config, {1, 2, 3, 4})
    jobs = plan_jobs(config)
    assert plan_run(config, jobs, regenerate=frozenset({2, 4})).slides(Decision.GENERATE) == [2, 4]
    assert plan_run(config, jobs, force=True).requests == 4


def test_an_unpriced_model_has_no_cost(tmp_path: Path) -> None:
    config = _config(tmp_path, 2, model="someones-proxy-model")
    plan = plan_run(config, plan_jobs(config))
    assert plan.cost_usd is None
    assert plan.to_dict()["cost_usd"] is None
