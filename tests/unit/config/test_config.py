"""The config: each rule and the field its message names, fallbacks, secrets, files.

Every test passes ``env=`` and ``base_dir=`` explicitly: nothing here reads or changes the
real environment or working directory.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from nanobanana_async.config.loading import (
    MAX_CONFIG_BYTES,
    SLIDE_FIELDS,
    BatchConfig,
    SlideSpec,
    load_config,
)
from nanobanana_async.errors import ConfigError
from nanobanana_async.service.model_ids import DEFAULT_MODEL

KEY = "AIzaSyD-test-key-not-real-0123456789abc"
DROP = object()
"""An override value meaning "leave this field out"."""


def deck(slide: Mapping[str, Any] | None = None, /, **top: Any) -> dict[str, Any]:
    """A minimal valid config, with top-level and first-slide overrides applied."""
    first: dict[str, Any] = {"number": 1, "prompt": "A title slide"}
    for name, value in (slide or {}).items():
        first.pop(name) if value is DROP else first.__setitem__(name, value)
    raw: dict[str, Any] = {"slides": [first], "output_dir": "deck"}
    for name, value in top.items():
        raw.pop(name) if value is DROP else raw.__setitem__(name, value)
    return raw


def load(raw: Any, base: Path, env: Mapping[str, str] | None = None) -> BatchConfig:
    return load_config(raw, env=env or {}, base_dir=base)


def refusal(raw: Any, base: Path, env: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(raw, base, env)
    return info.value


def one(raw: dict[str, Any], base: Path, env: Mapping[str, str] | None = None) -> SlideSpec:
    return load(raw, base, env).slides[0]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared, empty base directory for tests that only read the file system."""
    return tmp_path_factory.mktemp("base")


# --- what is refused, and the field each message names --------------------------------

S = "slides[0]"
REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (id, top-level overrides, first-slide overrides, field, part of the problem)
    ("no slides", {"slides": DROP}, {}, "slides", "required"),
    ("slides null", {"slides": None}, {}, "slides", "required"),
    ("slides object", {"slides": {"number": 1}}, {}, "slides", "must be an array, got object"),
    ("slides empty", {"slides": []}, {}, "slides", "must not be empty"),
    ("slide a string", {"slides": ["a prompt"]}, {}, S, "must be an object"),
    ("no output_dir", {"output_dir": DROP}, {}, "output_dir", "required"),
    ("output_dir blank", {"output_dir": "  "}, {}, "output_dir", "must not be empty"),
    ("output_dir number", {"output_dir": 3}, {}, "output_dir", "must be a string, got integer"),
    ("output_dir NUL", {"output_dir": "a\x00b"}, {}, "output_dir", "NUL"),
    ("output_dir ${VAR}", {"output_dir": "${HOME}/deck"}, {}, "output_dir", "not expanded"),
    ("unknown top", {"colour": "red"}, {}, "colour", "unknown field (known: api_key, "),
    ("typo top", {"modle": "x"}, {}, "modle", "did you mean 'model'?"),
    ("model shape", {"model": "../v1/x"}, {}, "model", "must be a model id like"),
    ("model query", {"model": "gemini?alt=x"}, {}, "model", "must be a model id"),
    ("model number", {"model": 3}, {}, "model", "must be a string, got integer"),
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
    ("api_key number", {"api_key": 12}, {}, "api_key", "must be a string"),
    ("api_key blank", {"api_key": " "}, {}, "api_key", "is empty"),
    ("api_key spaced", {"api_key": "AIza abc"}, {}, "api_key", "spaces"),
    ("base_url ftp", {"base_url": "ftp://host"}, {}, "base_url", "http(s) URL with a host"),
    ("base_url no host", {"base_url": "https://"}, {}, "base_url", "with a host"),
    ("base_url bare", {"base_url": "localhost:8080"}, {}, "base_url", "with a host"),
    ("base_url port", {"base_url": "http://h:99999"}, {}, "base_url", "with a host"),
    ("base_url query", {"base_url": "https://h/?key=1"}, {}, "base_url", "without ?query"),
    ("number missing", {}, {"number": DROP}, f"{S}.number", "required"),
    ("number text", {}, {"number": "1"}, f"{S}.number", "must be an integer, got string"),
    ("number bool", {}, {"number": True}, f"{S}.number", "must be an integer, got boolean"),
    ("number negative", {}, {"number": -1}, f"{S}.number", "integer 0-999999"),
    ("number fraction", {}, {"number": 1.5}, f"{S}.number", "got 1.5"),
    ("number huge", {}, {"number": 10**6}, f"{S}.number", "integer 0-999999"),
    ("prompt missing", {}, {"prompt": DROP}, f"{S}.prompt", "required"),
    ("prompt blank", {}, {"prompt": " \n\t"}, f"{S}.prompt", "must not be empty"),
    ("prompt list", {}, {"prompt": ["a"]}, f"{S}.prompt", "must be a string, got array"),
    ("prompt too long", {}, {"prompt": "x" * 30_001}, f"{S}.prompt", "30,001 characters"),
    ("style number", {}, {"style": 1}, f"{S}.style", "must be a string"),
    ("layout object", {}, {"layout": {}}, f"{S}.layout", "must be a string, got object"),
    ("lossless text", {}, {"lossless": "yes"}, f"{S}.lossless", "must be true or false"),
    ("lossless jpg", {}, {"lossless": True, "format": "jpg"}, f"{S}.lossless", "jpg has no"),
    ("slide format", {}, {"format": "tiff"}, f"{S}.format", "must be one of webp"),
    ("slide quality", {}, {"quality": 0}, f"{S}.quality", "integer 1-100"),
    ("slide ratio", {}, {"aspect_ratio": "16x9"}, f"{S}.aspect_ratio", "must be one of"),
    ("slide size", {}, {"image_size": "8K"}, f"{S}.image_size", "must be one of"),
    ("slide temperature", {}, {"temperature": 3}, f"{S}.temperature", "from 0 to 2"),
    ("slide seed", {}, {"seed": "42"}, f"{S}.seed", "must be an integer, got string"),
    ("slide unknown", {}, {"colour": "red"}, f"{S}.colour", "unknown field (known: aspect_"),
    ("slide typo", {}, {"promt": "x"}, f"{S}.promt", "did you mean 'prompt'?"),
    ("slide case typo", {}, {"Style": "x"}, f"{S}.Style", "did you mean 'style'?"),
    ("reference number", {}, {"reference_image": 1}, f"{S}.reference_image", "string"),
    ("reference blank", {}, {"reference_image": ""}, f"{S}.reference_image", "path of an image"),
    ("reference ext", {}, {"reference_image": "a.gif"}, f"{S}.reference_image", ".png, .jpg"),
    ("reference gone", {}, {"reference_image": "no.png"}, f"{S}.reference_image", "not found"),
]


@pytest.mark.parametrize(
    ("top", "slide", "where", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_field_and_reason(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    error = refusal(deck(slide, **top), base)
    assert error.field == where
    assert problem in error.problem
    assert str(error) == f"{where}: {error.problem}"
    assert "\n" not in str(error)


def test_the_spec_examples_word_for_word(tmp_path: Path) -> None:
    raw = deck({"number": "1"})
    assert str(refusal(raw, tmp_path)) == "slides[0].number: must be an integer, got string"
    raw = deck()
    raw["slides"] += [{"number": 2, "prompt": "b"}, {"number": 3, "prompt": "c", "colour": 1}]
    assert str(refusal(raw, tmp_path)).startswith("slides[2].colour: unknown field (known: ")
    message = str(refusal(deck(), tmp_path, {"NANO_BANANA_QUALITY": "abc"}))
    assert message == "NANO_BANANA_QUALITY: must be an integer 1-100, got 'abc'"
    (tmp_path / "x").write_text("")
    assert str(refusal(deck(output_dir="x"), tmp_path)) == (
        f"output_dir: {tmp_path / 'x'} is a file, not a directory"
    )


def test_unknown_field_lists_every_known_one(base: Path) -> None:
    error = refusal(deck({"colour": "red"}), base)
    assert error.problem == f"unknown field (known: {', '.join(sorted(SLIDE_FIELDS))})"


def test_first_problem_stops_loading(base: Path) -> None:
    raw = deck({"prompt": ""}, quality=0)
    raw["slides"].append({"number": 2, "prompt": ""})
    assert refusal(raw, base).field == "quality"


def test_long_values_are_cut_in_messages(base: Path) -> None:
    for raw in (
        deck(aspect_ratio="9" * 5000),
        deck({"output_filename": "../" + "a" * 5000}),
        deck(**{"k" * 5000: 1}),
    ):
        assert len(str(refusal(raw, base))) < 400


# --- defaults, overrides and normalisation --------------------------------------------


def test_defaults(base: Path) -> None:
    config = load(deck(), base)
    assert config.output_dir == base / "deck"
    assert config.model == DEFAULT_MODEL
    assert config.api_key is None
    assert config.base_url == "https://generativelanguage.googleapis.com"
    assert (config.concurrency, config.rpm, config.timeout) == (None, None, 300.0)
    assert config.slides == (
        SlideSpec(
            number=1,
            prompt="A title slide",
            full_prompt="A title slide",
            style=None,
            layout=None,
            output_filename="slide-01.webp",
            format="webp",
            quality=90,
            lossless=False,
            aspect_ratio="16:9",
            image_size="2K",
            temperature=None,
            seed=None,
            reference_image=None,
        ),
    )


def test_top_level_values_reach_every_slide_and_slides_override_them(base: Path) -> None:
    top = {
        "format": "png",
        "quality": 70,
        "aspect_ratio": "4:3",
        "image_size": "4K",
        "temperature": 1,
        "seed": 7,
    }
    own = {
        "number": 2,
        "prompt": "b",
        "format": "jpg",
        "quality": 50,
        "aspect_ratio": "1:1",
        "image_size": "1K",
        "temperature": 0.2,
        "seed": -3,
    }
    raw = deck(**top)
    raw["slides"].append(own)
    inherited, overridden = load(raw, base).slides
    assert (inherited.format, inherited.quality, inherited.aspect_ratio) == ("png", 70, "4:3")
    assert (inherited.image_size, inherited.temperature, inherited.seed) == ("4K", 1.0, 7)
    assert isinstance(inherited.temperature, float)
    assert inherited.output_filename == "slide-01.png"
    assert (overridden.format, overridden.quality, overridden.aspect_ratio) == ("jpg", 50, "1:1")
    assert (overridden.image_size, overridden.temperature, overridden.seed) == ("1K", 0.2, -3)
    assert overridden.output_filename == "slide-02.jpg"


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


def test_model_keeps_retired_ids_and_drops_the_rest_prefix(base: Path) -> None:
    # The engine names the replacement when the service answers 404; a proxy may still
    # serve the old id, so it is not refused here.
    assert load(deck(model="gemini-3-pro-image-preview"), base).model == (
        "gemini-3-pro-image-preview"
    )
    assert load(deck(model="models/gemini-2.5-flash-image"), base).model == (
        "gemini-2.5-flash-image"
    )


# --- styles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "start", "end"),
    [
        ("professional", "Professional presentation slide: Q3 sales.", "clear typography."),
        ("data-viz", "Data visualization slide: Q3 sales.", "professional color scheme."),
        ("infographic", "Infographic style: Q3 sales.", "icons and illustrations."),
        ("Professional", "Professional presentation slide: Q3 sales.", "clear typography."),
    ],
)
def test_presets_wrap_the_prompt(base: Path, style: str, start: str, end: str) -> None:
    slide = one(deck({"prompt": " Q3 sales ", "style": style}), base)
    assert slide.full_prompt.startswith(start)
    assert slide.full_prompt.endswith(end)
    assert slide.prompt == " Q3 sales "
    assert slide.style == style.lower()


def test_trendlife_wraps_with_the_brand_colours(base: Path) -> None:
    full = one(deck({"prompt": "Roadmap", "style": "trendlife"}), base).full_prompt
    assert "Roadmap" in full
    for colour in ("#D71920", "#6F0000", "#57585B", "#808285", "#E7E6E6"):
        assert colour in full
    assert "logo" in full.lower()


def test_any_other_style_leaves_the_prompt_alone(base: Path) -> None:
    slide = one(deck({"prompt": "A {braced} prompt", "style": "watercolour"}), base)
    assert (slide.full_prompt, slide.style) == ("A {braced} prompt", "watercolour")


@pytest.mark.parametrize(
    ("slide", "top", "lossless"),
    [
        ({"style": "professional"}, {}, True),
        ({"style": "trendlife"}, {}, True),
        ({"style": "data-viz", "lossless": False}, {}, False),
        ({"style": "infographic"}, {"format": "png"}, False),
        ({"style": "infographic", "output_filename": "x.jpg"}, {}, False),
        ({"style": "watercolour"}, {}, False),
        ({}, {}, False),
        ({"lossless": True}, {}, True),
        ({"lossless": True, "format": "png"}, {}, True),
    ],
)
def test_lossless(base: Path, slide: dict[str, Any], top: dict[str, Any], lossless: bool) -> None:
    assert one(deck(slide, **top), base).lossless is lossless


# --- output names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "fmt", "name"),
    [
        (0, "webp", "slide-00.webp"),
        (3, "png", "slide-03.png"),
        (42, "jpg", "slide-42.jpg"),
        (100, "webp", "slide-100.webp"),
        (999_999, "webp", "slide-999999.webp"),
    ],
)
def test_default_names(base: Path, number: int, fmt: str, name: str) -> None:
    assert one(deck({"number": number}, format=fmt), base).output_filename == name


@pytest.mark.parametrize(
    ("given", "top_format", "name", "fmt"),
    [
        ("intro", "webp", "intro.webp", "webp"),
        ("intro", "png", "intro.png", "png"),
        ("Intro.PNG", "webp", "Intro.PNG", "png"),
        ("cover.jpeg", "webp", "cover.jpeg", "jpg"),
        ("slide-1.webp", "jpg", "slide-1.webp", "webp"),
        ("slide 1 (final).webp", "webp", "slide 1 (final).webp", "webp"),
        ("日本語.png", "webp", "日本語.png", "png"),
        ("a..b.png", "webp", "a..b.png", "png"),
    ],
)
def test_given_names_and_the_format_they_imply(
    base: Path, given: str, top_format: str, name: str, fmt: str
) -> None:
    slide = one(deck({"output_filename": given}, format=top_format), base)
    assert (slide.output_filename, slide.format) == (name, fmt)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../evil.webp", "not a plain file name"),
        ("..", "not a plain file name"),
        (".", "not a plain file name"),
        ("/etc/passwd.png", "not a plain file name"),
        ("sub/slide.png", "not a plain file name"),
        ("sub\\slide.png", "not a plain file name"),
        ("..\\..\\evil.png", "not a plain file name"),
        ("C:evil.png", "':'"),
        ("slide.png:stream", "':'"),
        ("", "must not be empty"),
        (".hidden.webp", "must not start with '.'"),
        (".nanobanana-tmp", "must not start with '.'"),
        ("nul\x00.png", "control characters"),
        ("line\nbreak.png", "control characters"),
        ("slide.png.", "end with '.'"),
        ("slide.png ", "end with a space"),
        (" slide.png", "start or end with a space"),
        ("slide.gif", "extension '.gif' is not an image's"),
        ("deck.v2", "extension '.v2'"),
        ("x" * 197 + ".png", "201 bytes"),
        ("é" * 99 + ".png", "202 bytes"),
        ("x" * 196, "201 bytes"),  # with ".webp" appended
    ],
)
def test_names_that_could_escape_or_surprise_are_refused(
    base: Path, name: str, problem: str
) -> None:
    error = refusal(deck({"output_filename": name}), base)
    assert error.field == "slides[0].output_filename"
    assert problem in error.problem


def test_name_extension_contradicting_the_slides_own_format_is_refused(base: Path) -> None:
    error = refusal(deck({"output_filename": "a.png", "format": "webp"}), base)
    assert error.field == "slides[0].output_filename"
    assert "contradicts" in error.problem


def two_slides(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    return {"slides": [first, second], "output_dir": "deck"}


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        ({"number": 2, "output_filename": "SLIDE-01.WEBP"}, "is also the file of slides[0]"),
        ({"number": 2, "output_filename": "slide-01"}, "(slide 1)"),
        ({"number": 2, "output_filename": "Slide-01.webp"}, "own output_filename"),
    ],
)
def test_two_slides_writing_one_file_are_refused(
    base: Path, second: dict[str, Any], problem: str
) -> None:
    error = refusal(two_slides({"number": 1, "prompt": "a"}, {"prompt": "b", **second}), base)
    assert error.field == "slides[1].output_filename"
    assert problem in error.problem


def test_names_equal_after_unicode_normalisation_collide(base: Path) -> None:
    composed, decomposed = (unicodedata.normalize(f, "café.png") for f in ("NFC", "NFD"))
    assert composed != decomposed
    raw = two_slides(
        {"number": 1, "prompt": "a", "output_filename": composed},
        {"number": 2, "prompt": "b", "output_filename": decomposed},
    )
    assert refusal(raw, base).field == "slides[1].output_filename"


def test_same_stem_different_format_is_two_files(base: Path) -> None:
    raw = two_slides({"number": 1, "prompt": "a"}, {"number": 2, "prompt": "b", "format": "png"})
    raw["slides"][1]["output_filename"] = "slide-01"
    names = [s.output_filename for s in load(raw, base).slides]
    assert names == ["slide-01.webp", "slide-01.png"]


def test_duplicate_numbers_name_both_slides(base: Path) -> None:
    raw = two_slides({"number": 4, "prompt": "a"}, {"number": 4, "prompt": "b"})
    assert str(refusal(raw, base)) == (
        "slides[1].number: 4 is also the number of slides[0]; slide numbers must be unique"
    )


def test_slides_keep_config_order(base: Path) -> None:
    raw = two_slides({"number": 9, "prompt": "a"}, {"number": 2, "prompt": "b"})
    assert [s.number for s in load(raw, base).slides] == [9, 2]


# --- paths ----------------------------------------------------------------------------


def test_output_dir_relative_absolute_and_home(base: Path) -> None:
    assert load(deck(output_dir="a/../b"), base).output_dir == base / "b"
    elsewhere = base / "elsewhere"
    assert load(deck(output_dir=str(elsewhere)), Path("/")).output_dir == elsewhere
    assert load(deck(output_dir="~/deck"), base).output_dir == Path.home().resolve() / "deck"
    assert not (base / "b").exists()  # created by the engine, not here


def test_output_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    error = refusal(deck(output_dir="file/deck"), tmp_path)
    assert error.field == "output_dir"
    assert f"{tmp_path / 'file'} is a file" in error.problem


def test_relative_base_dir_is_made_absolute(base: Path) -> None:
    config = load_config(deck(), env={}, base_dir=Path("."))
    assert config.output_dir == Path.cwd().resolve() / "deck"


def test_reference_image(tmp_path: Path) -> None:
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "logo.PNG").write_bytes(b"\x89PNG")
    slide = one(deck({"reference_image": "refs/logo.PNG"}), tmp_path)
    assert slide.reference_image == tmp_path / "refs" / "logo.PNG"
    assert slide.reference_image.is_absolute()
    (tmp_path / "dir.png").mkdir()
    error = refusal(deck({"reference_image": "dir.png"}), tmp_path)
    assert (error.field, error.problem) == (
        "slides[0].reference_image",
        f"{tmp_path / 'dir.png'} is not a file",
    )


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_unreadable_reference_image(tmp_path: Path) -> None:
    image = tmp_path / "ref.png"
    image.write_bytes(b"")
    image.chmod(0)
    error = refusal(deck({"reference_image": str(image)}), tmp_path)
    assert error.field == "slides[0].reference_image"
    assert "cannot read" in error.problem


# --- environment fallbacks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "env", "model"),
    [
        ({}, {}, DEFAULT_MODEL),
        ({}, {"NANO_BANANA_MODEL": "gemini-3.1-flash-image"}, "gemini-3.1-flash-image"),
        ({}, {"NANO_BANANA_MODEL": "  "}, DEFAULT_MODEL),
        ({"model": "gemini-2.5-flash-image"}, {"NANO_BANANA_MODEL": "x"}, "gemini-2.5-flash-image"),
    ],
)
def test_model_fallbacks(base: Path, top: dict[str, Any], env: dict[str, str], model: str) -> None:
    assert load(deck(**top), base, env).model == model


@pytest.mark.parametrize(
    ("top", "env", "fmt", "quality"),
    [
        ({}, {}, "webp", 90),
        ({}, {"NANO_BANANA_FORMAT": "PNG", "NANO_BANANA_QUALITY": " 75 "}, "png", 75),
        ({}, {"NANO_BANANA_FORMAT": "", "NANO_BANANA_QUALITY": ""}, "webp", 90),
        ({"format": "jpg", "quality": 60}, {"NANO_BANANA_FORMAT": "png"}, "jpg", 60),
        ({"format": "jpg", "quality": 60}, {"NANO_BANANA_QUALITY": "75"}, "jpg", 60),
    ],
)
def test_format_and_quality_fallbacks(
    base: Path, top: dict[str, Any], env: dict[str, str], fmt: str, quality: int
) -> None:
    slide = one(deck(**top), base, env)
    assert (slide.format, slide.quality) == (fmt, quality)


@pytest.mark.parametrize(
    ("env", "where", "problem"),
    [
        ({"NANO_BANANA_MODEL": "a/b"}, "NANO_BANANA_MODEL", "must be a model id"),
        ({"NANO_BANANA_FORMAT": "gif"}, "NANO_BANANA_FORMAT", "got 'gif'"),
        ({"NANO_BANANA_QUALITY": "0"}, "NANO_BANANA_QUALITY", "1-100, got '0'"),
        ({"NANO_BANANA_QUALITY": "9.5"}, "NANO_BANANA_QUALITY", "1-100, got '9.5'"),
        ({"GEMINI_API_KEY": "AIza\x00x"}, "GEMINI_API_KEY", "control"),
        ({"GOOGLE_API_KEY": "AIza x"}, "GOOGLE_API_KEY", "spaces"),
        ({"GOOGLE_GEMINI_BASE_URL": "gopher://h"}, "GOOGLE_GEMINI_BASE_URL", "http(s) URL"),
    ],
)
def test_bad_environment_values_name_the_variable(
    base: Path, env: dict[str, str], where: str, problem: str
) -> None:
    error = refusal(deck(), base, env)
    assert error.field == where
    assert problem in error.problem


@pytest.mark.parametrize(
    ("top", "env", "key"),
    [
        ({}, {}, None),
        ({}, {"GEMINI_API_KEY": KEY, "GOOGLE_API_KEY": "other"}, KEY),
        ({}, {"GEMINI_API_KEY": "", "GOOGLE_API_KEY": KEY}, KEY),
        ({}, {"GOOGLE_API_KEY": f" {KEY}\n"}, KEY),
        ({"api_key": KEY}, {"GEMINI_API_KEY": "other"}, KEY),
        ({"api_key": "${MY_KEY}"}, {"MY_KEY": KEY, "GEMINI_API_KEY": "other"}, KEY),
        ({"api_key": "${A}${B}"}, {"A": KEY[:10], "B": KEY[10:]}, KEY),
        ({"api_key": "${A}"}, {"A": "${B}", "B": "x"}, "${B}"),  # expanded once, not again
    ],
)
def test_api_key_resolution(
    base: Path, top: dict[str, Any], env: dict[str, str], key: str | None
) -> None:
    assert load(deck(**top), base, env).api_key == key


@pytest.mark.parametrize(
    ("top", "env", "url"),
    [
        ({}, {}, "https://generativelanguage.googleapis.com"),
        ({}, {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8000/"}, "http://127.0.0.1:8000"),
        ({"base_url": "https://proxy.example/gemini//"}, {}, "https://proxy.example/gemini"),
        ({"base_url": "${U}"}, {"U": "https://x.example", "GOOGLE_GEMINI_BASE_URL": "http://y"}, "https://x.example"),
        ({"base_url": "http://${HOST}:8080/"}, {"HOST": "localhost"}, "http://localhost:8080"),
        ({"base_url": "HTTPS://[::1]:9/"}, {}, "HTTPS://[::1]:9"),
    ],
)  # fmt: skip
def test_base_url_resolution(
    base: Path, top: dict[str, Any], env: dict[str, str], url: str
) -> None:
    assert load(deck(**top), base, env).base_url == url


@pytest.mark.parametrize(
    ("top", "env", "where", "problem"),
    [
        ({"api_key": "${MY_KEY}"}, {}, "api_key", "environment variable MY_KEY is not set"),
        ({"api_key": "${MY_KEY}"}, {"MY_KEY": ""}, "api_key", "MY_KEY is not set"),
        ({"api_key": "${1KEY}"}, {}, "api_key", "malformed"),
        ({"api_key": "${}"}, {}, "api_key", "malformed"),
        ({"api_key": "${MY_KEY"}, {"MY_KEY": KEY}, "api_key", "unclosed"),
        ({"base_url": "${GOOGLE_GEMINI_BASE_URL}"}, {}, "base_url", "remove base_url to use"),
        ({"base_url": "https://${HOST}/"}, {}, "base_url", "HOST is not set"),
        ({"base_url": "${U}"}, {"U": "not a url"}, "base_url", "http(s) URL"),
    ],
)
def test_variable_references_that_cannot_expand(
    base: Path, top: dict[str, Any], env: dict[str, str], where: str, problem: str
) -> None:
    error = refusal(deck(**top), base, env)
    assert error.field == where
    assert problem in error.problem


# --- secrets --------------------------------------------------------------------------


def test_repr_never_shows_the_key(base: Path) -> None:
    config = load(deck(api_key="${K}"), base, {"K": KEY})
    assert config.api_key == KEY
    assert KEY not in repr(config)
    assert KEY not in str(config)
    assert "api_key='***'" in repr(config)
    assert "api_key=None" in repr(load(deck(), base))


def test_repr_hides_proxy_credentials_and_summarises_slides(base: Path) -> None:
    config = load(deck(base_url="https://user:hunter2@proxy.example/"), base)
    assert "hunter2" not in repr(config)
    assert "<1 slides>" in repr(config)


SECRET = "s3cr3t-value-AIzaSyD"


@pytest.mark.parametrize(
    ("top", "env"),
    [
        ({"api_key": f"{SECRET} x"}, {}),
        ({"api_key": "${K}"}, {"K": f"{SECRET}\x01"}),
        ({}, {"GEMINI_API_KEY": f"{SECRET} x"}),
        ({}, {"GOOGLE_API_KEY": f"é{SECRET}"}),
        ({"base_url": "${U}"}, {"U": f"ftp://{SECRET}"}),
        ({"base_url": "${U}"}, {"U": f"https://h/?{SECRET}"}),
        ({"base_url": f"https://u:{SECRET}@h:nope"}, {}),
        ({}, {"GOOGLE_GEMINI_BASE_URL": f"{SECRET} http://h"}),
        ({"api_key": "${K}x${MISSING}"}, {"K": SECRET}),
        ({"api_key": "${K}", "quality": 0}, {"K": SECRET}),
    ],
)
def test_no_message_shows_a_secret(base: Path, top: dict[str, Any], env: dict[str, str]) -> None:
    assert SECRET not in str(refusal(deck(**top), base, env))


# --- upstream and seed configs --------------------------------------------------------


def test_an_upstream_skill_config_runs_unchanged(base: Path) -> None:
    raw = {
        "slides": [
            {
                "number": 1,
                "prompt": "Company overview",
                "style": "trendlife",
                "layout": "featured",
                "temperature": 0.7,
                "seed": 42,
            },
            {"number": 2, "prompt": "Quarterly numbers", "style": "trendlife", "layout": "content"},
        ],
        "output_dir": "presentation/",
        "format": "webp",
        "quality": 90,
    }
    env = {"GEMINI_API_KEY": KEY, "NANO_BANANA_MODEL": "gemini-3.1-flash-image"}
    config = load(raw, base, env)
    first, second = config.slides
    assert config.model == "gemini-3.1-flash-image"
    assert config.api_key == KEY
    assert (first.layout, first.temperature, first.seed) == ("featured", 0.7, 42)
    assert (second.layout, second.temperature, second.seed) == ("content", None, None)
    assert first.lossless
    assert "#D71920" in first.full_prompt
    assert [s.output_filename for s in config.slides] == ["slide-01.webp", "slide-02.webp"]


def test_the_seed_design_example_config(base: Path) -> None:
    raw = {
        "slides": [
            {
                "number": 1,
                "prompt": "CI/CD pipeline overview with build, test, deploy stages",
                "style": "professional",
                "output_filename": "slide-1.webp",
            }
        ],
        "output_dir": str(base / "presentation") + "/",
        "model": "gemini-3-pro-image-preview",
        "format": "webp",
        "quality": 90,
        "api_key": "${GEMINI_API_KEY}",
        "base_url": "${GOOGLE_GEMINI_BASE_URL}",
    }
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8765"}
    config = load(raw, base, env)
    assert config.output_dir == base / "presentation"
    assert config.slides[0].output_filename == "slide-1.webp"
    assert config.base_url == "http://127.0.0.1:8765"


# --- sources and files ----------------------------------------------------------------


def test_sources(tmp_path: Path) -> None:
    raw = deck()
    path = tmp_path / "slides.json"
    path.write_text('{"slides": [{"number": 1, "prompt": "A title slide"}], "output_dir": "deck"}')
    expected = load(raw, tmp_path)
    assert load(str(path), tmp_path) == expected
    assert load(path, tmp_path) == expected
    assert load(MappingProxyType(raw), tmp_path) == expected
    assert load(expected, tmp_path) is expected
    assert load({**raw, "slides": tuple(raw["slides"])}, tmp_path) == expected


def test_a_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "slides.json"
    path.write_bytes(b'\xef\xbb\xbf{"slides": [{"number": 1, "prompt": "x"}], "output_dir": "d"}')
    assert load(path, tmp_path).slides[0].prompt == "x"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (b" \n\t", "is empty"),
        (b'{\n  "slides": [\n    {"number": 1,}\n  ]\n}', "not valid JSON: trailing comma"),
        (b'{\n  "slides" []\n}', "at line 2, column 12"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": 1e999}', "not valid JSON"),
        (b'{"a": "\xff"}', "not valid JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'"slides"', "got string"),
    ],
)
def test_files_that_are_not_configs(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "slides.json"
    path.write_bytes(content)
    error = refusal(path, tmp_path)
    assert error.field == str(path)
    assert problem in error.problem


def test_missing_file_and_directory(base: Path) -> None:
    missing = refusal(base / "nope.json", base)
    assert (missing.field, missing.problem) == (
        str(base / "nope.json"),
        "file not found; check the config path",
    )
    assert "is a directory" in refusal(base, base).problem
    assert "pass a dict" in refusal('{"slides": []}', base).problem


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: instant to make, never read
    assert "over 10 MB are refused" in refusal(path, tmp_path).problem


def test_other_sources_are_refused(base: Path) -> None:
    error = refusal(42, base)
    assert (error.field, error.problem) == (
        "config",
        "must be a path, a mapping or a BatchConfig, got int",
    )


def test_non_string_field_names_are_refused(base: Path) -> None:
    raw: dict[Any, Any] = deck()
    raw["slides"][0][1] = "x"
    assert refusal(raw, base).field == "slides[0]"


@pytest.mark.parametrize(
    ("field", "value"), [("rpm", 1e-300), ("rpm", 1e9), ("timeout", 1e-300), ("timeout", 1e6)]
)
def test_engine_settings_that_would_hang_or_fail_every_request_are_refused(
    field: str, value: float, tmp_path: Path
) -> None:
    raw = {"slides": [{"number": 1, "prompt": "p"}], "output_dir": str(tmp_path), field: value}
    with pytest.raises(ConfigError, match=f"^{field}: must be"):
        load_config(raw, env={}, base_dir=tmp_path)
