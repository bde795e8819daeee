"""The emulator's answer to "remove every piece of text": the slide it was sent, its ink
painted out and its accents kept; the same unchanged when scripted ``keeps-text``.

Whether the OCR reads anything on the answer is checked end to end in
tests/e2e/test_editable_export.py; here the pixels say it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from emulator_testing import FLASH25, client_for, generate, request_body, with_images
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.plates import removes_text
from nanobanana_async.engine.plates import PLATE_INSTRUCTION, RETRY_INSTRUCTION
from nanobanana_async.service.edit_body import EditStep, edit_text

SLIDE = 'Title slide. Heading "Quarterly Results" and the line "Revenue up 24%".'
INK_MAX = 90  # the emulator's inks are darker than this on its light page


def image_of(answer: Any) -> bytes:
    parts = answer.json()["candidates"][0]["content"]["parts"]
    return base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))


def dark_pixels(data: bytes) -> int:
    """Pixels of ink below the top band: the text a light slide shows."""
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L")
        width, height = grey.size
        below_band = grey.crop((0, round(height * 0.06), width, height))
        return sum(below_band.histogram()[:INK_MAX])


def test_what_counts_as_removing_the_text() -> None:
    assert removes_text(PLATE_INSTRUCTION)
    assert removes_text(edit_text(EditStep(RETRY_INSTRUCTION)))
    assert removes_text("Please erase all the text on it.")
    assert not removes_text("Make the title text blue.")
    assert not removes_text("Remove the logo. Keep the text.")


async def test_the_slide_sent_comes_back_without_its_text_unless_scripted_to_keep_it() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({3: "keeps-text"})
    async with client_for(emulator) as client:
        slide = image_of(await generate(client, request_body(SLIDE, model=FLASH25), model=FLASH25))
        asked = with_images(request_body(PLATE_INSTRUCTION, model=FLASH25), slide)
        plate = image_of(await generate(client, asked, model=FLASH25))
        kept = image_of(await generate(client, asked, model=FLASH25))
    assert dark_pixels(slide) > 1000
    assert dark_pixels(plate) == 0
    assert dark_pixels(kept) == dark_pixels(slide)
    assert emulator.stats()["by_fault"] == {"keeps-text": 1}


async def test_another_instruction_with_an_image_is_a_slide_as_before() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    async with client_for(emulator) as client:
        slide = image_of(await generate(client, request_body(SLIDE, model=FLASH25), model=FLASH25))
        asked = with_images(request_body("Make the heading larger.", model=FLASH25), slide)
        answer = image_of(await generate(client, asked, model=FLASH25))
    assert dark_pixels(answer) > 1000
