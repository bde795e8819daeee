"""Success answers: pixel sizes and MIME types per model, parts, signatures, usage, slides."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from emulator_testing import FLASH25, FLASH31, PRO, client_for, generate, request_body
from PIL import Image, ImageStat

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.render import average_colour, swatch_boxes
from nanobanana_async.emulator.stats import image_digest
from nanobanana_async.service import protocol

_SIZES = [
    # (model, aspect ratio, image size, pixels, MIME type) from the protocol notes.
    (PRO, None, None, (1408, 768), "image/jpeg"),
    (PRO, "1:1", None, (1024, 1024), "image/jpeg"),
    (PRO, "2:3", "1K", (848, 1264), "image/jpeg"),
    (PRO, "3:2", "1K", (1264, 848), "image/jpeg"),
    (PRO, "3:4", "1K", (896, 1200), "image/jpeg"),
    (PRO, "4:3", "1K", (1200, 896), "image/jpeg"),
    (PRO, "4:5", "1K", (928, 1152), "image/jpeg"),
    (PRO, "5:4", "1K", (1152, 928), "image/jpeg"),
    (PRO, "9:16", "1K", (768, 1376), "image/jpeg"),
    (PRO, "16:9", "1K", (1376, 768), "image/jpeg"),
    (PRO, "21:9", "1K", (1584, 672), "image/jpeg"),
    (PRO, "16:9", "2K", (2752, 1536), "image/jpeg"),
    (PRO, "16:9", "4K", (5504, 3072), "image/jpeg"),
    (FLASH31, "16:9", "1K", (1376, 768), "image/jpeg"),
    (FLASH31, "16:9", "2K", (2752, 1536), "image/jpeg"),
    (FLASH31, "1:4", "1K", (512, 2064), "image/jpeg"),
    (FLASH31, "4:1", "1K", (2064, 512), "image/jpeg"),
    (FLASH31, "1:8", "1K", (352, 2928), "image/jpeg"),
    (FLASH31, "8:1", "1K", (2928, 352), "image/jpeg"),
    (FLASH31, "1:1", "512", (512, 512), "image/jpeg"),
    (FLASH25, None, None, (1024, 1024), "image/png"),
    (FLASH25, "16:9", None, (1344, 768), "image/png"),
    (FLASH25, "4:3", None, (1184, 864), "image/png"),
    (FLASH25, "9:16", None, (768, 1344), "image/png"),
    (FLASH25, "21:9", None, (1536, 672), "image/png"),
    (FLASH25, "3:2", None, (1248, 832), "image/png"),
    (FLASH25, "2:3", None, (832, 1248), "image/png"),
]


@pytest.mark.parametrize(("model", "aspect", "size", "pixels", "mime"), _SIZES)
async def test_pixel_size_and_mime_type(
    model: str, aspect: str | None, size: str | None, pixels: tuple[int, int], mime: str
) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, model=model, aspect_ratio=aspect, image_size=size)
    assert response.status_code == 200
    image = protocol.parse_success(response.content)
    assert image.mime_type == mime
    with Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        assert Image.MIME[decoded.format or ""] == mime
        assert decoded.size == pixels
    assert image.model_version == model
    assert len(image.response_id) == 23


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        (PRO, "1K", 1120),
        (PRO, "2K", 1120),
        (PRO, "4K", 2000),
        (FLASH31, "512", 747),
        (FLASH31, "1K", 1120),
        (FLASH31, "2K", 1680),
        (FLASH31, "4K", 2520),
        (FLASH25, None, 1290),
    ],
)
async def test_usage_has_the_real_image_token_counts(
    model: str, size: str | None, tokens: int
) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, model=model, image_size=size, aspect_ratio="1:1")
    usage = protocol.parse_success(response.content).usage
    assert usage["candidatesTokensDetails"] == [{"modality": "IMAGE", "tokenCount": tokens}]
    assert usage["candidatesTokenCount"] >= tokens
    total = usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert usage["totalTokenCount"] == total + usage.get("thoughtsTokenCount", 0)
    assert ("thoughtsTokenCount" in usage) is (model != FLASH25)


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = body["candidates"][0]["content"]["parts"]
    return parts


async def test_gemini_3_parts_are_signed_with_realistic_signatures() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        pro = (await generate(client)).json()
        flash31 = (await generate(client, model=FLASH31)).json()
        flash25 = (await generate(client, model=FLASH25)).json()
    assert [sorted(p) for p in _parts(pro)] == [
        ["text", "thoughtSignature"],
        ["inlineData", "thoughtSignature"],
    ]
    assert all(1_000_000 <= len(p["thoughtSignature"]) <= 1_200_000 for p in _parts(pro))
    assert all(100_000 <= len(p["thoughtSignature"]) < 1_000_000 for p in _parts(flash31))
    assert all("thoughtSignature" not in p for p in _parts(flash25))


async def test_signature_size_and_text_part_are_configurable() -> None:
    settings = EmulatorSettings(latency=False, signature_bytes=4000, text_part=False)
    async with client_for(Emulator(settings)) as client:
        body = (await generate(client)).json()
    (part,) = _parts(body)
    assert len(part["thoughtSignature"]) == 4000
    assert part["inlineData"]["mimeType"] == "image/jpeg"


async def test_image_only_modality_has_no_text_part() -> None:
    request = request_body()
    request["generationConfig"]["responseModalities"] = ["IMAGE"]
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        body = (await generate(client, request)).json()
    assert ["text" in p for p in _parts(body)] == [False]


async def test_thought_images_come_first_and_the_final_image_is_kept() -> None:
    settings = EmulatorSettings(latency=False, thought_images=True, seed=5)
    async with client_for(Emulator(settings)) as client:
        response = await generate(client)
    parts = _parts(response.json())
    thoughts = [p for p in parts if p.get("thought")]
    assert 1 <= len(thoughts) <= 2
    assert parts[: len(thoughts)] == thoughts
    kept = protocol.parse_success(response.content)
    assert kept.data != base64.b64decode(thoughts[0]["inlineData"]["data"])
    assert kept.data == base64.b64decode(parts[-1]["inlineData"]["data"])


async def test_the_slide_shows_its_prompt() -> None:
    """Different prompts give visibly different slides; a repeated prompt is cached.

    ``vary_repeats`` off: identical requests get identical images (the benchmarks' cache).
    """
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    async with client_for(emulator) as client:
        first = await generate(client, request_body("Slide 1: Welcome. Who we are."))
        second = await generate(client, request_body("Slide 2: Numbers. Revenue up 12%."))
        again = await generate(client, request_body("Slide 1: Welcome. Who we are."))
    images = [protocol.parse_success(r.content).data for r in (first, second, again)]
    assert images[0] != images[1]
    assert images[0] == images[2]
    with Image.open(io.BytesIO(images[0])) as slide:
        gray = slide.convert("L")
        dark = sum(gray.histogram()[:128])  # text pixels on a light page
        assert 0.002 < dark / (slide.width * slide.height) < 0.2
        assert ImageStat.Stat(gray).mean[0] > 200
    assert "hits=1" in repr(emulator._renderer)


async def test_snake_case_requests_are_accepted() -> None:
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Slide 9: Thanks."}]}],
        "generation_config": {
            "response_modalities": ["TEXT", "IMAGE"],
            "image_config": {"aspect_ratio": "9:16", "image_size": "2K"},
        },
    }
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, request)
    with Image.open(io.BytesIO(protocol.parse_success(response.content).data)) as decoded:
        assert decoded.size == (1536, 2752)


def _encoded(colour: tuple[int, int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, fmt)
    return buffer.getvalue()


def _swatches(slide: bytes, count: int) -> list[tuple[int, ...]]:
    """The colour in the middle of each of ``count`` swatches (JPEG: within a few levels)."""
    with Image.open(io.BytesIO(slide)) as image:
        rgb = image.convert("RGB")
        found = []
        for left, top, right, bottom in swatch_boxes(*rgb.size, count):
            pixel = rgb.getpixel(((left + right) // 2, (top + bottom) // 2))
            assert isinstance(pixel, tuple)
            found.append(pixel)
        return found


def _near(seen: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(seen, expected, strict=True))


async def test_each_reference_image_shows_as_a_swatch_of_its_colour_and_in_the_stats() -> None:
    """A test can tell from the slide, and from the stats, which references were sent."""
    red, blue = (220, 20, 30), (20, 60, 210)
    references = _encoded(red, "PNG"), _encoded(blue, "JPEG")
    body = request_body("Slide 4: Brand.", aspect_ratio="16:9", image_size="1K")
    for data, mime in zip(references, ("image/png", "image/jpeg"), strict=True):
        inline = {"mimeType": mime, "data": base64.b64encode(data).decode()}
        body["contents"][0]["parts"].append({"inlineData": inline})
    plain = request_body("Slide 4: Brand.", aspect_ratio="16:9", image_size="1K")
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        answers = [await generate(client, b) for b in (body, plain)]
    with_refs, without = (protocol.parse_success(r.content).data for r in answers)
    assert with_refs != without  # not the plain slide from the cache
    seen = _swatches(with_refs, 2)
    assert _near(seen[0], red), seen
    assert _near(seen[1], blue), seen
    (page,) = _swatches(without, 1)
    assert _near(page, (248, 248, 245)), page  # no reference: no swatch
    images = [a["images"] for a in emulator.stats()["arrivals"]]
    assert images == [[image_digest(data) for data in references], []]
    assert average_colour(b"not an image") == (128, 128, 128)


async def test_url_safe_base64_is_read_as_proto_json_reads_bytes() -> None:
    data = _encoded((1, 2, 3), "PNG") + b"\xfb\xff"  # bytes whose base64 has + and /
    body = request_body("Slide 5.")
    inline = {"mimeType": "image/png", "data": base64.urlsafe_b64encode(data).decode().rstrip("=")}
    body["contents"][0]["parts"].append({"inline_data": inline})
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        assert (await generate(client, body)).status_code == 200
    assert emulator.stats()["arrivals"][0]["images"] == [image_digest(data)]
