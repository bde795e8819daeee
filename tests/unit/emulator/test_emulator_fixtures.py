"""The emulator's answers against the answers on file: same parser, same shape.

Each body on file parses with :func:`protocol.parse_success` (or classifies with
:func:`protocol.classify_error`), and so does the emulator's answer to the same request. Beyond
that, the emulator's answer must have the same JSON *shape* as the one on file (every key path,
lists flattened), so a client that reads a field the service sends finds it in the emulator's
answers too. The answers on file are our own fixtures (``tests/fixtures/wire``, from the
documented format) and, where present, real recordings (see :func:`emulator_testing.wire_cases`).
"""

from __future__ import annotations

import io
from typing import Any

import httpx2
import orjson
import pytest
from emulator_testing import FLASH25, FLASH31, PRO, Wire, client_for, generate, wire_cases
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.errors import ApiError, ImageRefused, NoImageReturned, PromptBlocked
from nanobanana_async.service import protocol


def _shape(value: Any, prefix: str = "") -> set[str]:
    """Every key path in ``value``; list items share the path ``name[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= _shape(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= _shape(item, f"{prefix}[]")
    return paths


def _pixels(image: protocol.GeneratedImage) -> tuple[int, int]:
    with Image.open(io.BytesIO(image.data)) as decoded:
        return decoded.size


@pytest.mark.parametrize(
    "wire",
    wire_cases(
        [
            ("gemini-3-pro-image--image-jpeg",),
            ("gemini-3-pro-image--text-and-image",),
            ("gemini-3-pro-image--thoughts-then-image",),
            ("gemini-3.1-flash-image--text-and-image",),
            ("gemini-2.5-flash-image--text-and-image-png",),
            ("vertex-gemini-2.5-flash-image--image-jpeg",),
        ],
        [
            ("gemini-3-pro-image--image-jpeg",),
            ("gemini-3-pro-image-preview--text-and-image",),
            ("gemini-2.5-flash-image--text-and-image-png",),
            ("vertex-gemini-2.5-flash-image--image-jpeg",),
        ],
    ),
)
def test_success_bodies_on_file_parse(wire: Wire) -> None:
    image = protocol.parse_success(orjson.dumps(wire.response()["body"]))
    assert image.data
    assert image.mime_type in {"image/jpeg", "image/png"}


@pytest.mark.parametrize(
    ("wire", "model", "extra", "thought_images"),
    wire_cases(
        [
            ("gemini-3-pro-image--image-jpeg", PRO, set(), False),
            ("gemini-3-pro-image--text-and-image", PRO, set(), False),
            ("gemini-3-pro-image--thoughts-then-image", PRO, set(), True),
            ("gemini-3.1-flash-image--text-and-image", FLASH31, set(), False),
            ("gemini-2.5-flash-image--text-and-image-png", FLASH25, set(), False),
        ],
        [
            ("gemini-3-pro-image--image-jpeg", PRO, set(), False),
            # The GA model reports serviceTier; the retired preview did not.
            (
                "gemini-3-pro-image-preview--text-and-image",
                PRO,
                {"usageMetadata.serviceTier"},
                False,
            ),
            ("gemini-2.5-flash-image--text-and-image-png", FLASH25, set(), False),
        ],
    ),
)
async def test_emulator_answers_the_requests_on_file_in_their_shape(
    wire: Wire, model: str, extra: set[str], thought_images: bool
) -> None:
    on_file = wire.load()
    settings = EmulatorSettings(latency=False, thought_images=thought_images)
    async with client_for(Emulator(settings)) as client:
        response = await generate(client, on_file["request"]["body"], model=model)
    assert response.status_code == 200
    assert response.headers["content-type"] == on_file["response"]["headers"]["content-type"][0]
    answer = response.json()
    assert _shape(answer) == _shape(on_file["response"]["body"]) | extra
    image = protocol.parse_success(response.content)
    image_on_file = protocol.parse_success(on_file["response"]["body"])
    assert image.mime_type == image_on_file.mime_type
    assert _pixels(image) == _pixels(image_on_file)
    assert bool(image.text) == bool(image_on_file.text)
    assert image.usage["candidatesTokensDetails"] == image_on_file.usage["candidatesTokensDetails"]


@pytest.mark.parametrize(
    "wire",
    wire_cases(
        [("gemini-2.5-flash-image--text-only-no-image",)],
        [("gemini-2.5-flash-image--text-only-no-image",)],
    ),
)
async def test_text_only_answer_has_the_shape_on_file(wire: Wire) -> None:
    on_file = wire.load()
    request = on_file["request"]["body"]
    request["generationConfig"] = {"responseModalities": ["TEXT"]}
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, request, model=FLASH25)
    assert _shape(response.json()) == _shape(on_file["response"]["body"])
    with pytest.raises(NoImageReturned):
        protocol.parse_success(response.content)


@pytest.mark.parametrize(
    ("wire", "kind", "model", "error"),
    wire_cases(
        [
            ("gemini-3.1-flash-image--no-image", "no-image", FLASH31, NoImageReturned),
            ("gemini-3.1-flash-image--prompt-blocked", "blocked", FLASH31, PromptBlocked),
            ("gemini-3-pro-image--image-safety", "image-safety", PRO, ImageRefused),
        ],
        [
            ("gemini-3.1-flash-image-preview--no-image", "no-image", FLASH31, NoImageReturned),
            ("gemini-3.1-flash-image-preview--prompt-blocked", "blocked", FLASH31, PromptBlocked),
        ],
    ),
)
async def test_answers_without_an_image_match_the_ones_on_file(
    wire: Wire, kind: str, model: str, error: type[ApiError]
) -> None:
    on_file = wire.response()["body"]
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: kind})
    async with client_for(emulator) as client:
        response = await generate(client, model=model)
    answer = response.json()
    assert _shape(answer) == _shape(on_file)
    if wire.recorded:
        # Raw service output, so its key order is the real one (ours are written by hand).
        assert list(answer) == list(on_file)
        assert list(answer["usageMetadata"]) == list(on_file["usageMetadata"])
    with pytest.raises(error):
        protocol.parse_success(response.content)
    with pytest.raises(error):
        protocol.parse_success(orjson.dumps(on_file))


async def _provoke(client: httpx2.AsyncClient, emulator: Emulator, how: str) -> httpx2.Response:
    """Make the emulator answer with the error ``how`` names: a fault kind, or a bad request."""
    if how == "no-key":
        return await generate(client, key=None)
    if how == "retired-model":
        return await generate(client, model="gemini-3-pro-image-preview")
    if how == "vertex-field":
        body: dict[str, Any] = protocol.build_request("p", model=PRO)
        body["generationConfig"]["outputMimeType"] = "image/png"
        return await generate(client, body)
    emulator.script({1: how})
    return await generate(client)


@pytest.mark.parametrize(
    ("wire", "how"),
    wire_cases(
        [
            ("error-400-invalid-argument", "vertex-field"),
            ("error-400-api-key-invalid", "invalid-key"),
            ("error-403-permission-denied", "no-key"),
            ("error-404-not-found", "retired-model"),
            ("error-429-per-minute-retry-info", "429"),
            ("error-429-per-day", "429-day"),
            ("error-500-internal", "500"),
            ("error-503-unavailable", "503"),
        ],
        [
            ("error-400-invalid-argument", "vertex-field"),
            ("error-429-resource-exhausted-retry-info", "429"),
        ],
    ),
)
async def test_emulated_errors_have_the_shape_and_class_on_file(wire: Wire, how: str) -> None:
    on_file = wire.response()
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        response = await _provoke(client, emulator, how)
    assert response.status_code == on_file["status"]
    assert _shape(on_file["body"]) <= _shape(response.json())
    emulated = protocol.classify_error(response.status_code, response.content)
    expected = protocol.classify_error(on_file["status"], orjson.dumps(on_file["body"]))
    assert type(emulated) is type(expected)
