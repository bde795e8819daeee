"""The checks of single values (fields.py): types, ranges, spellings, null as "not set",
unknown fields and typos, and how long values are cut in messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from config_testing import DROP, S_AT, S, check_refused, deck, load, one, refusal

from nanobanana_async.config.loading import SLIDE_FIELDS, load_config
from nanobanana_async.errors import ConfigError

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (id, top-level overrides, first-slide overrides, field, part of the problem)
    (
        "unknown top",
        {"colour": "red"},
        {},
        "colour",
        "unknown field (known: allow_insecure_http, api_key, ",
    ),
    ("typo top", {"modell": "x"}, {}, "modell", "did you mean 'model'?"),
    ("format gif", {"format": "gif"}, {}, "format", "must be one of webp, png, jpg (or jpeg)"),
    ("format number", {"format": 1}, {}, "format", "must be a string"),
    ("quality 0", {"quality": 0}, {}, "quality", "must be an integer 1-100, got 0"),
    ("quality 101", {"quality": 101}, {}, "quality", "must be an integer 1-100, got 101"),
    ("quality bool", {"quality": True}, {}, "quality", "must be an integer, got boolean"),
    ("quality text", {"quality": "90"}, {}, "quality", "must be an integer, got string"),
    ("quality fraction", {"quality": 90.5}, {}, "quality", "must be an integer 1-100"),
    ("temperature 2.5", {"temperature": 2.5}, {}, "temperature", "from 0 to 2, got 2.5"),
    ("temperature < 0", {"temperature": -0.1}, {}, "temperature", "from 0 to 2"),
    ("temperature NaN", {"temperature": float("nan")}, {}, "temperature", "finite"),
    ("temperature bool", {"temperature": False}, {}, "temperature", "got boolean"),
    ("seed int32 max", {"seed": 2**31}, {}, "seed", "from -2147483648 to 2147483647"),
    ("seed int32 min", {"seed": -(2**31) - 1}, {}, "seed", "from -2147483648"),
    ("seed beyond int64", {"seed": 2**80}, {}, "seed", "beyond 64 bits"),
    ("seed huge float", {"seed": 1.2e29}, {}, "seed", "must be an integer"),
    ("seed inf", {"seed": float("inf")}, {}, "seed", "must be an integer"),
    ("aspect_ratio", {"aspect_ratio": "7:3"}, {}, "aspect_ratio", "must be one of 1:1 2:3"),
    ("image_size", {"image_size": "3K"}, {}, "image_size", "must be one of 512 1K 2K 4K"),
    ("image_size spaced", {"image_size": "2 K"}, {}, "image_size", "got '2 K'"),
    ("concurrency 0", {"concurrency": 0}, {}, "concurrency", "integer 1-64"),
    ("concurrency 65", {"concurrency": 65}, {}, "concurrency", "integer 1-64"),
    ("rpm 0", {"rpm": 0}, {}, "rpm", "greater than 0"),
    ("rpm text", {"rpm": "fast"}, {}, "rpm", "must be a number, got string"),
    ("rpm inf", {"rpm": float("inf")}, {}, "rpm", "finite"),
    ("timeout negative", {"timeout": -5}, {}, "timeout", "greater than 0"),
    ("timeout bool", {"timeout": True}, {}, "timeout", "must be a number, got boolean"),
    ("number text", {}, {"number": "1"}, f"{S_AT}.number", "must be an integer, got string"),
    ("number bool", {}, {"number": True}, f"{S_AT}.number", "must be an integer, got boolean"),
    ("number negative", {}, {"number": -1}, f"{S_AT}.number", "integer 0-999999"),
    ("number fraction", {}, {"number": 1.5}, f"{S_AT}.number", "got 1.5"),
    ("number huge", {}, {"number": 10**6}, f"{S_AT}.number", "integer 0-999999"),
    ("prompt missing", {}, {"prompt": DROP}, f"{S}.prompt", "required"),
    ("prompt blank", {}, {"prompt": " \n\t"}, f"{S}.prompt", "must not be empty"),
    ("prompt list", {}, {"prompt": ["a"]}, f"{S}.prompt", "must be a string, got array"),
    ("prompt too long", {}, {"prompt": "x" * 30_001}, f"{S}.prompt", "30,001 characters"),
    ("style number", {}, {"style": 1}, f"{S}.style", "must be a string"),
    ("layout object", {}, {"layout": {}}, f"{S}.layout", "must be a string, got object"),
    ("lossless text", {}, {"lossless": "yes"}, f"{S}.lossless", "must be true or false"),
    ("slide format", {}, {"format": "tiff"}, f"{S}.format", "must be one of webp"),
    ("slide quality", {}, {"quality": 0}, f"{S}.quality", "integer 1-100"),
    ("slide ratio", {}, {"aspect_ratio": "16x9"}, f"{S}.aspect_ratio", "must be one of"),
    ("slide size", {}, {"image_size": "8K"}, f"{S}.image_size", "must be one of"),
    ("slide temperature", {}, {"temperature": 3}, f"{S}.temperature", "from 0 to 2"),
    ("slide seed", {}, {"seed": "42"}, f"{S}.seed", "must be an integer, got string"),
    ("slide unknown", {}, {"colour": "red"}, f"{S}.colour", "unknown field (known: aspect_"),
    ("slide typo", {}, {"promt": "x"}, f"{S}.promt", "did you mean 'prompt'?"),
    ("slide case typo", {}, {"Style": "x"}, f"{S}.Style", "did you mean 'style'?"),
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


def test_unknown_field_lists_every_known_one(base: Path) -> None:
    error = refusal(deck({"colour": "red"}), base)
    assert error.problem == f"unknown field (known: {', '.join(sorted(SLIDE_FIELDS))})"


def test_non_string_field_names_are_refused(base: Path) -> None:
    raw: dict[Any, Any] = deck()
    raw["slides"][0][1] = "x"
    assert refusal(raw, base).field == "slide 1 (slides[0])"


def test_long_values_are_cut_in_messages(base: Path) -> None:
    for raw in (
        deck(aspect_ratio="9" * 5000),
        deck({"output_filename": "../" + "a" * 5000}),
        deck(**{"k" * 5000: 1}),
    ):
        assert len(str(refusal(raw, base))) < 400


@pytest.mark.parametrize(
    ("given", "expected"),
    [("webp", "webp"), ("PNG", "png"), ("Jpg", "jpg"), ("jpeg", "jpg"), ("JPEG", "jpg")],
)
def test_format_spellings(base: Path, given: str, expected: str) -> None:
    assert one(deck(format=given), base).format == expected
    assert one(deck({"format": given}), base).format == expected


@pytest.mark.parametrize(("given", "expected"), [("1k", "1K"), ("4k", "4K"), ("512", "512")])
def test_image_size_is_upper_cased_for_the_service(base: Path, given: str, expected: str) -> None:
    assert one(deck({"image_size": given}), base).image_size == expected


@pytest.mark.parametrize("ratio", ["1:1", "21:9", "9:16", "1:8", "8:1"])
def test_every_listed_aspect_ratio_is_accepted(base: Path, ratio: str) -> None:
    assert one(deck(aspect_ratio=ratio), base).aspect_ratio == ratio


def test_integral_numbers_count_as_integers_as_in_json_schema(base: Path) -> None:
    slide = one(deck({"number": 3.0}, quality=80.0, seed=-(2**31)), base)
    assert (slide.number, slide.quality, slide.seed) == (3, 80, -(2**31))
    assert isinstance(slide.number, int)


def test_null_means_not_set(base: Path) -> None:
    nulls = dict.fromkeys(["model", "format", "quality", "api_key", "base_url", "rpm"])
    raw = deck(dict.fromkeys(["style", "layout", "output_filename", "lossless", "seed"]), **nulls)
    assert load(raw, base) == load(deck(), base)


def test_engine_settings(base: Path) -> None:
    config = load(deck(concurrency=8, rpm=20, timeout=600), base)
    assert (config.concurrency, config.rpm, config.timeout) == (8, 20.0, 600.0)
    assert load(deck(rpm=0.5), base).rpm == 0.5


@pytest.mark.parametrize(
    ("field", "value"), [("rpm", 1e-300), ("rpm", 1e9), ("timeout", 1e-300), ("timeout", 1e6)]
)
def test_engine_settings_that_would_hang_or_fail_every_request_are_refused(
    field: str, value: float, tmp_path: Path
) -> None:
    raw = {"slides": [{"number": 1, "prompt": "p"}], "output_dir": str(tmp_path), field: value}
    with pytest.raises(ConfigError, match=f"^{field}: must be"):
        load_config(raw, env={}, base_dir=tmp_path)


def test_batch_api_mode_is_read_and_refused_with_first_slide_consistency(tmp_path: Path) -> None:
    deck = {"slides": [{"number": 1, "prompt": "p"}], "output_dir": str(tmp_path / "d")}
    env = {"GEMINI_API_KEY": "k" * 39}
    assert load_config(deck | {"mode": "batch-api"}, env=env, base_dir=tmp_path).mode == "batch-api"
    assert load_config(deck, env=env, base_dir=tmp_path).mode == "standard"
    with pytest.raises(ConfigError, match=r"^mode: must be one of standard, batch-api"):
        load_config(deck | {"mode": "batch"}, env=env, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^mode: batch-api does not go with"):
        load_config(
            deck | {"mode": "batch-api", "consistency": "first-slide"}, env=env, base_dir=tmp_path
        )
