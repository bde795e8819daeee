"""The body of one edit step, golden: the exact JSON each kind of step sends.

A continuing step sends the user turn that made the previous image, the model's turn as it
came (signatures on), then the instruction; a fresh one sends the image and the instruction
in one turn. A region adds its sentence and the marked copy.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from emulator_testing import Wire

from nanobanana_async.service import protocol
from nanobanana_async.service.edit_body import (
    EditStep,
    Region,
    edit_body,
    edit_text,
    images_in,
)

CONFIG = {
    "responseModalities": ["TEXT", "IMAGE"],
    "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
    "seed": 7,
}
SLIDE_PARTS = [{"text": "A title slide"}]
MODEL_TURN: dict[str, Any] = {
    "role": "model",
    "parts": [
        {"text": "Here it is.", "thoughtSignature": "c2lnLTE="},
        {"inlineData": {"mimeType": "image/jpeg", "data": "SU1BR0U="}, "thoughtSignature": "c2ln"},
    ],
}
IMAGE = b"IMAGE"  # base64 SU1BR0U=
MARKED = b"MARKED"  # base64 TUFSS0VE
BOX = Region(0.1, 0.05, 0.5, 0.2)
REGION_TEXT = (
    "Change only what is inside the magenta rectangle on the attached copy "
    "(x 10-60 %, y 5-25 %). Make the chart blue. Nothing outside it changes; "
    "do not draw the rectangle."
)


def test_a_step_continues_the_last_exchange() -> None:
    body = edit_body(
        generation_config=CONFIG,
        user_parts=SLIDE_PARTS,
        model_turn=MODEL_TURN,
        image=IMAGE,
        mime_type="image/jpeg",
        step=EditStep("Make the title bigger"),
        marked=None,
    )
    assert orjson.loads(orjson.dumps(body)) == {
        "contents": [
            {"role": "user", "parts": [{"text": "A title slide"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Here it is.", "thoughtSignature": "c2lnLTE="},
                    {
                        "inlineData": {"mimeType": "image/jpeg", "data": "SU1BR0U="},
                        "thoughtSignature": "c2ln",
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"text": "Make the title bigger. Keep everything else exactly as it is."}
                ],
            },
        ],
        "generationConfig": CONFIG,
    }


def test_a_region_step_continues_with_its_sentence_and_the_marked_copy() -> None:
    body = edit_body(
        generation_config=CONFIG,
        user_parts=SLIDE_PARTS,
        model_turn=MODEL_TURN,
        image=IMAGE,
        mime_type="image/jpeg",
        step=EditStep("Make the chart blue", BOX),
        marked=MARKED,
    )
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"text": REGION_TEXT},
            {"inlineData": {"mimeType": "image/jpeg", "data": "TUFSS0VE"}},
        ],
    }
    assert body["contents"][:2] == [{"role": "user", "parts": SLIDE_PARTS}, MODEL_TURN]


def test_a_fresh_edit_is_one_user_turn() -> None:
    body = edit_body(
        generation_config=CONFIG,
        user_parts=None,
        model_turn=None,
        image=IMAGE,
        mime_type="image/png",
        step=EditStep("Make the chart blue.", BOX),
        marked=MARKED,
    )
    assert orjson.loads(orjson.dumps(body)) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": "SU1BR0U="}},
                    {"text": REGION_TEXT},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "TUFSS0VE"}},
                ],
            }
        ],
        "generationConfig": CONFIG,
    }
    plain = edit_body(
        generation_config=CONFIG,
        user_parts=None,
        model_turn=None,
        image=IMAGE,
        mime_type="image/png",
        step=EditStep("Bigger title!"),
        marked=None,
    )
    assert plain["contents"][0]["parts"][1] == {
        "text": "Bigger title! Keep everything else exactly as it is."
    }


def test_a_received_turn_goes_back_verbatim() -> None:
    """The turn parse_success kept, signatures and all, is what the next step sends."""
    answer = Wire("gemini-3-pro-image--thoughts-then-image").response()["body"]
    received = orjson.loads(orjson.dumps(answer["candidates"][0]["content"]))
    image = protocol.parse_success(answer)
    assert image.turn is not None
    body = edit_body(
        generation_config=CONFIG,
        user_parts=SLIDE_PARTS,
        model_turn=image.turn,
        image=image.data,
        mime_type=image.mime_type,
        step=EditStep("x"),
        marked=None,
    )
    assert orjson.loads(orjson.dumps(body["contents"][1])) == received
    signatures = [
        p["thoughtSignature"] for p in body["contents"][1]["parts"] if "thoughtSignature" in p
    ]
    assert signatures
    # The image is in the model's turn already: it is not sent a second time.
    sent = orjson.dumps(body)
    assert sent.count(base64.b64encode(image.data)) == 1


@pytest.mark.parametrize(
    ("step", "marked", "user_parts"),
    [
        (EditStep("x", BOX), None, SLIDE_PARTS),
        (EditStep("x"), MARKED, SLIDE_PARTS),
        (EditStep("x"), None, None),
    ],
)
def test_inconsistent_steps_are_refused(
    step: EditStep, marked: bytes | None, user_parts: list[dict[str, Any]] | None
) -> None:
    with pytest.raises(ValueError, match=r"marked copy|user turn"):
        edit_body(
            generation_config=CONFIG,
            user_parts=user_parts,
            model_turn=MODEL_TURN,
            image=IMAGE,
            mime_type="image/jpeg",
            step=step,
            marked=marked,
        )


@pytest.mark.parametrize(
    ("region", "span"),
    [
        (Region(0, 0, 1, 1), "(x 0-100 %, y 0-100 %)"),
        (Region(0.333, 0.5, 0.334, 0.01), "(x 33-67 %, y 50-51 %)"),
    ],
)
def test_the_box_is_said_in_whole_percent(region: Region, span: str) -> None:
    assert span in edit_text(EditStep("x", region))


def test_the_images_an_edit_sends_are_counted_thoughts_included() -> None:
    answer = Wire("gemini-3-pro-image--thoughts-then-image").response()["body"]
    turn = protocol.parse_success(answer).turn
    assert turn is not None
    thoughts = sum(1 for p in turn["parts"] if "inlineData" in p and p.get("thought"))
    assert thoughts == 2
    region = edit_body(
        generation_config=CONFIG,
        user_parts=SLIDE_PARTS,
        model_turn=turn,
        image=IMAGE,
        mime_type="image/jpeg",
        step=EditStep("x", BOX),
        marked=MARKED,
    )
    assert images_in(region["contents"]) == 2 + 1 + 1  # thoughts, the image, the marked copy
    fresh = edit_body(
        generation_config=CONFIG,
        user_parts=None,
        model_turn=None,
        image=IMAGE,
        mime_type="image/jpeg",
        step=EditStep("x"),
        marked=None,
    )
    assert images_in(fresh["contents"]) == 1
