"""The official ``google-genai`` SDK with ``vertexai=True``, pointed at the emulator: the
Vertex AI paths answer as the Developer API's do, behind a bearer token that a
``google-auth`` credential gets from the emulator's own token endpoint."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx2
import pytest
from emulator_testing import KEY, PRO
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2.credentials import Credentials
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

_PATHS: list[str] = []
_HEADERS: list[dict[str, str]] = []


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(
        EmulatorSettings(latency=False, vertex_projects=frozenset({"deck-project"})),
        on_request=lambda record: _PATHS.append(record.path),
    )
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


def _client(base_url: str, project: str = "deck-project") -> genai.Client:
    credentials = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token="refresh-token",
        client_id="client",
        client_secret="secret",
        token_uri=f"{base_url}/token",
    )
    return genai.Client(
        vertexai=True,
        project=project,
        location="global",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=base_url),
    )


_CONFIG = types.GenerateContentConfig(
    response_modalities=["TEXT", "IMAGE"],
    image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
)


async def test_the_sdk_gets_an_image_on_the_vertex_path(served: tuple[Emulator, str]) -> None:
    emulator, base_url = served
    emulator.reset()
    client = _client(base_url)
    try:
        response = await client.aio.models.generate_content(
            model=PRO, contents="Slide 4: Roadmap. Three milestones.", config=_CONFIG
        )
        counted = await client.aio.models.count_tokens(model=PRO, contents="Slide 4")
    finally:
        await client.aio.aclose()
    assert response.candidates
    assert response.candidates[0].content
    parts = response.candidates[0].content.parts or []
    images = [p.inline_data.data for p in parts if p.inline_data and p.inline_data.data]
    with Image.open(io.BytesIO(images[-1])) as image:
        assert (image.format, image.size) == ("JPEG", (2752, 1536))
    assert counted.total_tokens
    assert _PATHS[-2:] == [
        # The SDK's Vertex default version is v1beta1; our client sends v1: both answer.
        f"/v1beta1/projects/deck-project/locations/global/publishers/google/models/{PRO}:{method}"
        for method in ("generateContent", "countTokens")
    ]
    assert emulator.stats()["arrivals"][0]["status"] == 200


def test_the_sdk_lists_the_publishers_models(served: tuple[Emulator, str]) -> None:
    _, base_url = served
    client = _client(base_url)
    names = [model.name for model in client.models.list()]
    assert f"publishers/google/models/{PRO}" in names


async def test_a_429_on_vertex_has_no_retry_info(served: tuple[Emulator, str]) -> None:
    emulator, base_url = served
    emulator.reset()
    emulator.script({1: "429"})
    client = _client(base_url)
    try:
        with pytest.raises(genai_errors.ClientError) as quota:
            await client.aio.models.generate_content(model=PRO, contents="x", config=_CONFIG)
    finally:
        await client.aio.aclose()
    assert (quota.value.code, quota.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert quota.value.message is not None
    assert quota.value.message.startswith("Resource exhausted. Please try again later.")
    assert "details" not in quota.value.details["error"]


def test_the_vertex_paths_refuse_a_key_no_token_an_expired_one_and_a_stranger(
    served: tuple[Emulator, str],
) -> None:
    _, base_url = served
    path = f"/v1/projects/deck-project/locations/global/publishers/google/models/{PRO}"
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    with httpx2.Client(base_url=base_url) as http:
        token = http.post("/token", data={"grant_type": "refresh_token"}).json()["access_token"]
        keyed = http.post(f"{path}:generateContent", json=body, headers={"x-goog-api-key": KEY})
        bare = http.post(f"{path}:generateContent", json=body)
        stranger = http.post(
            f"{path.replace('deck-project', 'other')}:generateContent",
            json=body,
            headers={"authorization": f"Bearer {token}"},
        )
        forged = http.post(
            f"{path}:generateContent", json=body, headers={"authorization": "Bearer ya29.forged"}
        )
    assert [r.status_code for r in (keyed, bare, stranger, forged)] == [401, 401, 403, 401]
    assert keyed.json()["error"]["message"].startswith("API keys are not supported by this API.")
    assert "aiplatform.endpoints.predict" in stranger.json()["error"]["message"]


def test_a_token_expires_on_the_emulators_clock() -> None:
    now = [0.0]
    settings = EmulatorSettings(latency=False, token_lifetime=60.0, clock=lambda: now[0])
    path = f"/v1/projects/p/locations/global/publishers/google/models/{PRO}:countTokens"
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    with serve_in_thread(settings) as base_url, httpx2.Client(base_url=base_url) as http:
        grant = http.post("/token", data={"grant_type": "refresh_token"}).json()
        headers = {"authorization": f"Bearer {grant['access_token']}"}
        fresh = http.post(path, json=body, headers=headers)
        now[0] = 61.0
        stale = http.post(path, json=body, headers=headers)
    assert grant["expires_in"] == 60
    assert (fresh.status_code, stale.status_code) == (200, 401)
    assert stale.json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"


def test_the_legacy_quota_429_names_its_quota_and_no_delay() -> None:
    settings = EmulatorSettings(latency=False, vertex_quota="legacy")
    emulator = Emulator(settings)
    emulator.script({1: "429"})
    path = f"/v1/projects/p/locations/global/publishers/google/models/{PRO}:generateContent"
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    with serve_in_thread(emulator) as base_url, httpx2.Client(base_url=base_url) as http:
        token = http.post("/token", data={"grant_type": "refresh_token"}).json()["access_token"]
        answer = http.post(path, json=body, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert "generate_content_requests_per_minute_per_project_per_base_model" in error["message"]
    assert "details" not in error


async def test_the_sdks_chat_edits_an_image_on_vertex(served: tuple[Emulator, str]) -> None:
    """The second turn sends the model's signed turn back over the Vertex path, as on the
    Developer API's: the emulator takes it and answers the edited image."""
    emulator, base_url = served
    emulator.reset()
    client = _client(base_url)
    try:
        chat = client.aio.chats.create(model=PRO, config=_CONFIG)
        await chat.send_message("Slide 4: Roadmap. Three milestones.")
        await chat.send_message("Make the title bigger.")
    finally:
        await client.aio.aclose()
    stats = emulator.stats()
    assert [a["status"] for a in stats["arrivals"]] == [200, 200]
    assert (stats["edits"], stats["signature_refusals"]) == (1, 0)
