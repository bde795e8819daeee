"""The official ``google-genai`` SDK, pointed at the emulator, gets images and errors back."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from emulator_testing import KEY, PRO
from engine_testing import RecordingEmulator
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image, ImageChops

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

_PATHS: list[str] = []


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(
        EmulatorSettings(latency=False, thought_images=True),
        on_request=lambda record: _PATHS.append(record.path),
    )
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


_CONFIG = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
)


def _final_image(response: types.GenerateContentResponse) -> bytes:
    assert response.candidates
    content = response.candidates[0].content
    assert content is not None
    assert content.parts
    images = [p for p in content.parts if p.inline_data and not p.thought]
    assert images[-1].inline_data is not None
    data = images[-1].inline_data.data
    assert data is not None
    return data


@pytest.mark.parametrize("api_version", [None, "v1beta"])
async def test_the_sdk_gets_an_image(served: tuple[Emulator, str], api_version: str | None) -> None:
    emulator, base_url = served
    emulator.reset()
    client = genai.Client(
        api_key=KEY, http_options=types.HttpOptions(base_url=base_url, api_version=api_version)
    )
    try:
        response = await client.aio.models.generate_content(
            model=PRO, contents="Slide 4: Roadmap. Three milestones.", config=_CONFIG
        )
    finally:
        await client.aio.aclose()
    with Image.open(io.BytesIO(_final_image(response))) as image:
        assert (image.format, image.size) == ("JPEG", (2752, 1536))
    assert response.model_version == PRO
    assert response.usage_metadata is not None
    assert response.usage_metadata.candidates_tokens_details
    (arrival,) = emulator.stats()["arrivals"]
    assert arrival["status"] == 200
    # The SDK's default API version is v1; both must work.
    assert _PATHS[-1] == f"/{api_version or 'v1'}/models/{PRO}:generateContent"


async def test_the_sdk_finds_the_emulator_through_the_environment(
    served: tuple[Emulator, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator, base_url = served
    emulator.reset()
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", base_url)
    client = genai.Client(api_key=KEY)
    try:
        response = await client.aio.models.generate_content(
            model="gemini-2.5-flash-image", contents="Slide 5: Team."
        )
    finally:
        await client.aio.aclose()
    with Image.open(io.BytesIO(_final_image(response))) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))
    assert emulator.stats()["requests"] == 1


async def test_the_sdk_reads_the_emulators_errors(served: tuple[Emulator, str]) -> None:
    emulator, base_url = served
    emulator.reset()
    emulator.script({1: "429", 2: "503"})
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
    try:
        with pytest.raises(genai_errors.ClientError) as quota:
            await client.aio.models.generate_content(model=PRO, contents="x", config=_CONFIG)
        with pytest.raises(genai_errors.ServerError) as overloaded:
            await client.aio.models.generate_content(model=PRO, contents="x", config=_CONFIG)
    finally:
        await client.aio.aclose()
    assert (quota.value.code, quota.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert (overloaded.value.code, overloaded.value.status) == (503, "UNAVAILABLE")


async def test_the_sdks_chat_edits_an_image_in_a_second_turn(served: tuple[Emulator, str]) -> None:
    """The chat sends the model's turn back as the SDK keeps it (thought images, signatures
    in URL-safe base64): the emulator takes it, and answers with the edited image."""
    emulator, base_url = served
    emulator.reset()
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
    try:
        chat = client.aio.chats.create(model=PRO, config=_CONFIG)
        first = await chat.send_message("Slide 4: Roadmap. Three milestones.")
        second = await chat.send_message("Make the title bigger.")
    finally:
        await client.aio.aclose()
    assert first.candidates
    content = first.candidates[0].content
    assert content is not None
    assert content.parts
    signed = [p for p in content.parts if p.thought_signature]
    assert len(signed) == 2
    with (
        Image.open(io.BytesIO(_final_image(first))) as base,
        Image.open(io.BytesIO(_final_image(second))) as edited,
    ):
        assert edited.size == base.size
        difference = ImageChops.difference(base.convert("RGB"), edited.convert("RGB"))
        assert difference.getbbox() is not None
    stats = emulator.stats()
    assert [a["status"] for a in stats["arrivals"]] == [200, 200]
    assert (stats["edits"], stats["signature_refusals"]) == (1, 0)
    assert len(stats["arrivals"][1]["images"]) > len(stats["arrivals"][0]["images"])


@pytest.mark.parametrize("tier", ["flex", "priority"])
async def test_the_sdk_s_service_tier_reaches_the_emulator_unchanged(tier: str) -> None:
    recording = RecordingEmulator(EmulatorSettings(latency=False, flex_shed_rate=0.0))
    with serve_in_thread(recording) as base_url:
        client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=base_url))
        try:
            response = await client.aio.models.generate_content(
                model=PRO,
                contents="Slide 1: Plan.",
                config=types.GenerateContentConfig(
                    response_modalities=["TEXT", "IMAGE"], service_tier=types.ServiceTier(tier)
                ),
            )
        finally:
            await client.aio.aclose()
    # The SDK sends it as the body's top-level serviceTier, the value as given.
    assert [exchange.tier for exchange in recording.exchanges] == [tier]
    assert _final_image(response)
