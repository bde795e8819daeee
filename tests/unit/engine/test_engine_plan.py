"""The plan of jobs (plan.py): one request body per slide, reference images inlined.

What a body carries of a reference image is what the loader read and checked: the same
bytes (a file swapped since is not read again), the MIME type of the decoded format (not
of the file's name), one base64 string shared by every slide that names the file.
"""

from __future__ import annotations

import base64
import dataclasses
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from nanobanana_async.config.loading import BatchConfig, load_config
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.errors import ConfigError

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


def load(tmp_path: Path, raw: dict[str, Any]) -> BatchConfig:
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
    assert raised.value.field == "slides[0].reference_image"
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
