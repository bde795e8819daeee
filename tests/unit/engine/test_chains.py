"""A slide's chain of units: keys, what a plan makes of them, and what it refuses.

Keys decide what is reused: each test changes one thing and checks which keys move.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nanobanana_async.config.loading import DeckConfig, load_config
from nanobanana_async.engine.chains import candidate_body, chain_of
from nanobanana_async.engine.manifest import (
    Decision,
    Manifest,
    SlideRecord,
    UnitRecord,
    generation_digest,
)
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.engine.rerun import plan_run
from nanobanana_async.errors import ConfigError

MODEL = "gemini-3-pro-image"


def config(tmp_path: Path, *slides: dict[str, Any], **top: Any) -> DeckConfig:
    raw = {
        "slides": [
            {"number": n, "prompt": f"Slide {n}", **extra} for n, extra in enumerate(slides, 1)
        ],
        "output_dir": "deck",
        "model": MODEL,
        **top,
    }
    return load_config(raw, env={"GEMINI_API_KEY": "k" * 39}, base_dir=tmp_path)


def chain(tmp_path: Path, **slide: Any) -> Any:
    (job,) = plan_jobs(config(tmp_path, slide))
    return chain_of(MODEL, job)


def test_the_first_candidate_is_keyed_as_a_slide_always_was(tmp_path: Path) -> None:
    (job,) = plan_jobs(config(tmp_path, {}))
    assert chain_of(MODEL, job).picked.key == generation_digest(MODEL, job.body)


def test_an_added_step_keeps_the_keys_before_it(tmp_path: Path) -> None:
    two = chain(tmp_path, edits=["a", "b"])
    three = chain(tmp_path, edits=["a", "b", "c"])
    assert [u.key for u in three.path[:3]] == [u.key for u in two.path]
    assert three.target.key not in {u.key for u in two.units}


@pytest.mark.parametrize(
    "changed",
    [
        {"edits": ["A", "b"]},  # the first instruction
        {"edits": [{"instruction": "a", "region": [0, 0, 0.5, 0.5]}, "b"]},  # its region
        {"edits": ["a", "b"], "prompt": "another"},  # the prompt
        {"edits": ["a", "b"], "seed": 7},  # a generation setting
        {"edits": ["a", "b"], "variants": 2, "pick": 2},  # the candidate edited
    ],
    ids=["instruction", "region", "prompt", "seed", "pick"],
)
def test_what_decides_a_step_changes_its_key_and_every_key_after(
    tmp_path: Path, changed: dict[str, Any]
) -> None:
    before = chain(tmp_path, edits=["a", "b"])
    after = chain(tmp_path, **changed)
    assert before.edits[0].key != after.edits[0].key
    assert before.edits[1].key != after.edits[1].key


def test_candidates_differ_by_number_and_seed(tmp_path: Path) -> None:
    (job,) = plan_jobs(config(tmp_path, {"variants": 3, "seed": 10}))
    found = chain_of(MODEL, job)
    assert len({u.key for u in found.candidates}) == 3
    assert [candidate_body(job, k)["generationConfig"]["seed"] for k in (1, 2, 3)] == [10, 11, 12]


def test_variants_or_edits_under_first_slide_consistency_are_refused(tmp_path: Path) -> None:
    raw = config(tmp_path, {}, {"variants": 2}, consistency="first-slide")
    with pytest.raises(ConfigError, match=r"variants.*first-slide"):
        plan_jobs(raw)


def test_a_candidate_file_named_as_another_slide_is_refused(tmp_path: Path) -> None:
    raw = config(tmp_path, {"variants": 2}, {"output_filename": "slide-01.v2.webp"})
    with pytest.raises(ConfigError, match=r"slide 1.*variants: candidate 2 would be saved as"):
        plan_jobs(raw)


def test_a_plan_restores_a_unit_kept_and_counts_what_it_makes(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"edits": ["a"]}, {"edits": ["a", "b", "c"]}, {"variants": 3})
    jobs = plan_jobs(cfg)
    chains = [chain_of(cfg.model, job) for job in jobs]
    folder = cfg.output_dir
    (folder / ".originals").mkdir(mode=0o700, parents=True)
    records = {}
    for job, found in zip(jobs, chains, strict=True):
        job.dest.write_bytes(b"")  # an image whole or not: slide 1 is restored anyway
        units = {}
        for unit in found.path[:2]:  # slide 1: v1 and e1 made; slide 2: v1 and e1
            name = f".originals/{job.dest.name}.{unit.tag}.png"
            (folder / name).write_bytes(b"png")
            units[unit.key] = UnitRecord(unit.name, name)
        in_place = found.candidates[0].key  # slide 1 shows v1: its e1 is put back
        records[job.slide] = SlideRecord(in_place, "o", job.dest.name, None, None, None, {}, units)
    Manifest(records).write(folder)
    plan = plan_run(cfg, jobs, Manifest.read(folder))
    assert plan.decision(1) is Decision.RESTORE
    assert plan.decision(2) is Decision.GENERATE
    assert [u.name for u in plan.chains[2].make] == ["e2", "e3"]
    assert [u.name for u in plan.chains[3].make] == ["v2", "v3"]
    assert plan.requests == 4
    assert plan.unit_summary() == (
        "generate 2 (slide 3: candidates 2-3), edit 2 (slide 2 x2), restore 1 (slide 1)"
    )
    assert plan.cost_usd is not None
    assert plan.cost_usd == pytest.approx(sum(c or 0 for c in plan.unit_costs.values()))
    rows = plan.to_dict()["units"]
    assert isinstance(rows, list)
    assert [(r["slide"], r["unit"], r["action"]) for r in rows] == [
        (1, "e1", "restore"),
        (2, "e2", "edit"),
        (2, "e3", "edit"),
        (3, "v2", "generate"),
        (3, "v3", "generate"),
    ]


def test_units_survive_the_manifest_and_one_pointing_outside_is_dropped(tmp_path: Path) -> None:
    units = {
        "k1": UnitRecord("v1", ".originals/a.png", ".turns/a.png.json", 0.134),
        "k2": UnitRecord("e1", ".originals/b.png", None, 0.15, "bigger", (0, 0, 0.5, 0.5), True),
        "k3": UnitRecord("e2", "../../etc/passwd"),
        "k4": UnitRecord("e3", ".originals/c.png", "/tmp/turn.json"),
    }
    Manifest({1: SlideRecord("k2", "o", "s.webp", None, None, None, {}, units)}).write(tmp_path)
    read = Manifest.read(tmp_path).slides[1]
    assert dict(read.units) == {"k1": units["k1"], "k2": units["k2"]}
    assert read.unit_original("k1") == ".originals/a.png"
