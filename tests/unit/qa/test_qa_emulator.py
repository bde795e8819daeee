"""The emulator's slides read back by the real OCR: quoted text found, a misspelling
flagged with the closest text, and a correction edit answered spelt right."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from emulator_testing import FLASH25, client_for, generate, request_body

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.misspelling import misspelt
from nanobanana_async.qa import correction_instruction, expected_text, match_text, read_text

pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed")

PROMPTS = [
    'Title slide. Heading "Quarterly Results", subtitle "Revenue up 24% year over year".',
    'Agenda slide: "Agenda" then "Market review and product roadmap".',
    "A team slide, heading “Our Engineering Team”, line “Twelve people in three cities”.",
    "Closing slide with «Thank You» and «Questions are welcome».",
    'Roadmap slide: "Roadmap 2027" and "Launch the mobile app in spring".',
    'Hiring slide: "Hiring Plan" and "Two designers before March".',
]
SEED = 11
RATE = 0.5
# Read back by the OCR (about 1.3 s a read, two for a misspelt slide): two misspelt at this
# seed and rate (straight quotes, guillemets), one not; the other quote marks are
# expected_text's table's.
READ = [PROMPTS[0], PROMPTS[3], PROMPTS[5]]


def image_of(answer: dict[str, Any]) -> bytes:
    parts = answer["candidates"][0]["content"]["parts"]
    return base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))


async def test_quoted_text_reads_back_and_misspellings_are_flagged_then_corrected() -> None:
    emulator = Emulator(EmulatorSettings(latency=False, misspell_rate=RATE, seed=SEED))
    wrong = [p for p in READ if misspelt(p, rate=RATE, seed=SEED) is not None]
    assert 0 < len(wrong) < len(READ)  # both kinds are tried
    async with client_for(emulator) as client:
        for prompt in READ:
            body = request_body(prompt, model=FLASH25)
            answer = (await generate(client, body, model=FLASH25)).json()
            image = image_of(answer)
            check = match_text(expected_text(prompt), read_text(image))
            drawn = misspelt(prompt, rate=RATE, seed=SEED)
            if drawn is None:
                assert check.state == "ok", (prompt, read_text(image).text)
                continue
            assert check.state == "missing", prompt
            typo = next(d for d, e in zip(drawn, expected_text(prompt), strict=True) if d != e)
            assert [(m.closest, m.similarity < 0.97) for m in check.missing] == [(typo, True)]
            instruction = correction_instruction(check)
            assert f"it must read '{check.missing[0].expected}'" in instruction
            edit = {
                "contents": [
                    body["contents"][0],
                    {"role": "model", "parts": answer["candidates"][0]["content"]["parts"]},
                    {"role": "user", "parts": [{"text": instruction}]},
                ],
                "generationConfig": body["generationConfig"],
            }
            fixed = read_text(image_of((await generate(client, edit, model=FLASH25)).json()))
            assert match_text(expected_text(prompt), fixed).state == "ok"
            assert match_text([typo], fixed).state == "missing"  # redrawn, not stamped


def test_the_misspelling_is_a_fixed_function_of_seed_and_prompt() -> None:
    prompt = PROMPTS[0]
    rates = [misspelt(prompt, rate=r / 10, seed=SEED) is not None for r in range(11)]
    assert rates == sorted(rates)  # a slide misspelt at one rate is misspelt at every higher
    assert misspelt(prompt, rate=1.0, seed=SEED) == misspelt(prompt, rate=1.0, seed=SEED)
    assert misspelt(prompt, rate=0.0, seed=SEED) is None
    assert misspelt("No quotes here", rate=1.0, seed=SEED) is None
    drawn = misspelt(prompt, rate=1.0, seed=SEED)
    assert drawn is not None
    assert drawn != expected_text(prompt)
    assert sorted("".join(drawn)) == sorted("".join(expected_text(prompt)))  # letters swapped
