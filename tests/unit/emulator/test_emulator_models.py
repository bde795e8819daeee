"""``models.list``, ``models.get`` and ``countTokens``: the catalogue as the service lists it,
and token counts that agree with the emulator's own ``usageMetadata``."""

from __future__ import annotations

import pytest
from emulator_testing import (
    FLASH25,
    FLASH31,
    KEY,
    PRO,
    call,
    client_for,
    error_of,
    generate,
    png,
    request_body,
    with_images,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings

LITE = "gemini-3.1-flash-lite-image"


def _emulator(**settings: object) -> Emulator:
    return Emulator(EmulatorSettings(latency=False, **settings))  # type: ignore[arg-type]


async def test_the_list_holds_each_image_model_as_the_service_lists_it() -> None:
    async with client_for(_emulator()) as client:
        response = await call(client, "GET", "/v1beta/models")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert "nextPageToken" not in body
    listed = {m["name"]: m for m in body["models"]}
    assert set(listed) == {f"models/{m}" for m in (PRO, FLASH31, FLASH25, LITE)}
    # As a real listing of 2026-06 has it.
    assert listed[f"models/{PRO}"] == {
        "name": f"models/{PRO}", "version": "3.0", "displayName": "Nano Banana Pro",
        "description": "Gemini 3 Pro Image", "inputTokenLimit": 131072, "outputTokenLimit": 32768,
        "supportedGenerationMethods": ["generateContent", "countTokens", "batchGenerateContent"],
        "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 1, "thinking": True,
    }  # fmt: skip
    assert "thinking" not in listed[f"models/{FLASH25}"]
    assert listed[f"models/{LITE}"]["displayName"] == "Nano Banana 2 Lite"
    assert listed[f"models/{FLASH31}"]["inputTokenLimit"] == 65536


async def test_pages_follow_their_tokens_to_the_end() -> None:
    async with client_for(_emulator()) as client:
        names: list[str] = []
        token: str | None = None
        pages = 0
        while True:
            params = {"pageSize": "2"} | ({"pageToken": token} if token else {})
            body = (await call(client, "GET", "/v1/models", params=params)).json()
            pages += 1
            names += [m["name"] for m in body["models"]]
            token = body.get("nextPageToken")
            if token is None:
                break
        bad_token = await call(client, "GET", "/v1beta/models", params={"pageToken": "nope"})
        bad_size = await call(client, "GET", "/v1beta/models", params={"pageSize": "two"})
    assert pages == 2
    assert len(names) == len(set(names)) == 4
    for refused in (bad_token, bad_size):
        assert refused.status_code == 400
        assert error_of(refused)["status"] == "INVALID_ARGUMENT"


async def test_get_answers_one_model_or_the_services_404() -> None:
    async with client_for(_emulator()) as client:
        listed = (await call(client, "GET", "/v1beta/models")).json()["models"]
        one = await call(client, "GET", f"/v1beta/models/{FLASH31}")
        missing = await call(client, "GET", "/v1beta/models/gemini-3-pro-image-preview")
    assert one.status_code == 200
    assert one.json() == next(m for m in listed if m["name"] == f"models/{FLASH31}")
    assert missing.status_code == 404
    assert error_of(missing) == {
        "code": 404,
        "message": "Model is not found: models/gemini-3-pro-image-preview for api version v1beta",
        "status": "NOT_FOUND",
    }


@pytest.mark.parametrize(
    "path", ["/v1beta/models", f"/v1beta/models/{PRO}", f"/v1beta/models/{PRO}:countTokens"]
)
async def test_every_method_wants_a_key_the_service_knows(path: str) -> None:
    verb = "POST" if path.endswith(":countTokens") else "GET"
    emulator = _emulator(keys=frozenset({KEY}))
    async with client_for(emulator) as client:
        none = await call(client, verb, path, request_body(), key=None)
        unknown = await call(client, verb, path, request_body(), key="AIza-someone-else")
    assert (none.status_code, error_of(none)["status"]) == (403, "PERMISSION_DENIED")
    assert unknown.status_code == 400
    assert error_of(unknown)["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize(("model", "per_image"), [(PRO, 560), (FLASH31, 1120), (FLASH25, 258)])
async def test_count_tokens_agrees_with_the_usage_of_the_same_request(
    model: str, per_image: int
) -> None:
    body = with_images(
        request_body("Slide 2: Three pillars of the plan.", model=model), png(), png()
    )
    async with client_for(_emulator()) as client:
        path = f"/v1beta/models/{model}:countTokens"
        counted = await call(client, "POST", path, {"contents": body["contents"]})
        config = await call(client, "POST", path, body)  # generationConfig is not its field
        whole = await call(
            client, "POST", f"/v1/models/{model}:countTokens", {"generateContentRequest": body}
        )
        usage = (await generate(client, body, model=model)).json()["usageMetadata"]
    assert counted.status_code == whole.status_code == 200
    assert config.status_code == 400
    assert counted.json() == whole.json()
    tokens = counted.json()
    assert tokens["totalTokens"] == usage["promptTokenCount"]
    assert tokens["promptTokensDetails"] == usage["promptTokensDetails"]
    text = round(len("Slide 2: Three pillars of the plan.") / 4)
    assert tokens["promptTokensDetails"] == [
        {"modality": "TEXT", "tokenCount": text},
        {"modality": "IMAGE", "tokenCount": 2 * per_image},
    ]


async def test_count_tokens_refuses_what_generate_content_refuses() -> None:
    async with client_for(_emulator()) as client:
        path = f"/v1beta/models/{PRO}:countTokens"
        empty = await call(client, "POST", path, {"contents": []})
        unknown = await call(client, "POST", path, {"contents": [], "tokens": 1})
        no_model = await call(client, "POST", "/v1beta/models/imagen-4:countTokens", {})
    assert empty.status_code == unknown.status_code == 400
    assert "contents is not specified" in error_of(empty)["message"]
    assert 'Unknown name "tokens"' in error_of(unknown)["message"]
    assert no_model.status_code == 404
    assert "is not supported for countTokens" in error_of(no_model)["message"]


async def test_calls_are_counted_by_method_and_are_not_generations() -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        await call(client, "GET", "/v1beta/models")
        await call(client, "GET", f"/v1beta/models/{PRO}")
        await call(client, "POST", f"/v1beta/models/{PRO}:countTokens", request_body())
        await generate(client)
    stats = emulator.stats()
    assert stats["calls"] == {
        "countTokens": 1,
        "generateContent": 1,
        "models.get": 1,
        "models.list": 1,
    }
    assert stats["requests"] == 1
    assert stats["other_requests"] == 0
