"""The emulator's answers against the real recorded ones: same parser, same shape.

Each recorded success body parses with :func:`protocol.parse_success`, and so does the
emulator's answer to the same request. Beyond parsing, the emulator's answer must have the
same JSON *shape* as the recording (every key path, lists flattened), so a client that
reads a field the real service sends finds it in the emulator's answers too.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from emulator_testing import FLASH25, FLASH31, PRO, client_for, fixture, generate

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.errors import ApiError, NoImageReturned, PromptBlocked, RateLimited
from nanobanana_async.service import protocol

_SUCCESS = [
    "gemini-3-pro-image--image-jpeg.json",
    "gemini-3-pro-image-preview--text-and-image.json",
    "gemini-2.5-flash-image--text-and-image-png.json",
    "vertex-gemini-2.5-flash-image--image-jpeg.json",
]


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


@pytest.mark.parametrize("name", _SUCCESS)
def test_recorded_success_bodies_parse(name: str) -> None:
    body = fixture(name)["response"]["body"]
    image = protocol.parse_success(orjson.dumps(body))
    assert image.data
    assert image.mime_type in {"image/jpeg", "image/png"}


@pytest.mark.parametrize(
    ("name", "model", "extra"),
    [
        ("gemini-3-pro-image--image-jpeg.json", PRO, set()),
        # The GA model reports serviceTier; the retired preview did not.
        ("gemini-3-pro-image-preview--text-and-image.json", PRO, {"usageMetadata.serviceTier"}),
        ("gemini-2.5-flash-image--text-and-image-png.json", FLASH25, set()),
    ],
)
async def test_emulator_answers_the_recorded_requests_in_the_recorded_shape(
    name: str, model: str, extra: set[str]
) -> None:
    recorded = fixture(name)
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, recorded["request"]["body"], model=model)
    assert response.status_code == 200
    assert response.headers["content-type"] == recorded["response"]["headers"]["content-type"][0]
    answer = response.json()
    assert _shape(answer) == _shape(recorded["response"]["body"]) | extra
    image = protocol.parse_success(response.content)
    recorded_image = protocol.parse_success(recorded["response"]["body"])
    assert image.mime_type == recorded_image.mime_type
    assert bool(image.text) == bool(recorded_image.text)
    assert image.usage["candidatesTokensDetails"] == recorded_image.usage["candidatesTokensDetails"]


async def test_text_only_answer_has_the_recorded_shape() -> None:
    recorded = fixture("gemini-2.5-flash-image--text-only-no-image.json")
    request = recorded["request"]["body"]
    request["generationConfig"] = {"responseModalities": ["TEXT"]}
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, request, model=FLASH25)
    assert _shape(response.json()) == _shape(recorded["response"]["body"])
    with pytest.raises(NoImageReturned):
        protocol.parse_success(response.content)


@pytest.mark.parametrize(
    ("name", "kind", "error"),
    [
        ("gemini-3.1-flash-image-preview--no-image.json", "no-image", NoImageReturned),
        ("gemini-3.1-flash-image-preview--prompt-blocked.json", "blocked", PromptBlocked),
    ],
)
async def test_answers_without_an_image_match_the_recordings(
    name: str, kind: str, error: type[ApiError]
) -> None:
    recorded = fixture(name)["response"]["body"]
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: kind})
    async with client_for(emulator) as client:
        response = await generate(client, model=FLASH31)
    answer = response.json()
    assert _shape(answer) == _shape(recorded)
    # These two recordings are raw service output, so their key order is the real one.
    assert list(answer) == list(recorded)
    assert list(answer["usageMetadata"]) == list(recorded["usageMetadata"])
    with pytest.raises(error):
        protocol.parse_success(response.content)
    with pytest.raises(error):
        protocol.parse_success(orjson.dumps(recorded))


async def test_emulated_429_has_the_recorded_shape_and_class() -> None:
    recorded = fixture("error-429-resource-exhausted-retry-info.json")["response"]
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: "429"})
    async with client_for(emulator) as client:
        response = await generate(client)
    assert response.status_code == recorded["status"]
    assert _shape(recorded["body"]) <= _shape(response.json())
    for status, body in ((429, response.content), (429, orjson.dumps(recorded["body"]))):
        assert isinstance(protocol.classify_error(status, body), RateLimited)
