"""load_config (loading.py): the sources it reads, the shape of a deck, resolution per slide
over top level over defaults, file-name collisions between slides, and the repr."""

from __future__ import annotations

import os
import shlex
import unicodedata
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from config_testing import DROP, KEY, S_AT, S, check_refused, deck, load, one, refusal
from other_user import OTHER

from nanobanana_async.config.loading import MAX_CONFIG_BYTES, SlideSpec, load_config
from nanobanana_async.config.schema import MAX_SLIDES
from nanobanana_async.service.model_ids import DEFAULT_MODEL

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (id, top-level overrides, first-slide overrides, field, part of the problem)
    ("no slides", {"slides": DROP}, {}, "slides", "required"),
    ("slides null", {"slides": None}, {}, "slides", "required"),
    ("slides object", {"slides": {"number": 1}}, {}, "slides", "must be an array, got object"),
    ("slides empty", {"slides": []}, {}, "slides", "must not be empty"),
    ("slide a string", {"slides": ["a prompt"]}, {}, S_AT, "must be an object"),
    ("no output_dir", {"output_dir": DROP}, {}, "output_dir", "required"),
    ("number missing", {}, {"number": DROP}, f"{S_AT}.number", "required"),
    ("lossless jpg", {}, {"lossless": True, "format": "jpg"}, f"{S}.lossless", "jpg has no"),
    ("consistency unknown", {"consistency": "first"}, {}, "consistency",
     "must be one of none, first-slide, got 'first'"),
    ("consistency a bool", {"consistency": True}, {}, "consistency", "must be a string"),
    ("style_reference missing", {"style_reference": "brand.png"}, {}, "style_reference",
     "file not found: "),
    ("style_reference a gif", {"style_reference": "brand.gif"}, {}, "style_reference",
     "must be a .png, .jpg, .jpeg, .webp image"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("top", "slide", "where", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_field_and_reason(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    check_refused(base, top, slide, where, problem)


def test_the_spec_examples_word_for_word(tmp_path: Path) -> None:
    raw = deck({"number": "1"})
    assert str(refusal(raw, tmp_path)) == "slides[0].number: must be an integer, got string"
    raw = deck()
    raw["slides"] += [{"number": 2, "prompt": "b"}, {"number": 3, "prompt": "c", "colour": 1}]
    line = str(refusal(raw, tmp_path))
    assert line.startswith("slide 3 (slides[2]).colour: unknown field (known: ")
    message = str(refusal(deck(), tmp_path, {"NANO_BANANA_QUALITY": "abc"}))
    assert message == "NANO_BANANA_QUALITY: must be an integer 1-100, got 'abc'"
    (tmp_path / "x").write_text("")
    assert str(refusal(deck(output_dir="x"), tmp_path)) == (
        f"output_dir: {tmp_path / 'x'} is a file, not a directory"
    )


def test_first_problem_stops_loading(base: Path) -> None:
    raw = deck({"prompt": ""}, quality=0)
    raw["slides"].append({"number": 2, "prompt": ""})
    assert refusal(raw, base).field == "quality"


def test_defaults(base: Path) -> None:
    config = load(deck(), base)
    assert config.output_dir == base / "deck"
    assert config.model == DEFAULT_MODEL
    assert config.api_key is None
    assert config.base_url == "https://generativelanguage.googleapis.com"
    assert (config.concurrency, config.rpm, config.timeout) == (None, None, 300.0)
    assert (config.style_reference, config.consistency) == (None, "none")
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


def test_relative_base_dir_is_made_absolute(base: Path) -> None:
    config = load_config(deck(), env={}, base_dir=Path("."))
    assert config.output_dir == Path.cwd().resolve() / "deck"


def test_a_slide_is_named_by_its_number_and_its_place(tmp_path: Path) -> None:
    raw = deck()
    raw["slides"] = [{"number": n, "prompt": "p"} for n in (1, 2, 3)] + [
        {"number": 7, "prompt": " "}
    ]
    assert str(refusal(raw, tmp_path)) == "slide 7 (slides[3]).prompt: must not be empty"
    raw["slides"][3] = {"number": "7", "prompt": " "}  # a bad number: the place alone
    assert str(refusal(raw, tmp_path)) == "slides[3].number: must be an integer, got string"


def two_slides(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    return {"slides": [first, second], "output_dir": "deck"}


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        ({"number": 2, "output_filename": "SLIDE-01.WEBP"}, "is also the file of slide 1"),
        ({"number": 2, "output_filename": "slide-01"}, "slide 1 (slides[0]);"),
        ({"number": 2, "output_filename": "Slide-01.webp"}, "own output_filename"),
    ],
)
def test_two_slides_writing_one_file_are_refused(
    base: Path, second: dict[str, Any], problem: str
) -> None:
    error = refusal(two_slides({"number": 1, "prompt": "a"}, {"prompt": "b", **second}), base)
    assert error.field == "slide 2 (slides[1]).output_filename"
    assert problem in error.problem


def test_names_equal_after_unicode_normalisation_collide(base: Path) -> None:
    composed, decomposed = (unicodedata.normalize(f, "café.png") for f in ("NFC", "NFD"))
    assert composed != decomposed
    raw = two_slides(
        {"number": 1, "prompt": "a", "output_filename": composed},
        {"number": 2, "prompt": "b", "output_filename": decomposed},
    )
    assert refusal(raw, base).field == "slide 2 (slides[1]).output_filename"


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


def test_repr_never_shows_the_key(base: Path) -> None:
    config = load(deck(api_key="${GOOGLE_API_KEY}"), base, {"GOOGLE_API_KEY": KEY})
    assert config.api_key == KEY
    assert KEY not in repr(config)
    assert KEY not in str(config)
    assert "api_key='***'" in repr(config)
    assert "api_key=None" in repr(load(deck(), base))


def test_repr_hides_proxy_credentials_and_summarises_slides(base: Path) -> None:
    config = load(deck(base_url="https://user:hunter2@proxy.example/"), base)
    assert "hunter2" not in repr(config)
    assert "<1 slide>" in repr(config)


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


CONFIG = b'{"slides": [{"number": 1, "prompt": "x"}], "output_dir": "d"}'


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o400, 0o660, 0o664], ids=oct)
def test_a_config_of_ones_own_is_read(tmp_path: Path, mode: int) -> None:
    # Group-writable too: the group is one its owner chose (with umask 002, usually the
    # owner's own private group), unlike "everyone".
    path = tmp_path / "slides.json"
    path.write_bytes(CONFIG)
    path.chmod(mode)
    assert load(path, tmp_path).slides[0].prompt == "x"


@pytest.mark.parametrize("mode", [0o666, 0o646, 0o602, 0o777], ids=oct)
def test_a_config_anyone_can_rewrite_is_refused(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / "shared dir"
    folder.mkdir()
    path = folder / "slides.json"
    path.write_bytes(CONFIG)
    path.chmod(mode)
    error = refusal(path, tmp_path)
    assert (error.field, error.problem) == (
        str(path),
        "is writable by every user, who could rewrite it between writing and running; "
        f"chmod o-w {shlex.quote(str(path))}",
    )
    # Through a symlink, the file itself is what counts.
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert "is writable by every user" in refusal(link, tmp_path).problem


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_a_config_owned_by_another_user_is_refused_even_for_root(tmp_path: Path) -> None:
    path = tmp_path / "slides.json"
    path.write_bytes(CONFIG)
    path.chmod(0o644)
    os.chown(path, OTHER, -1)
    error = refusal(path, tmp_path)
    assert (error.field, error.problem) == (
        str(path),
        f"is owned by another user (uid {OTHER}), who could rewrite it; "
        "copy it to a file of your own",
    )
    link = tmp_path / "mine.json"
    link.symlink_to(path)  # a link of one's own to another's file: still another's file
    assert "owned by another user" in refusal(link, tmp_path).problem


def test_other_sources_are_refused(base: Path) -> None:
    error = refusal(42, base)
    assert (error.field, error.problem) == (
        "config",
        "must be a path, a mapping or a DeckConfig, got int",
    )


def test_a_deck_past_the_slide_cap_is_refused_before_any_slide_is_read(base: Path) -> None:
    # The first slide is bad: the count is said, so no slide was read before it.
    raw = deck(slides=["not a slide"] * (MAX_SLIDES + 1))
    assert str(refusal(raw, base)) == (
        f"slides: has {MAX_SLIDES + 1:,} slides; the limit is {MAX_SLIDES:,} a deck, "
        "split it into several configs"
    )


def test_a_deck_at_the_slide_cap_loads(base: Path) -> None:
    raw = deck(slides=[{"number": n, "prompt": "p"} for n in range(1, MAX_SLIDES + 1)])
    assert len(load(raw, base).slides) == MAX_SLIDES


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        # Another program's file, named by mistake or by an injected config_path: none of
        # its field names is read out.
        ({"db_password": "x", "db_user": "y"}, 'slides: required: a list like [{"number": 1'),
        ({"output_dir": "deck", "token": "x"}, "slides: required"),
        # A misspelt slides is named, and only it.
        ({"slide": [], "db_password": "x"}, "slide: unknown field, did you mean 'slides'?"),
        # A deck config: its unknown field is named, with the fix.
        ({**deck(), "db_password": "x"}, "db_password: unknown field"),
    ],
)
def test_a_file_that_is_no_deck_config_tells_none_of_its_fields(
    base: Path, raw: dict[str, Any], said: str
) -> None:
    error = refusal(raw, base)
    assert str(error).startswith(said)
    if "slides" not in raw:
        assert "db_" not in str(error)
        assert "token" not in str(error)
