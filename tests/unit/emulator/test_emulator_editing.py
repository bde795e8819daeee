"""An edit's base the emulator will not decode: too large, or not an image at all.

Decoding is bounded by the largest image the catalogue answers; past it (or when the bytes
are no image), the request is answered as a new slide, never with an error or a stall.
"""

from __future__ import annotations

import base64
import io

import pytest
from emulator_testing import FLASH25, client_for, generate
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.editing import MAX_PIXELS


def _huge_png() -> bytes:
    """A one-bit PNG just over the bound: tiny on the wire, 20 MP once decoded."""
    width = 10_000
    height = MAX_PIXELS // width + 1
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("data", [_huge_png(), b"not an image at all"], ids=["huge", "garbage"])
async def test_an_unusable_base_is_answered_as_a_new_slide(data: bytes) -> None:
    """The same image as a new slide with a reference image (text first) gets."""
    inline = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
    text = {"text": "Make it blue."}
    answers = []
    for parts in ([inline, text], [text, inline]):
        emulator = Emulator(EmulatorSettings(latency=False))
        async with client_for(emulator) as client:
            response = await generate(client, {"contents": [{"parts": parts}]}, model=FLASH25)
        assert response.status_code == 200
        answers.append(response.json()["candidates"][0]["content"]["parts"][-1]["inlineData"])
        assert emulator.stats()["edits"] == (1 if parts[0] is inline else 0)
    assert answers[0] == answers[1]
    with Image.open(io.BytesIO(base64.b64decode(answers[0]["data"]))) as image:
        assert image.size == (1024, 1024)
    assert 4_000_000 < MAX_PIXELS < 40_000_000


async def test_only_admitted_requests_count_as_repeats() -> None:
    """A body refused (429) and sent again draws its first image, unmarked; the next is #2."""
    body = {"contents": [{"parts": [{"text": "Slide 2: Team."}]}]}
    fresh = Emulator(EmulatorSettings(latency=False))
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: "429"})
    async with client_for(fresh) as client:
        unmarked = (await generate(client, body, model=FLASH25)).json()
    async with client_for(emulator) as client:
        statuses, answers = [], []
        for _ in range(3):
            response = await generate(client, body, model=FLASH25)
            statuses.append(response.status_code)
            answers.append(response.json())
    assert statuses == [429, 200, 200]
    image = [a["candidates"][0]["content"]["parts"][-1]["inlineData"] for a in answers[1:]]
    assert image[0] == unmarked["candidates"][0]["content"]["parts"][-1]["inlineData"]
    assert image[1] != image[0]
