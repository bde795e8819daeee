"""A slide's edit chain, its variants and its pick: parsed into frozen data, or refused in one line.

The agreement with the JSON Schema is test_schema's; here, what each field becomes and the
line each bad value gets (the field, the problem, the fix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from config_testing import S, check_refused, deck, load, one

from nanobanana_async.config.loading import EditStep, Region

EDITS = f"{S}.edits"

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    (
        "empty instruction",
        {},
        {"edits": [""]},
        f"{EDITS}[0]",
        "must not be empty: say what to change",
    ),
    (
        "blank instruction",
        {},
        {"edits": ["ok", {"instruction": "  "}]},
        f"{EDITS}[1].instruction",
        "must not be empty",
    ),
    (
        "no instruction",
        {},
        {"edits": [{"region": [0, 0, 1, 1]}]},
        f"{EDITS}[0].instruction",
        "required: what to change",
    ),
    (
        "long instruction",
        {},
        {"edits": ["x" * 30_001]},
        f"{EDITS}[0]",
        "the limit is 30,000, shorten it",
    ),
    ("a number as a step", {}, {"edits": [3]}, f"{EDITS}[0]", 'must be "make the title bigger" or'),
    ("a string as the chain", {}, {"edits": "bigger"}, EDITS, "must be an array of steps"),
    (
        "17 steps",
        {},
        {"edits": ["x"] * 17},
        EDITS,
        "has 17 steps; the limit is 16, fold some into the prompt",
    ),
    (
        "unknown step field",
        {},
        {"edits": [{"instruction": "x", "box": [0, 0, 1, 1]}]},
        f"{EDITS}[0].box",
        "unknown field",
    ),
    (
        "region past the right edge",
        {},
        {"edits": [{"instruction": "x", "region": [0.5, 0, 0.6, 0.5]}]},
        f"{EDITS}[0].region",
        "reaches past the image's right edge (x + w = 1.1); keep x + w at most 1",
    ),
    (
        "region past the bottom",
        {},
        {"edits": [{"instruction": "x", "region": [0, 0.9, 0.5, 0.2]}]},
        f"{EDITS}[0].region",
        "past the image's bottom edge (y + h = 1.1)",
    ),
    (
        "region left of the image",
        {},
        {"edits": [{"instruction": "x", "region": [-0.1, 0, 0.5, 0.5]}]},
        f"{EDITS}[0].region",
        "x and y must be 0 or more",
    ),
    (
        "region too thin",
        {},
        {"edits": [{"instruction": "x", "region": [0, 0, 0.005, 0.5]}]},
        f"{EDITS}[0].region",
        "w and h must be at least 0.01 of the image",
    ),
    (
        "region of three",
        {},
        {"edits": [{"instruction": "x", "region": [0, 0, 0.5]}]},
        f"{EDITS}[0].region",
        "must be [x, y, w, h], fractions of the image from its top left like "
        "[0.1, 0.05, 0.5, 0.2], got 3 values",
    ),
    (
        "region as text",
        {},
        {"edits": [{"instruction": "x", "region": "0,0,1,1"}]},
        f"{EDITS}[0].region",
        "got string",
    ),
    (
        "region item a string",
        {},
        {"edits": [{"instruction": "x", "region": ["0", 0, 1, 1]}]},
        f"{EDITS}[0].region[0]",
        "must be a number",
    ),
    ("variants 0", {}, {"variants": 0}, f"{S}.variants", "must be an integer 1-4, got 0"),
    ("variants 5 on the deck", {"variants": 5}, {}, "variants", "must be an integer 1-4, got 5"),
    (
        "pick past variants",
        {},
        {"variants": 2, "pick": 3},
        f"{S}.pick",
        "is 3, but the slide has 2 candidates; pick 1 to 2, or raise variants",
    ),
    ("pick without variants", {}, {"pick": 2}, f"{S}.pick", "is 2, but the slide has 1 candidate"),
    ("pick 0", {}, {"pick": 0}, f"{S}.pick", "must be an integer 1-4"),
    (
        "seed past int32 with variants",
        {},
        {"seed": 2**31 - 2, "variants": 3},
        f"{S}.seed",
        "passes the 32-bit limit 2,147,483,647; lower it",
    ),
    (
        "edits on a text model",
        {"model": "gemini-2.5-flash"},
        {"edits": ["x"]},
        EDITS,
        "model 'gemini-2.5-flash' cannot edit images; use one of gemini-2.5-flash-image, "
        "gemini-3-pro-image, gemini-3.1-flash-image, gemini-3.1-flash-lite-image, "
        "or drop the edits",
    ),
    (
        "edits on imagen",
        {"model": "imagen-4.0-generate-001"},
        {"edits": ["x"]},
        EDITS,
        "cannot edit images",
    ),
]


@pytest.mark.parametrize(
    ("top", "slide", "where", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_field_and_reason(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    check_refused(base, top, slide, where, problem)


def test_steps_become_frozen_edit_steps(base: Path) -> None:
    slide = one(
        deck(
            {
                "edits": [
                    "make the title bigger",
                    {"instruction": "the chart in blue", "region": [0.1, 0.05, 0.5, 0.2]},
                    {"instruction": "no region", "region": None},
                    {"instruction": "to the corner", "region": [0.7, 0.6, 0.3, 0.4]},
                ]
            }
        ),
        base,
    )
    assert slide.edits == (
        EditStep("make the title bigger"),
        EditStep("the chart in blue", Region(0.1, 0.05, 0.5, 0.2)),
        EditStep("no region"),
        EditStep("to the corner", Region(0.7, 0.6, 0.3, 0.4)),  # 0.7 + 0.3 is a hair past 1
    )
    region = slide.edits[1].region
    assert region is not None
    assert region.w == 0.5
    with pytest.raises(AttributeError):
        slide.edits[0].instruction = "other"  # type: ignore[misc]


def test_defaults_and_inheritance(base: Path) -> None:
    config = load(
        {
            "slides": [
                {"number": 1, "prompt": "a"},
                {"number": 2, "prompt": "b", "variants": 1},
                {"number": 3, "prompt": "c", "variants": 4, "pick": 4},
            ],
            "output_dir": "deck",
            "variants": 3,
        },
        base,
    )
    assert [(s.variants, s.pick, s.edits) for s in config.slides] == [
        (3, 1, ()),
        (1, 1, ()),
        (4, 4, ()),
    ]
    plain = one(deck(), base)
    assert (plain.variants, plain.pick, plain.edits) == (1, 1, ())
    assert one(deck({"edits": None, "variants": None, "pick": None}), base).variants == 1


def test_edits_on_a_model_that_edits_say_nothing(base: Path) -> None:
    for model in ("gemini-3-pro-image", "gemini-2.5-flash-image"):
        config = load(deck({"edits": ["x"]}, model=model), base)
        assert not any("edit" in notice for notice in config.notices)


def test_edits_on_an_unknown_model_get_a_notice_not_a_refusal(base: Path) -> None:
    raw = deck({"edits": ["x"]}, model="house-model", base_url="http://127.0.0.1:9")
    notices = [n for n in load(raw, base).notices if "edit" in n]
    assert notices == [
        "model: 'house-model' is not known to edit images; the edits of slide 1 are sent as written"
    ]
    # No edits, nothing to say.
    plain = deck(model="house-model", base_url="http://127.0.0.1:9")
    assert not any("edit" in n for n in load(plain, base).notices)
    # A text model without edits is not this check's business.
    load(deck(model="gemini-2.5-flash"), base)
