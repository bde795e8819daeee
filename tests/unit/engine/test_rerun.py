"""The plan of a run: decisions from the folder and its manifest, and the expected cost.

Under first-slide consistency the other slides' bodies carry the first slide's kept
original, so their digests say which image of it they were made from.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from engine_testing import jpeg_bytes
from PIL import Image

from nanobanana_async.config.loading import DeckConfig, load_config
from nanobanana_async.config.references import read_reference
from nanobanana_async.cost.prices import PRICES
from nanobanana_async.engine.manifest import (
    Decision,
    Manifest,
    Pending,
    SlideRecord,
    Verdict,
    generation_digest,
    output_digest,
)
from nanobanana_async.engine.plan import Job, plan_jobs
from nanobanana_async.engine.rerun import RunPlan, plan_run


def _config(tmp_path: Path, count: int, **top: object) -> DeckConfig:
    raw = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)],
        "output_dir": "deck",
        **top,
    }
    return load_config(raw, env={"GEMINI_API_KEY": "k" * 39}, base_dir=tmp_path)


def planned(config: DeckConfig, jobs: list[Job], **kwargs: Any) -> RunPlan:
    """The plan of a run of ``config``, from its folder's manifest as a run reads it."""
    return plan_run(config, jobs, Manifest.read(config.output_dir, config.api_key), **kwargs)


def _made(config: DeckConfig, slides: set[int]) -> None:
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
    plan = planned(config := _config(tmp_path, 10, image_size="2K"), plan_jobs(config))
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
    plan = planned(edited, plan_jobs(edited))
    assert plan.slides(Decision.GENERATE) == [3, 7]
    assert plan.requests == 2
    assert len(plan.slides(Decision.KEEP)) == 8
    assert plan.cost_usd == pytest.approx(2 * 0.134, abs=0.01)


def test_a_format_change_reencodes_and_costs_nothing(tmp_path: Path) -> None:
    _made(_config(tmp_path, 3), {1, 2, 3})
    plan = planned(config := _config(tmp_path, 3, quality=70), plan_jobs(config))
    assert plan.slides(Decision.REENCODE) == [1, 2, 3]
    assert (plan.requests, plan.cost_usd) == (0, 0.0)


def test_resume_counts_what_a_killed_run_generated_and_never_recorded(tmp_path: Path) -> None:
    config = _config(tmp_path, 3, image_size="2K")
    _made(config, {1, 2, 3})
    manifest = Manifest.read(config.output_dir)
    # A run set out to generate slide 1 and re-encode slide 2, replaced both, and was killed.
    pending = {
        1: Pending(Verdict(Decision.GENERATE, "--force"), "1:1:1"),
        2: Pending(Verdict(Decision.REENCODE, "changed", ("quality",)), "1:1:1"),
    }
    dataclasses.replace(manifest, pending=pending).write(config.output_dir)
    plan = planned(config, plan_jobs(config), resume=True)
    assert [plan.verdicts[n].reason for n in (1, 2)] == ["made by the interrupted run"] * 2
    # Its generation was paid for (the plan's estimate); a re-encode costs nothing.
    assert plan.adopted == {1: pytest.approx(0.134, abs=0.01)}
    assert planned(config, plan_jobs(config)).adopted == {}  # only --resume adopts


def test_resume_plans_to_save_what_a_killed_run_received_and_never_saved(
    tmp_path: Path,
) -> None:
    # A run set out to generate slides 1 and 2 with --force, received slide 1's image,
    # staged it, and was killed before it was saved.
    config = _config(tmp_path, 2, image_size="2K")
    _made(config, set())
    pending = {n: Pending(Verdict(Decision.GENERATE, "--force"), None) for n in (1, 2)}
    Manifest({}, pending=pending).write(config.output_dir)
    (config.output_dir / ".slide-01.webp.received").write_bytes(jpeg_bytes((8, 8)))
    plan = planned(config, plan_jobs(config), resume=True)
    assert plan.decision(1) is Decision.RECOVER
    assert (plan.slides(Decision.GENERATE), plan.requests) == ([2], 1)
    assert plan.slide_cost(1) == 0.0  # not bought again...
    assert plan.adopted == {1: pytest.approx(0.134, abs=0.01)}  # ...but paid for once
    # Killed again before it is saved, the next --resume still finds what was asked.
    assert plan.pending[1] == pending[1]
    # A fresh run asks again, whatever is staged.
    assert planned(config, plan_jobs(config)).slides(Decision.GENERATE) == [1, 2]


def test_an_image_under_an_old_name_is_retired_unless_another_slide_now_has_it(
    tmp_path: Path,
) -> None:
    _made(_config(tmp_path, 3), {1, 2, 3})
    deck = tmp_path / "deck"
    plan = planned(config := _config(tmp_path, 3, format="jpg"), plan_jobs(config))
    assert plan.retired == {n: deck / f"slide-0{n}.webp" for n in (1, 2, 3)}
    renamed = _config(tmp_path, 3)
    renamed = dataclasses.replace(
        renamed,
        slides=(
            dataclasses.replace(renamed.slides[0], output_filename="title.webp"),
            dataclasses.replace(renamed.slides[1], output_filename="slide-01.webp"),
            renamed.slides[2],
        ),
    )
    # Slide 2's new name is slide 1's old one: that file is slide 2's to replace (and keep
    # as its version), not slide 1's to move away.
    assert planned(renamed, plan_jobs(renamed)).retired == {2: deck / "slide-02.webp"}


def test_regenerate_and_force_redo_on_purpose(tmp_path: Path) -> None:
    config = _config(tmp_path, 4)
    _made(config, {1, 2, 3, 4})
    jobs = plan_jobs(config)
    assert planned(config, jobs, regenerate=frozenset({2, 4})).slides(Decision.GENERATE) == [2, 4]
    assert planned(config, jobs, force=True).requests == 4


def test_an_unpriced_model_has_no_cost(tmp_path: Path) -> None:
    config = _config(tmp_path, 2, model="someones-proxy-model")
    plan = planned(config, plan_jobs(config))
    assert plan.cost_usd is None
    assert plan.to_dict()["cost_usd"] is None


def _png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_every_reference_image_counts_in_the_cost(tmp_path: Path) -> None:
    (tmp_path / "brand.png").write_bytes(_png("red"))
    (tmp_path / "photo.png").write_bytes(_png("blue"))
    plain = _config(tmp_path, 3)
    config = _config(tmp_path, 3, style_reference="brand.png", consistency="first-slide")
    config = dataclasses.replace(
        config,
        slides=(
            config.slides[0],
            dataclasses.replace(config.slides[1], reference_image=tmp_path / "photo.png"),
            config.slides[2],
        ),
    )
    base = planned(plain, plan_jobs(plain)).costs
    costs = planned(config, plan_jobs(config)).costs
    per_image = 560 * PRICES["gemini-3-pro-image"].input / 1e6  # an input image's tokens
    # Slide 1: the style reference; 2: it, its own and slide 1's image; 3: it and slide 1's.
    for slide, images in {1: 1, 2: 3, 3: 2}.items():
        plain_cost = base[slide]
        assert plain_cost is not None
        assert costs[slide] == pytest.approx(plain_cost + images * per_image), slide


def _consistent(tmp_path: Path, count: int, **top: object) -> DeckConfig:
    return _config(tmp_path, count, consistency="first-slide", **top)


def _made_in_turn(config: DeckConfig, first: bytes) -> None:
    """As if a run had made the deck: slide 1 from ``first``, the others following it."""
    (config.output_dir / ".originals").mkdir(parents=True, exist_ok=True)
    records = {}
    for job in plan_jobs(config):
        original = f".originals/{job.dest.name}.png"
        (config.output_dir / original).write_bytes(first if job.follows is None else _png("gray"))
        job.dest.write_bytes(_png("white"))
        if job.follows is not None:
            job.follow(read_reference(config.output_dir / ".originals/slide-01.webp.png", "x"))
        records[job.slide] = SlideRecord(
            generation_digest(config.model, job.body), output_digest(job), job.dest.name, original
        )
    Manifest(records).write(config.output_dir)


def test_the_others_follow_the_kept_first_slide_and_stay_while_it_does(tmp_path: Path) -> None:
    config = _consistent(tmp_path, 4)
    _made_in_turn(config, _png("red"))
    jobs = plan_jobs(config)
    plan = planned(config, jobs)
    assert plan.slides(Decision.KEEP) == [1, 2, 3, 4]
    # Their bodies now carry slide 1's kept original, as a run would send them.
    kept = read_reference(config.output_dir / ".originals/slide-01.webp.png", "x").data
    assert all(
        job.body["contents"][0]["parts"][-1]["inlineData"]["data"] == kept for job in jobs[1:]
    )
    # A follower's own change regenerates it alone, with the same slide 1.
    edited = _consistent(tmp_path, 4)
    edited = dataclasses.replace(
        edited,
        slides=(
            *edited.slides[:2],
            dataclasses.replace(edited.slides[2], full_prompt="x"),
            edited.slides[3],
        ),
    )
    assert planned(edited, plan_jobs(edited)).slides(Decision.GENERATE) == [3]


@pytest.mark.parametrize(
    "change", ["first prompt", "regenerate first", "first image other", "first original gone"]
)
def test_when_the_first_slide_changes_every_other_slide_is_generated(
    tmp_path: Path, change: str
) -> None:
    config = _consistent(tmp_path, 4)
    _made_in_turn(config, _png("red"))
    regenerate: frozenset[int] = frozenset()
    original = config.output_dir / ".originals/slide-01.webp.png"
    if change == "first prompt":
        config = dataclasses.replace(
            config,
            slides=(dataclasses.replace(config.slides[0], full_prompt="x"), *config.slides[1:]),
        )
    elif change == "regenerate first":
        regenerate = frozenset({1})
    elif change == "first image other":
        # Slide 1 itself is unchanged, but the others were made from another image of it
        # (a run that remade slide 1 and then failed some of them): they are made again.
        original.write_bytes(_png("green"))
    else:
        original.unlink()  # nothing left to send as the service sent it: slide 1 is remade
    plan = planned(config, plan_jobs(config), regenerate=regenerate)
    expected = [2, 3, 4] if change == "first image other" else [1, 2, 3, 4]
    assert plan.slides(Decision.GENERATE) == expected


def test_slides_a_batch_still_out_will_deliver_are_neither_sent_nor_priced(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, 4, image_size="2K")
    jobs = plan_jobs(config)
    _made(config, {1})
    record = {
        "display_name": "nanobanana-deck-0123456789ab",
        "name": "batches/abc",
        "model": config.model,
        "submitted_at": "2026-01-16T10:30:00Z",
        "slides": {str(j.slide): generation_digest(config.model, j.body) for j in jobs[1:3]},
    }
    Manifest(Manifest.read(config.output_dir).slides, record).write(config.output_dir)
    plan = planned(config, jobs)
    assert plan.slides(Decision.GENERATE) == [2, 3, 4]
    assert plan.in_batch == (2, 3)
    assert plan.to_buy == [4]
    assert plan.requests == 1
    assert plan.cost_usd == pytest.approx(plan.costs[4])
    assert plan.to_dict()["batch"] == {
        "name": "batches/abc",
        "display_name": "nanobanana-deck-0123456789ab",
        "submitted_at": "2026-01-16T10:30:00Z",
        "slides": [2, 3],
    }
    # Asked otherwise now (another size): the batch's images are not the ones wanted.
    changed = _config(tmp_path, 4, image_size="4K")
    assert planned(changed, plan_jobs(changed)).in_batch == ()
