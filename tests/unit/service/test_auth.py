"""A Vertex client's bearer token (service/auth.py) against the emulator over HTTP: one
refused as stale is refreshed once and the request sent again; a refresh that fails is
one line that shows no token."""

from __future__ import annotations

import datetime as dt

import pytest
from emulator_testing import PRO
from google.oauth2.credentials import Credentials

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.errors import PermissionDenied
from nanobanana_async.service.auth import BearerAuth
from nanobanana_async.service.client import GeminiClient
from nanobanana_async.service.protocol import build_request
from nanobanana_async.service.vertex import VertexTarget

FORGED = "ya29.forged-token-0123456789"


def _credentials(token_uri: str) -> Credentials:
    # google-auth thinks this token good for an hour; the emulator never granted it.
    expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)
    return Credentials(  # type: ignore[no-untyped-call]
        token=FORGED,
        expiry=expiry,
        refresh_token="refresh-token",
        client_id="client",
        client_secret="secret",
        token_uri=token_uri,
    )


async def test_a_token_refused_as_stale_is_refreshed_once_and_sent_again() -> None:
    paths: list[str] = []
    emulator = Emulator(
        EmulatorSettings(latency=False), on_request=lambda r: paths.append(r.line())
    )
    with serve_in_thread(emulator) as url:
        auth = BearerAuth(_credentials(f"{url}/token"))
        target = VertexTarget("deck-project", base_url=url)
        async with GeminiClient(
            api_key="", base_url=target.root, api_version=target.api_path, auth=auth
        ) as client:
            image = await client.generate(PRO, build_request("Slide 1: Title", model=PRO))
    assert image.data
    assert auth.refreshes == 1
    vertex = f"/v1/projects/deck-project/locations/global/publishers/google/models/{PRO}"
    assert [line.split()[1:3] for line in paths] == [
        [f"{vertex}:generateContent", "401"],
        ["/token", "200"],
        [f"{vertex}:generateContent", "200"],
    ]


async def test_a_refresh_that_fails_is_one_line_without_the_token() -> None:
    with serve_in_thread(EmulatorSettings(latency=False)) as url:
        auth = BearerAuth(_credentials(f"{url}/no-token-endpoint"))
        target = VertexTarget("deck-project", base_url=url)
        async with GeminiClient(
            api_key="", base_url=target.root, api_version=target.api_path, auth=auth
        ) as client:
            with pytest.raises(PermissionDenied) as refused:
                await client.generate(PRO, build_request("Slide 1", model=PRO))
    message = refused.value.message
    assert "\n" not in message
    assert FORGED not in message
    assert message.startswith("could not refresh the Google Cloud access token")


def test_the_vertex_hosts_follow_the_location() -> None:
    assert VertexTarget("p").root == "https://aiplatform.googleapis.com"
    assert (
        VertexTarget("p", "europe-west4").root == "https://europe-west4-aiplatform.googleapis.com"
    )
    assert VertexTarget("p", "us-central1").api_path == (
        "v1/projects/p/locations/us-central1/publishers/google"
    )
