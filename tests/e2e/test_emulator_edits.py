"""Edits over real HTTP: the emulator answers with the base image, stamped where it was asked.

An edit sends the model's turn back (or, fresh, an image first in the user's turn) with an
instruction; a region edit adds a marked copy of the base. The answer must be told apart
from its base and from a new slide, keep every pixel outside the region (up to JPEG noise),
count every input image in its usage, and identical requests must give different images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from emulator_testing import FLASH25, KEY, PRO, request_body
from PIL import Image, ImageChops, ImageDraw

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.emulator.editing import stamp_colour

Box = tuple[int, int, int, int]

_INSTRUCTION = "Make the title bigger."
_REGION = (0.10, 0.05, 0.60, 0.25)  # left, top, right, bottom: fractions
_CONFIG = {"responseModalities": ["TEXT", "IMAGE"]}


@pytest.fixture
def served() -> Iterator[tuple[Emulator, httpx2.Client]]:
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=400, thought_images=True))
    with (
        serve_in_thread(emulator) as base_url,
        httpx2.Client(base_url=base_url, headers={"x-goog-api-key": KEY}, timeout=60) as client,
    ):
        yield emulator, client


def _post(client: httpx2.Client, body: dict[str, Any], model: str = PRO) -> dict[str, Any]:
    response = client.post(f"/v1beta/models/{model}:generateContent", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _content(answer: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = answer["candidates"][0]["content"]
    return content


def _image(answer: dict[str, Any]) -> Image.Image:
    parts = [p for p in _content(answer)["parts"] if "inlineData" in p and not p.get("thought")]
    data = base64.b64decode(parts[-1]["inlineData"]["data"])
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def _inline(image: Image.Image, fmt: str = "JPEG") -> dict[str, Any]:
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90)
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(buffer.getvalue()).decode()}}


def _box(width: int, height: int) -> Box:
    x0, y0, x1, y1 = _REGION
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


def _marked(base: Image.Image) -> Image.Image:
    """The base with the region outlined: magenta outside, a white line inside."""
    image = base.copy()
    left, top, right, bottom = _box(*base.size)
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, right - 1, bottom - 1), outline=(255, 0, 255), width=6)
    draw.rectangle((left + 6, top + 6, right - 7, bottom - 7), outline=(255, 255, 255), width=2)
    return image


def _difference(a: Image.Image, b: Image.Image) -> Image.Image:
    """Per pixel, the largest channel difference (L)."""
    red, green, blue = ImageChops.difference(a, b).split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _count(gray: Image.Image, above: int) -> int:
    return sum(gray.histogram()[above + 1 :])


def _mean(gray: Image.Image, pixels: int | None = None) -> float:
    """Mean of ``gray``, over ``pixels`` (those not blanked out) when given."""
    total = sum(value * n for value, n in enumerate(gray.histogram()))
    return total / (pixels or gray.width * gray.height)


def _near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour``."""
    far = _difference(image, Image.new("RGB", image.size, colour))
    return image.width * image.height - _count(far, tolerance)


def _edit(
    first: dict[str, Any] | list[dict[str, Any]],
    answer: dict[str, Any],
    *extra: dict[str, Any],
    text: str = _INSTRUCTION,
) -> dict[str, Any]:
    """The body of an edit step: the user turn that made ``answer`` (a body, or its
    contents), the model's turn verbatim, then the instruction."""
    user = first["contents"][-1] if isinstance(first, dict) else first[-1]
    return {
        "contents": [
            user,
            _content(answer),
            {"role": "user", "parts": [{"text": text}, *extra]},
        ],
        "generationConfig": _CONFIG,
    }


def _generated(
    client: httpx2.Client, prompt: str = "Slide 3: Results. Revenue up 12%."
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = request_body(prompt)
    return body, _post(client, body)


def test_an_edit_is_its_base_with_the_instruction_stamped(
    served: tuple[Emulator, httpx2.Client],
) -> None:
    emulator, client = served
    body, answer = _generated(client)
    base = _image(answer)
    edited_answer = _post(client, _edit(body, answer))
    edited = _image(edited_answer)
    new_slide = _image(_post(client, request_body(_INSTRUCTION)))
    assert edited.size == base.size
    pixels = base.width * base.height
    changed = _count(_difference(edited, base), 40)
    assert 0.005 * pixels < changed < 0.3 * pixels  # a stamp, not a new page
    # Above the label (which sits low), the edit is its base; a new slide is not.
    width, height = base.size
    interior = (round(0.05 * width), round(0.05 * height), round(0.95 * width), round(0.4 * height))
    kept = _difference(edited.crop(interior), base.crop(interior))
    assert _mean(kept) < 1.5
    assert _count(_difference(new_slide.crop(interior), base.crop(interior)), 40) > 1000
    colour = stamp_colour(_INSTRUCTION)
    assert _near(edited, colour) > 0.003 * pixels
    assert _near(base, colour) < _near(edited, colour) / 20
    assert (emulator.stats()["edits"], emulator.stats()["signature_refusals"]) == (1, 0)
    assert _content(edited_answer)["parts"][-2]["text"].endswith(_INSTRUCTION)


def test_a_region_edit_changes_only_inside_the_box(
    served: tuple[Emulator, httpx2.Client],
) -> None:
    emulator, client = served
    body, answer = _generated(client)
    base = _image(answer)
    edited = _image(_post(client, _edit(body, answer, _inline(_marked(base)))))
    left, top, right, bottom = _box(*base.size)
    margin = 8  # the box as found, from copies compared at a reduced size
    around = (left - margin, top - margin, right + margin, bottom + margin)
    outside_pixels = base.width * base.height - (around[2] - around[0]) * (around[3] - around[1])
    difference = _difference(edited, base)
    difference.paste(0, around)
    assert _mean(difference, outside_pixels) < 1.5  # JPEG noise only
    assert _count(difference, 40) < 0.001 * outside_pixels
    colour = stamp_colour(_INSTRUCTION)
    inside = edited.crop((left, top, right, bottom))
    assert _near(inside, colour) > 0.05 * inside.width * inside.height
    beyond = edited.copy()
    beyond.paste((0, 0, 0), around)
    assert _near(beyond, colour) == 0
    assert emulator.stats()["edits"] == 1


def test_a_fresh_edit_starts_from_the_users_image(served: tuple[Emulator, httpx2.Client]) -> None:
    """2.5 flash, no model turn: the image first, then the instruction (a slide body with a
    reference image puts its text first and is a new slide)."""
    emulator, client = served
    page = Image.new("RGB", (1024, 1024), (30, 90, 160))
    image = _inline(page, "PNG")
    fresh = {"contents": [{"role": "user", "parts": [image, {"text": _INSTRUCTION}]}]}
    edited = _image(_post(client, fresh, FLASH25))
    reference = {"contents": [{"role": "user", "parts": [{"text": _INSTRUCTION}, image]}]}
    slide = _image(_post(client, reference, FLASH25))
    assert _mean(_difference(edited, page)) < _mean(_difference(slide, page)) / 4
    assert _near(edited, stamp_colour(_INSTRUCTION)) > 0
    assert emulator.stats()["edits"] == 1


def test_usage_counts_every_input_image(served: tuple[Emulator, httpx2.Client]) -> None:
    """Thought images and the model's image in the turn sent back, and the marked copy."""
    _, client = served
    body, answer = _generated(client)
    images = sum("inlineData" in p for p in _content(answer)["parts"])
    thoughts = sum(bool(p.get("thought")) for p in _content(answer)["parts"])
    assert thoughts >= 1
    marked = _inline(_marked(_image(answer)))
    usage = _post(client, _edit(body, answer, marked))["usageMetadata"]
    details = {d["modality"]: d["tokenCount"] for d in usage["promptTokensDetails"]}
    assert details["IMAGE"] == 560 * (images + 1)
    assert details["TEXT"] > 0
    assert usage["promptTokenCount"] == details["IMAGE"] + details["TEXT"]


def test_identical_requests_give_different_images(served: tuple[Emulator, httpx2.Client]) -> None:
    """N variants are N identical requests: the real service draws N images, so must we."""
    _, client = served
    body, answer = _generated(client, "Slide 9: Variants.")
    images = [_image(answer), *(_image(_post(client, body)) for _ in range(2))]
    for i, a in enumerate(images):
        for b in images[i + 1 :]:
            assert _count(_difference(a, b), 40) > 100
    edit = _edit(body, answer)
    first, second = (_image(_post(client, edit)) for _ in range(2))
    assert _count(_difference(first, second), 40) > 100


def test_identical_requests_match_when_asked() -> None:
    """``vary_repeats`` off (``--same-repeats``): one image, cached, as benchmarks need."""
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0, vary_repeats=False))
    with (
        serve_in_thread(emulator) as base_url,
        httpx2.Client(base_url=base_url, headers={"x-goog-api-key": KEY}) as client,
    ):
        body = request_body("Slide 9: Variants.")
        first, second = (_post(client, body) for _ in range(2))
    assert _image(first).tobytes() == _image(second).tobytes()
    assert "hits=1" in repr(emulator._renderer)


def test_a_chain_step_is_made_from_the_step_before(
    served: tuple[Emulator, httpx2.Client],
) -> None:
    """Step 2 sends step 1's turn back: its answer shows both instructions' stamps."""
    emulator, client = served
    body, answer = _generated(client)
    first_step = _edit(body, answer)
    step1 = _post(client, first_step)
    second = "Make the chart blue."
    step2 = _post(client, _edit(first_step["contents"][2:], step1, text=second))
    image1, image2 = _image(step1), _image(step2)
    one, two = stamp_colour(_INSTRUCTION), stamp_colour(second)
    assert _near(image2, two) > 0
    assert _near(image2, one) > 0.5 * _near(image1, one) - _border(image1)
    assert emulator.stats()["edits"] == 2


def _border(image: Image.Image) -> int:
    """Pixels of the whole-image frame (a later step draws its own over it)."""
    inner = image.crop((20, 20, image.width - 20, image.height - 20))
    return image.width * image.height - inner.width * inner.height
