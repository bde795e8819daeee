"""Request validation: the real service's 400s for bad values and unknown fields."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from emulator_testing import FLASH25, FLASH31, PRO, client_for, error_of, generate, request_body

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.errors import BadRequest, NoImageReturned
from nanobanana_async.service import protocol

_IMAGE_CONFIG = "* GenerateContentRequest.generation_config.image_config."


def _with(config: dict[str, Any], model: str = PRO) -> dict[str, Any]:
    body = request_body(model=model)
    body["generationConfig"].update(config)
    return body


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (
            PRO,
            _with({"imageConfig": {"imageSize": "2k"}}),
            f"{_IMAGE_CONFIG}image_size: image_size must be one of '1K', '2K', or '4K'.\n",
        ),
        (
            PRO,
            _with({"imageConfig": {"imageSize": "512"}}),
            f"{_IMAGE_CONFIG}image_size: image_size must be one of '1K', '2K', or '4K'.\n",
        ),
        (
            FLASH25,
            _with({"imageConfig": {"imageSize": "1K"}}, FLASH25),
            f"{_IMAGE_CONFIG}image_size: image_size is not supported for "
            "models/gemini-2.5-flash-image.\n",
        ),
        (
            PRO,
            _with({"imageConfig": {"aspectRatio": "1:8"}}),
            f"{_IMAGE_CONFIG}aspect_ratio: aspect_ratio must be one of '1:1', '2:3', '3:2', "
            "'3:4', '4:3', '4:5', '5:4', '9:16', '16:9', or '21:9'.\n",
        ),
        (
            FLASH31,
            _with({"imageConfig": {"aspectRatio": "7:3"}}, FLASH31),
            f"{_IMAGE_CONFIG}aspect_ratio: aspect_ratio must be one of '1:1', '1:4', '1:8', "
            "'2:3', '3:2', '3:4', '4:1', '4:3', '4:5', '5:4', '8:1', '9:16', '16:9', or '21:9'.\n",
        ),
        (
            PRO,
            _with({"candidateCount": 2}),
            "Multiple candidates is not enabled for models/gemini-3-pro-image",
        ),
        (
            PRO,
            _with({"outputMimeType": "image/png"}),
            'Invalid JSON payload received. Unknown name "outputMimeType" at '
            "'request.generation_config': Cannot find field.",
        ),
        (
            PRO,
            _with({"imageConfig": {"personGeneration": "ALLOW_ALL"}}),
            'Invalid JSON payload received. Unknown name "personGeneration" at '
            "'request.generation_config.image_config': Cannot find field.",
        ),
        (
            PRO,
            {**request_body(), "size": "1024x1024"},
            "Invalid JSON payload received. Unknown name \"size\" at 'request': Cannot find field.",
        ),
        (PRO, {"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            PRO,
            {"contents": [{"role": "user", "parts": []}]},
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
        (
            PRO,
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            {"text": "p"},
                            {"inlineData": {"mimeType": "image/png", "data": "not base64!"}},
                        ],
                    }
                ]
            },
            "Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES), "
            'Base64 decoding failed for "not base64!"',
        ),
    ],
)
async def test_refused_requests(model: str, body: dict[str, Any], message: str) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    async with client_for(emulator) as client:
        response = await generate(client, body, model=model)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["code"], error["status"], error["message"]) == (400, "INVALID_ARGUMENT", message)
    assert type(protocol.classify_error(400, response.content)) is BadRequest
    stats = emulator.stats()
    assert stats["by_status"] == {"400": 1}
    assert stats["arrivals"][0]["status"] == 400


async def test_unknown_field_names_the_field_in_a_bad_request_detail() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, _with({"x": 1}))
    (detail,) = error_of(response)["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == "request.generation_config"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_unparsable_bodies(raw: bytes) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, raw)
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("Invalid JSON payload received.")


@pytest.mark.parametrize(
    ("model", "config"),
    [
        (FLASH31, {"imageConfig": {"imageSize": "512", "aspectRatio": "8:1"}}),
        (PRO, {"candidateCount": 1, "temperature": 0.4, "seed": 7, "topP": 0.9}),
        (PRO, {"thinkingConfig": {"includeThoughts": False}, "responseModalities": ["IMAGE"]}),
        (FLASH25, {"imageConfig": {"aspectRatio": "21:9"}}),
    ],
)
async def test_accepted_requests(model: str, config: dict[str, Any]) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, _with(config, model), model=model)
    assert response.status_code == 200
    protocol.parse_success(response.content)


@pytest.mark.parametrize(
    ("modalities", "text"),
    [
        pytest.param(["Image"], False, id="Image"),
        pytest.param(["image"], False, id="image"),
        pytest.param(["Text", "Image"], True, id="Text-Image"),
        pytest.param(["text", "IMAGE"], True, id="text-IMAGE"),
    ],
)
async def test_response_modalities_are_read_in_any_case(modalities: list[str], text: bool) -> None:
    """Google's early samples spelled the enum ``["Text", "Image"]``; the service takes it."""
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, _with({"responseModalities": modalities}))
    assert response.status_code == 200
    image = protocol.parse_success(response.content)
    assert bool(image.text) == text


async def test_a_text_only_modality_in_any_case_gets_no_image() -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, _with({"responseModalities": ["Text"]}))
    assert response.status_code == 200
    with pytest.raises(NoImageReturned):
        protocol.parse_success(response.content)


@pytest.mark.parametrize(
    "modalities",
    [
        pytest.param(["Picture"], id="Picture"),
        pytest.param(["Text", "Picture"], id="Text-Picture"),
        pytest.param([1], id="number"),
    ],
)
async def test_an_unknown_modality_is_still_refused(modalities: list[object]) -> None:
    async with client_for(Emulator(EmulatorSettings(latency=False))) as client:
        response = await generate(client, _with({"responseModalities": modalities}))
    assert response.status_code == 400
    error = error_of(response)
    index = len(modalities) - 1
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"] == (
        f"Invalid value at 'generation_config.response_modalities[{index}]' "
        "(type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality), "
        f"{orjson.dumps(modalities[index]).decode()}"
    )
    assert type(protocol.classify_error(400, response.content)) is BadRequest
