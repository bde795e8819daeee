"""Thought signatures: the emulator issues ones it can check, and holds clients to them.

A Gemini 3 image model's turn sent back needs its signatures (the first non-thought part
and every image part), each one the emulator issued for that very part and model; 2.5
flash issues none and checks none; user parts are never checked (design26, facts 3, 5, 6).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx2
import orjson
import pytest
from emulator_testing import FLASH25, FLASH31, PRO, client_for, error_of, generate, request_body

from nanobanana_async.emulator import Emulator, EmulatorSettings

_DOCS = "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures#model-behavior"


def _emulator(**settings: Any) -> Emulator:
    settings.setdefault("signature_bytes", 400)
    return Emulator(EmulatorSettings(latency=False, **settings))


async def _turn(
    client: httpx2.AsyncClient, model: str = PRO, prompt: str = "Slide 1: Plan."
) -> Any:
    """The model content of one generation, as received."""
    response = await generate(client, request_body(prompt, model=model), model=model)
    assert response.status_code == 200
    return response.json()["candidates"][0]["content"]


def _edit_body(*turns: Any, instruction: str = "Make the title bigger.") -> dict[str, Any]:
    """[user, model, (user, model, ...) user instruction]: how a chat sends an edit."""
    contents: list[Any] = []
    for turn in turns:
        contents += [{"role": "user", "parts": [{"text": "Slide 1: Plan."}]}, turn]
    contents.append({"role": "user", "parts": [{"text": instruction}]})
    return {"contents": contents, "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}


def _missing(kind: str, content: int, part: int) -> str:
    return (
        f"{kind} part is missing a thought_signature in content position {content}, "
        f"part position {part}. {_DOCS} for more details."
    )


def _unsigned(turn: Any, *positions: int) -> Any:
    turn = copy.deepcopy(turn)
    for at in positions:
        del turn["parts"][at]["thoughtSignature"]
    return turn


def _thought_first(turn: Any) -> Any:
    """``turn`` with an unsigned thought image before its parts, and its text unsigned."""
    turn = _unsigned(turn, 0)
    thought = copy.deepcopy(turn["parts"][1])
    del thought["thoughtSignature"]
    thought["thought"] = True
    turn["parts"].insert(0, thought)
    return turn


def _image_only(turn: Any) -> Any:
    turn = _unsigned(turn, 1)
    del turn["parts"][0]
    return turn


def _second_text_unsigned(turn: Any) -> Any:
    turn = copy.deepcopy(turn)
    turn["parts"].insert(1, {"text": "An aside."})
    return turn


# (what is done to the model turn [text, image], the message or None for a 200)
_TABLE = [
    ("text unsigned", lambda t: _unsigned(t, 0), _missing("Text", 2, 1)),
    ("image unsigned", lambda t: _unsigned(t, 1), _missing("Image", 2, 2)),
    ("both unsigned", lambda t: _unsigned(t, 0, 1), _missing("Text", 2, 1)),
    ("image alone, unsigned", _image_only, _missing("Image", 2, 1)),
    ("thought image first, text unsigned", _thought_first, _missing("Text", 2, 2)),
    ("a second text part unsigned", _second_text_unsigned, None),
    ("as received", lambda t: t, None),
]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in _TABLE], ids=[c[0] for c in _TABLE]
)
async def test_a_model_turn_needs_its_signatures(change: Any, expected: str | None) -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        turn = await _turn(client)
        assert [sorted(p) for p in turn["parts"]] == [
            ["text", "thoughtSignature"],
            ["inlineData", "thoughtSignature"],
        ]
        response = await generate(client, _edit_body(change(turn)))
    stats = emulator.stats()
    if expected is None:
        assert response.status_code == 200
        assert (stats["edits"], stats["signature_refusals"]) == (1, 0)
    else:
        assert response.status_code == 400
        assert error_of(response)["status"] == "INVALID_ARGUMENT"
        assert error_of(response)["message"] == expected
        assert (stats["edits"], stats["signature_refusals"]) == (0, 1)


async def test_positions_count_every_content() -> None:
    """The second model turn is the fourth content: its position says so."""
    emulator = _emulator()
    async with client_for(emulator) as client:
        good = await _turn(client)
        bad = _unsigned(await _turn(client, prompt="Slide 2: Team."), 1)
        response = await generate(client, _edit_body(good, bad))
    assert error_of(response)["message"] == _missing("Image", 4, 2)


def _forged(turn: Any) -> Any:
    turn = copy.deepcopy(turn)
    turn["parts"][1]["thoughtSignature"] = base64.b64encode(bytes(range(48)) * 4).decode()
    return turn


def _swapped(turn: Any) -> Any:
    """Each part carries the other's signature: issued by the emulator, for another part."""
    turn = copy.deepcopy(turn)
    text, image = turn["parts"]
    text["thoughtSignature"], image["thoughtSignature"] = (
        image["thoughtSignature"],
        text["thoughtSignature"],
    )
    return turn


def _image_changed(turn: Any) -> Any:
    """The image is not the one the signature was issued for."""
    turn = copy.deepcopy(turn)
    data = base64.b64decode(turn["parts"][1]["inlineData"]["data"])
    turn["parts"][1]["inlineData"]["data"] = base64.b64encode(data + b"\0").decode()
    return turn


@pytest.mark.parametrize("change", [_forged, _swapped, _image_changed])
async def test_a_signature_not_issued_for_the_part_is_corrupted(change: Any) -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        response = await generate(client, _edit_body(change(await _turn(client))))
    assert response.status_code == 400
    assert error_of(response)["message"] == "Corrupted thought signature."
    assert emulator.stats()["signature_refusals"] == 1


async def test_a_signature_issued_for_another_model_is_corrupted() -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        flash_turn = await _turn(client, model=FLASH31)
        response = await generate(client, _edit_body(flash_turn))
        accepted = await generate(client, _edit_body(flash_turn), model=FLASH31)
    assert error_of(response)["message"] == "Corrupted thought signature."
    assert accepted.status_code == 200
    assert emulator.stats()["edits"] == 1


def _url_safe(value: str) -> str:
    return value.replace("+", "-").replace("/", "_").rstrip("=")


async def test_url_safe_signatures_and_data_are_accepted() -> None:
    """The official SDK sends bytes back in the URL-safe alphabet, unpadded."""
    emulator = _emulator(signature_bytes=4000)
    async with client_for(emulator) as client:
        turn = await _turn(client)
        sent = copy.deepcopy(turn)
        for part in sent["parts"]:
            part["thoughtSignature"] = _url_safe(part["thoughtSignature"])
        sent["parts"][1]["inlineData"]["data"] = _url_safe(sent["parts"][1]["inlineData"]["data"])
        assert sent != turn
        assert any(
            "-" in p["thoughtSignature"] or "_" in p["thoughtSignature"] for p in sent["parts"]
        )
        response = await generate(client, _edit_body(sent))
    assert response.status_code == 200
    assert emulator.stats()["edits"] == 1


@pytest.mark.parametrize(
    "bypass",
    [
        "skip_thought_signature_validator",
        base64.b64encode(b"context_engineering_is_the_way_to_go").decode(),
    ],
)
async def test_the_documented_bypass_values_are_accepted(bypass: str) -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        turn = copy.deepcopy(await _turn(client))
        for part in turn["parts"]:
            part["thoughtSignature"] = bypass
        response = await generate(client, _edit_body(turn))
    assert response.status_code == 200
    assert emulator.stats()["edits"] == 1


async def test_user_parts_and_2_5_flash_are_never_checked() -> None:
    emulator = _emulator()
    async with client_for(emulator) as client:
        flash_turn = await _turn(client, model=FLASH25)
        assert all("thoughtSignature" not in p for p in flash_turn["parts"])
        flash = await generate(client, _edit_body(flash_turn), model=FLASH25)
        body = _edit_body(await _turn(client))
        body["contents"][0]["parts"][0]["thoughtSignature"] = "bm90IG91cnM="  # not ours
        pro = await generate(client, body)
    assert (flash.status_code, pro.status_code) == (200, 200)
    assert emulator.stats()["edits"] == 2


async def test_the_check_can_be_switched_off() -> None:
    """As Vertex: a turn without signatures is taken (and still edited)."""
    emulator = _emulator(check_signatures=False)
    async with client_for(emulator) as client:
        response = await generate(client, _edit_body(_unsigned(await _turn(client), 0, 1)))
    assert response.status_code == 200
    assert emulator.stats()["edits"] == 1


async def test_signatures_are_valid_across_instances_and_sizes() -> None:
    """Made by one emulator (realistic size, thought images), checked by another."""
    maker = Emulator(EmulatorSettings(latency=False, thought_images=True, seed=3))
    async with client_for(maker) as client:
        turn = await _turn(client)
    assert [p.get("thought", False) for p in turn["parts"]][-2:] == [False, False]
    assert all(
        len(p["thoughtSignature"]) > 1_000_000 for p in turn["parts"] if not p.get("thought")
    )
    checker = _emulator()
    async with client_for(checker) as client:
        response = await generate(client, orjson.loads(orjson.dumps(_edit_body(turn))))
    assert response.status_code == 200
    assert checker.stats()["edits"] == 1
