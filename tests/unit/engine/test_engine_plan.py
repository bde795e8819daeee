"""The plan of jobs (plan.py): one request body per slide, reference images inlined.

What a body carries of a reference image is what the loader read and checked: the same
bytes (a file swapped since is not read again), the MIME type of the decoded format (not
of the file's name), one base64 string shared by every slide that names the file. The
deck's style reference goes first; under first-slide consistency the other bodies wait for
the first slide's image (how a run sends them: tests/unit/engine/test_consistency.py).
"""

from __future__ import annotations

import base64
import dataclasses
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nanobanana_async.config.loading import DeckConfig, load_config
from nanobanana_async.config.references import read_reference
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.errors import ConfigError
from nanobanana_async.service.protocol import sendable

ENV = {"GEMINI_API_KEY": "plan-test-key-0123456789"}


def image_bytes(fmt: str, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, fmt)
    return buffer.getvalue()


def deck(tmp_path: Path, count: int, reference: str | None = None) -> dict[str, Any]:
    slides: list[dict[str, Any]] = [
        {"number": n, "prompt": f"Slide {n}"} for n in range(1, count + 1)
    ]
    if reference is not None:
        for slide in slides:
            slide["reference_image"] = reference
    return {"slides": slides, "output_dir": str(tmp_path / "deck")}


def load(tmp_path: Path, raw: dict[str, Any]) -> DeckConfig:
    return load_config(raw, env=ENV, base_dir=tmp_path)


def inline(body: dict[str, Any]) -> dict[str, Any]:
    parts = body["contents"][0]["parts"]
    assert len(parts) == 2
    data: dict[str, Any] = parts[1]["inlineData"]
    return data


def test_a_slide_without_a_reference_sends_its_prompt_only(tmp_path: Path) -> None:
    (job,) = plan_jobs(load(tmp_path, deck(tmp_path, 1)))
    assert job.body["contents"][0]["parts"] == [{"text": "Slide 1"}]
    assert job.dest == tmp_path / "deck" / "slide-01.webp"


def test_the_bytes_sent_are_the_bytes_checked_at_load(tmp_path: Path) -> None:
    reference = tmp_path / "ref.png"
    checked = image_bytes("PNG")
    reference.write_bytes(checked)
    config = load(tmp_path, deck(tmp_path, 1, "ref.png"))
    # Swapped after the check: another image, then something that is no image at all.
    reference.write_bytes(image_bytes("PNG", (0, 0, 255)))
    assert inline(plan_jobs(config)[0].body)["data"] == base64.b64encode(checked).decode()
    reference.unlink()
    reference.symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert inline(plan_jobs(config)[0].body)["data"] == base64.b64encode(checked).decode()


def test_a_config_not_from_the_loader_has_its_reference_checked_when_planned(
    tmp_path: Path,
) -> None:
    (tmp_path / "ref.png").write_bytes(image_bytes("PNG"))
    loaded = load(tmp_path, deck(tmp_path, 1, "ref.png"))
    by_hand = dataclasses.replace(loaded, reference_images={})  # as a library user builds one
    (tmp_path / "ref.png").write_text("id_rsa contents\n")
    with pytest.raises(ConfigError) as raised:
        plan_jobs(by_hand)
    assert raised.value.field == "slide 1 (slides[0]).reference_image"
    assert "does not decode as an image" in raised.value.problem


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("photo.jpg", "PNG", "image/png"),
        ("logo.png", "JPEG", "image/jpeg"),
        ("logo.jpeg", "WEBP", "image/webp"),
        ("logo.WEBP", "WEBP", "image/webp"),
    ],
)
def test_the_mime_type_is_the_contents_not_the_names(
    tmp_path: Path, name: str, fmt: str, mime: str
) -> None:
    (tmp_path / name).write_bytes(image_bytes(fmt))
    (job,) = plan_jobs(load(tmp_path, deck(tmp_path, 1, name)))
    assert inline(job.body)["mimeType"] == mime


def test_slides_sharing_a_reference_share_one_base64_string(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(image_bytes("PNG"))
    raw = deck(tmp_path, 50, "logo.png")
    raw["slides"][1]["reference_image"] = str(tmp_path / "logo.png")  # another spelling
    raw["slides"][2]["reference_image"] = "./sub/../logo.png"
    jobs = plan_jobs(load(tmp_path, raw))
    first = inline(jobs[0].body)["data"]
    assert all(inline(job.body)["data"] is first for job in jobs)
    # Planned again (a config built by hand is read at planning), still one string per file.
    by_hand = dataclasses.replace(load(tmp_path, raw), reference_images={})
    again = [inline(job.body)["data"] for job in plan_jobs(by_hand)]
    assert all(data is again[0] for data in again)
    assert again[0] == first


def parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = body["contents"][0]["parts"]
    return found


def test_the_style_reference_goes_with_every_slide_before_its_own(tmp_path: Path) -> None:
    brand, photo = image_bytes("PNG"), image_bytes("JPEG", (0, 90, 200))
    (tmp_path / "brand.png").write_bytes(brand)
    (tmp_path / "photo.jpg").write_bytes(photo)
    raw = deck(tmp_path, 3) | {"style_reference": "brand.png"}
    raw["slides"][1]["reference_image"] = "photo.jpg"
    raw["slides"][2]["reference_image"] = "brand.png"  # the same file: sent once
    jobs = plan_jobs(load(tmp_path, raw))
    sent = [[p["inlineData"]["data"] for p in parts(job.body)[1:]] for job in jobs]
    brand64, photo64 = (base64.b64encode(b).decode() for b in (brand, photo))
    assert sent == [[brand64], [brand64, photo64], [brand64]]
    assert [job.images for job in jobs] == [1, 2, 1]
    assert all(job.follows is None and not job.pending for job in jobs)


def test_a_config_by_hand_has_its_style_reference_read_when_planned(tmp_path: Path) -> None:
    (tmp_path / "brand.png").write_bytes(image_bytes("PNG"))
    loaded = load(tmp_path, deck(tmp_path, 1) | {"style_reference": "brand.png"})
    (tmp_path / "brand.png").write_text("not an image\n")
    with pytest.raises(ConfigError) as raised:
        plan_jobs(dataclasses.replace(loaded, reference_images={}))
    assert raised.value.field == "style_reference"


def test_under_first_slide_consistency_the_others_wait_for_the_first_slides_image(
    tmp_path: Path,
) -> None:
    (tmp_path / "brand.png").write_bytes(image_bytes("PNG"))
    raw = deck(tmp_path, 3) | {"consistency": "first-slide", "style_reference": "brand.png"}
    for slide, number in zip(raw["slides"], (7, 2, 3), strict=True):
        slide["number"] = number  # the first slide is the first listed, whatever its number
    leader, *followers = plan_jobs(load(tmp_path, raw))
    assert (leader.slide, leader.follows, leader.pending, leader.images) == (7, None, False, 1)
    for job in followers:
        assert (job.follows, job.pending, job.images) == (7, True, 2)
        assert len(job.inline_sizes()) == 1  # only the style reference so far
    (tmp_path / "first.jpg").write_bytes(first := image_bytes("JPEG", (9, 9, 9)))
    image = read_reference(tmp_path / "first.jpg", "first")
    followers[0].follow(image)
    followers[0].follow(image)  # again: it replaces the image followed, never adds one
    assert not followers[0].pending
    assert parts(followers[0].body)[-1] == {
        "inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(first).decode()}
    }
    assert followers[0].images == 2
    assert followers[1].pending  # each body is its own


def test_consistency_none_or_a_single_slide_has_no_followers(tmp_path: Path) -> None:
    jobs = plan_jobs(load(tmp_path, deck(tmp_path, 3)))
    assert [job.follows for job in jobs] == [None, None, None]
    (job,) = plan_jobs(load(tmp_path, deck(tmp_path, 1) | {"consistency": "first-slide"}))
    assert job.follows is None


def test_temperature_is_planned_but_not_sent_google_deprecated_it(tmp_path: Path) -> None:
    """The planned body keeps it, so a deck made with it keeps its slides' keys (nothing
    paid for again); what goes on the wire drops it."""
    config = load(tmp_path, {**deck(tmp_path, 1), "temperature": 0.4, "seed": 7})
    (job,) = plan_jobs(config)
    assert job.body["generationConfig"]["temperature"] == 0.4
    sent = sendable(job.body)
    assert "temperature" not in sent["generationConfig"]
    assert sent["generationConfig"]["seed"] == 7
    assert sendable(sent) is sent  # nothing to drop: the same body
