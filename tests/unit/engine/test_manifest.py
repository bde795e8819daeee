"""The deck's manifest: which slides a rerun generates, re-encodes or keeps."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from nanobanana_async.config.loading import load_config
from nanobanana_async.engine.manifest import (
    MANIFEST_NAME,
    Decision,
    Manifest,
    Pending,
    SlideRecord,
    Spend,
    Verdict,
    decide,
    field_digests,
    generation_digest,
    output_digest,
)
from nanobanana_async.engine.plan import Job, plan_jobs

MODEL = "gemini-3-pro-image"


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _job(tmp_path: Path, **slide: Any) -> tuple[str, Job]:
    raw = {"slides": [{"number": 1, "prompt": "A title slide", **slide}], "output_dir": "deck"}
    config = load_config(raw, env={"GEMINI_API_KEY": "k" * 39}, base_dir=tmp_path)
    return config.model, plan_jobs(config)[0]


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "Another title"},
        {"style": "professional"},
        {"aspect_ratio": "4:3"},
        {"image_size": "4K"},
        {"temperature": 0.5},  # not sent (deprecated), but a deck made with it keeps its keys
        {"seed": 7},
        {"reference_image": "other.png"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_field_that_decides_the_image_changes_its_digest(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    (tmp_path / "ref.png").write_bytes(_png((200, 0, 0)))
    (tmp_path / "other.png").write_bytes(_png((0, 200, 0)))
    model, before = _job(tmp_path, reference_image="ref.png")
    _, after = _job(tmp_path, **{"reference_image": "ref.png", **change})
    assert generation_digest(model, after.body) != generation_digest(model, before.body)
    if "style" not in change:  # a preset style also saves losslessly
        assert output_digest(after) == output_digest(before)
    # And the plan names it (a style is part of the prompt sent).
    named = {"style": "prompt", "reference_image": "reference images"}
    field = next(iter(change))
    record = _record(model, before, fields=field_digests(model, before))
    verdict = decide([after], model, Manifest({1: record}), **_ON_DISK)[1]
    assert (verdict.decision, verdict.reason) == (Decision.GENERATE, "changed")
    assert verdict.changed == (named.get(field, field),)


def test_the_reference_images_bytes_count_not_its_name(tmp_path: Path) -> None:
    (tmp_path / "ref.png").write_bytes(_png((200, 0, 0)))
    model, before = _job(tmp_path, reference_image="ref.png")
    (tmp_path / "ref.png").write_bytes(_png((0, 0, 200)))
    _, after = _job(tmp_path, reference_image="ref.png")
    assert generation_digest(model, after.body) != generation_digest(model, before.body)


def test_the_model_counts(tmp_path: Path) -> None:
    _, job = _job(tmp_path)
    assert generation_digest("gemini-3-pro-image", job.body) != generation_digest(
        "gemini-3.1-flash-image", job.body
    )


@pytest.mark.parametrize("change", [{"format": "png"}, {"quality": 70}, {"lossless": True}])
def test_output_settings_change_only_the_output_digest(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    model, before = _job(tmp_path)
    _, after = _job(tmp_path, **change)
    assert generation_digest(model, after.body) == generation_digest(model, before.body)
    assert output_digest(after) != output_digest(before)


def _record(model: str, job: Job, **extra: Any) -> SlideRecord:
    fields: dict[str, Any] = {
        "generation": generation_digest(model, job.body),
        "output": output_digest(job),
        "file": job.dest.name,
        "original": ".originals/slide-01.jpg",
        **extra,
    }
    return SlideRecord(**fields)


_ON_DISK: dict[str, Any] = {"complete": {1: True}, "original_present": {1: True}}


def test_each_verdict_says_why(tmp_path: Path) -> None:
    model, job = _job(tmp_path)
    _, png = _job(tmp_path, format="png")
    same = Manifest({1: _record(model, job, fields=field_digests(model, job))})

    def why(manifest: Manifest, one: Job = job, **kwargs: Any) -> str:
        return decide([one], model, manifest, **(_ON_DISK | kwargs))[1].describe()

    assert why(Manifest({})) == "new"
    assert why(same) == "unchanged"
    assert why(same, force=True) == "--force"
    assert why(same, regenerate=frozenset({1})) == "--regenerate"
    assert why(same, complete={1: False}) == "image missing"
    assert why(same, png) == "changed: format, file"
    no_original = why(same, png, original_present={1: False})
    assert no_original == "changed, no original kept to re-encode: format, file"
    # A manifest written before the fields were kept: the change is not named.
    assert why(Manifest({1: _record(model, job, generation="x")})) == "changed"


def test_what_a_run_left_to_do_round_trips(tmp_path: Path) -> None:
    model, job = _job(tmp_path)
    pending = {
        3: Pending(Verdict(Decision.GENERATE, "--force"), "12:34:56"),
        4: Pending(Verdict(Decision.REENCODE, "changed", ("format",)), None),
    }
    Manifest({1: _record(model, job)}, pending=pending).write(tmp_path)
    assert Manifest.read(tmp_path).pending == pending
    data = orjson.loads((tmp_path / MANIFEST_NAME).read_bytes())
    data["pending"]["5"] = {"action": "keep", "reason": "x", "changed": [], "was": None}
    data["pending"]["6"] = {"action": "generate", "reason": 7}
    (tmp_path / MANIFEST_NAME).write_bytes(orjson.dumps(data))
    assert Manifest.read(tmp_path).pending == pending  # entries not of ours are dropped


def test_decisions(tmp_path: Path) -> None:
    model, job = _job(tmp_path)
    same = Manifest({1: _record(model, job)})
    other_output = Manifest({1: _record(model, job, output="x")})
    other_image = Manifest({1: _record(model, job, generation="x")})
    whole, present = {1: True}, {1: True}

    def one(manifest: Manifest, **kwargs: Any) -> Decision:
        kwargs.setdefault("complete", whole)
        kwargs.setdefault("original_present", present)
        return decide([job], model, manifest, **kwargs)[1].decision

    assert one(Manifest({})) is Decision.GENERATE  # a first run
    assert one(same) is Decision.KEEP
    assert one(same, complete={1: False}) is Decision.REENCODE  # deleted, original kept
    assert one(same, complete={1: False}, original_present={1: False}) is Decision.GENERATE
    assert one(other_output) is Decision.REENCODE
    assert one(other_output, original_present={1: False}) is Decision.GENERATE
    assert one(other_image) is Decision.GENERATE
    assert one(same, regenerate=frozenset({1})) is Decision.GENERATE
    assert one(same, force=True) is Decision.GENERATE


def test_a_manifest_round_trips_and_anything_else_reads_as_empty(tmp_path: Path) -> None:
    record = SlideRecord("g", "o", "slide-01.webp", ".originals/slide-01.jpg", 0.134, "A cat")
    Manifest({1: record}).write(tmp_path)
    assert Manifest.read(tmp_path).slides == {1: record}  # the prompt too, for the notes
    assert (os.stat(tmp_path / MANIFEST_NAME).st_mode & 0o777) == 0o600

    def reads_empty(content: bytes) -> bool:
        (tmp_path / MANIFEST_NAME).write_bytes(content)
        return Manifest.read(tmp_path).slides == {}

    assert reads_empty(b"not json")
    assert reads_empty(b'{"format": 99, "slides": {}}')
    escaping = {"format": 1, "slides": {"1": {**record.to_dict(), "file": "../x.webp"}}}
    assert reads_empty(orjson.dumps(escaping))
    outside = {"format": 1, "slides": {"1": {**record.to_dict(), "original": "/etc/passwd"}}}
    assert reads_empty(orjson.dumps(outside))
    not_text = {"format": 1, "slides": {"1": {**record.to_dict(), "prompt": 42}}}
    (tmp_path / MANIFEST_NAME).write_bytes(orjson.dumps(not_text))
    assert Manifest.read(tmp_path).slides[1].prompt is None  # a prompt not text is no prompt
    (tmp_path / MANIFEST_NAME).unlink()
    os.mkfifo(tmp_path / MANIFEST_NAME)  # never blocks, never read
    assert Manifest.read(tmp_path).slides == {}


def _rewrite(folder: Path, change: Any) -> Manifest:
    """The manifest in ``folder`` with ``change`` applied to its JSON, as read back."""
    data = orjson.loads((folder / MANIFEST_NAME).read_bytes())
    change(data)
    (folder / MANIFEST_NAME).write_bytes(orjson.dumps(data))
    return Manifest.read(folder)


def test_what_the_deck_has_cost_round_trips() -> None:
    spend = Spend().plus([0.134, 0.134]).plus([0.067])
    assert spend == Spend(pytest.approx(0.335), 0)  # type: ignore[arg-type]
    assert spend.total_usd == pytest.approx(0.335)
    unpriced = spend.plus([None])
    assert (unpriced.usd, unpriced.unpriced, unpriced.total_usd) == (spend.usd, 1, None)


def test_the_spend_is_kept_across_writes(tmp_path: Path) -> None:
    record = SlideRecord("g", "o", "slide-01.webp", None, 0.134)
    Manifest({1: record}, spend=Spend(1.64, 0)).write(tmp_path)
    data = orjson.loads((tmp_path / MANIFEST_NAME).read_bytes())
    assert data["spend"] == {"usd": 1.64, "unpriced": 0}
    assert Manifest.read(tmp_path).spend == Spend(1.64, 0)
    Manifest({1: record}, spend=Spend(0.5, 2)).write(tmp_path)
    assert Manifest.read(tmp_path).spend.total_usd is None  # two answers of no known price
    assert Manifest.read(tmp_path / "none").spend == Spend()  # a first run: nothing yet


def test_a_manifest_older_than_the_spend_is_seeded_from_its_images(tmp_path: Path) -> None:
    # What the images in place cost: a lower bound of what the deck cost.
    records = {
        1: SlideRecord("g", "o", "slide-01.webp", None, 0.134),
        2: SlideRecord("g", "o", "slide-02.webp", None, 0.067),
    }
    Manifest(records, spend=Spend(9.0, 0)).write(tmp_path)
    older = _rewrite(tmp_path, lambda data: data.pop("spend"))
    assert older.spend == Spend(pytest.approx(0.201), 0)  # type: ignore[arg-type]
    unknown = _rewrite(tmp_path, lambda data: data["slides"]["2"].update(cost_usd=None))
    assert unknown.spend == Spend(pytest.approx(0.134), 1)  # type: ignore[arg-type]
    assert unknown.spend.total_usd is None  # no total is claimed for it


@pytest.mark.parametrize(
    "hostile",
    [-1.0, 1e300, True, "1.5", None, [1]],
    ids=["negative", "huge", "bool", "text", "null", "list"],
)
def test_a_manifest_cannot_inject_a_cost(tmp_path: Path, hostile: Any) -> None:
    record = SlideRecord("g", "o", "slide-01.webp", None, 0.134)
    Manifest({1: record}, spend=Spend(1.64, 0)).write(tmp_path)

    def spend(data: dict[str, Any]) -> None:
        data["spend"]["usd"] = hostile

    def unpriced(data: dict[str, Any]) -> None:
        data["spend"]["unpriced"] = -1 if hostile is None else hostile

    # Not believed: the spend is seeded from the images, as from an older manifest.
    assert _rewrite(tmp_path, spend).spend == Spend(0.134, 0)
    Manifest({1: record}, spend=Spend(1.64, 0)).write(tmp_path)
    assert _rewrite(tmp_path, unpriced).spend == Spend(0.134, 0)

    def cost(data: dict[str, Any]) -> None:
        data["slides"]["1"]["cost_usd"] = hostile
        data.pop("spend")

    read = _rewrite(tmp_path, cost)
    assert read.slides[1].cost_usd is None  # an image's cost not believed is not known
    assert read.spend == Spend(0.0, 1)
