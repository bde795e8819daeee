"""The emulator's typos on demand: the setting, its option, and that caches stay warm.

Whether the typo is read and corrected is checked with the real OCR in tests/unit/qa.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from emulator_testing import FLASH25, client_for, generate, request_body

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.misspelling import corrects, misspelt
from nanobanana_async.emulator.server import emulate_settings

PROMPT = 'Title slide: "Quarterly Results" and "Revenue up 24%".'


@pytest.mark.parametrize("rate", [-0.1, 1.5])
def test_a_rate_outside_0_to_1_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="misspell_rate must be between 0 and 1"):
        EmulatorSettings(misspell_rate=rate)


def test_the_option_sets_it() -> None:
    assert emulate_settings(["--misspell-rate", "0.3"]).misspell_rate == 0.3
    assert emulate_settings([]).misspell_rate == 0.0


async def test_identical_requests_get_identical_images_from_the_cache() -> None:
    settings = EmulatorSettings(latency=False, misspell_rate=1.0, vary_repeats=False)
    emulator = Emulator(settings)
    async with client_for(emulator) as client:
        answers = [
            (await generate(client, request_body(PROMPT, model=FLASH25), model=FLASH25)).json()
            for _ in range(3)
        ]
    images = {a["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"] for a in answers}
    assert len(images) == 1
    assert (emulator._renderer.hits, emulator._renderer.misses) == (2, 1)


async def test_a_misspelt_slide_differs_from_the_right_one() -> None:
    images = []
    for rate in (0.0, 1.0):
        emulator = Emulator(EmulatorSettings(latency=False, misspell_rate=rate))
        async with client_for(emulator) as client:
            answer = await generate(client, request_body(PROMPT, model=FLASH25), model=FLASH25)
        parts = answer.json()["candidates"][0]["content"]["parts"]
        images.append(
            base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))
        )
    assert images[0] != images[1]


def test_what_counts_as_a_correction() -> None:
    fix = (
        "the text reads 'Quartelry Results'; it must read 'Quarterly Results'; change nothing else"
    )
    assert corrects(fix, PROMPT)
    assert not corrects(fix, "a prompt that quotes nothing")  # nothing to redraw from
    assert not corrects("make the title blue", PROMPT)
    assert len({misspelt(PROMPT, rate=1.0, seed=seed) for seed in range(10)}) > 1  # per seed


async def test_a_scripted_request_is_misspelt_and_counted() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({2: "misspell"})
    async with client_for(emulator) as client:
        answers = [
            (await generate(client, request_body(PROMPT, model=FLASH25), model=FLASH25)).json()
            for _ in range(3)
        ]
    images = [a["candidates"][0]["content"]["parts"][-1]["inlineData"]["data"] for a in answers]
    assert images[0] == images[2] != images[1]
    assert emulator.stats()["by_fault"] == {"misspell": 1}


async def test_a_correction_is_spelt_right_unless_misspell_is_scripted_for_it() -> None:
    """Request 1 is misspelt; its correction (request 2) redrawn right; a correction scripted
    ``misspell`` (request 3) keeps the typo: a slide that stays wrong."""
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    emulator.script({1: "misspell", 3: "misspell"})
    fix = "the text reads 'Quartelry Results'; it must read 'Quarterly Results'"

    def image(answer: dict[str, Any]) -> str:
        parts = answer["candidates"][0]["content"]["parts"]
        return str(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))

    async with client_for(emulator) as client:
        body = request_body(PROMPT, model=FLASH25)
        wrong = (await generate(client, body, model=FLASH25)).json()
        edit = {
            **body,
            "contents": [
                body["contents"][0],
                wrong["candidates"][0]["content"],
                {"role": "user", "parts": [{"text": fix}]},
            ],
        }
        fixed, stubborn = [
            image((await generate(client, edit, model=FLASH25)).json()) for _ in range(2)
        ]
        right = image((await generate(client, body, model=FLASH25)).json())
    assert fixed == right != stubborn == image(wrong)
