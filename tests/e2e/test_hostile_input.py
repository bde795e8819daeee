"""Broken and hostile configs: refused with one line naming the field, before anything runs.

Property-based (hypothesis): start from a valid deck, break it in one way (a wrong type, a
missing field, a huge number, an empty or enormous prompt, odd Unicode, a path trick in
``output_dir`` or ``output_filename``, a symlink), and the loader must refuse it with a
:class:`ConfigError` whose field is the one broken and whose message is one line. Arbitrary
JSON and arbitrary bytes must give a config or a ``ConfigError``, never another exception,
and whatever is accepted writes only inside ``output_dir``. Then a handful of the same
through the command: exit 2, one line on stderr, nothing on stdout, nothing written.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_testing import environment, run_cli
from hypothesis import event, given, settings
from hypothesis import strategies as st

from nanobanana_async.config.loading import (
    CONFIG_FIELDS,
    MAX_CONFIG_BYTES,
    SLIDE_FIELDS,
    load_config,
)
from nanobanana_async.config.schema import MAX_FILENAME_BYTES, MAX_PROMPT_CHARS
from nanobanana_async.errors import ConfigError

ENV = {"GEMINI_API_KEY": "hostile-input-key"}
# Where relative paths start, and what the symlink tricks point at: made once per module,
# since hypothesis calls each test body many times.
Place = dict[str, Path]


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    root = tmp_path_factory.mktemp("hostile")
    (root / "a-file").write_bytes(b"")
    (root / "loop-a").symlink_to(root / "loop-b")
    (root / "loop-b").symlink_to(root / "loop-a")
    (root / "link-to-file").symlink_to(root / "a-file")
    return {"root": root}


def refusal(config: Any, place: Place) -> ConfigError:
    with pytest.raises(ConfigError) as raised:  # at loading, or (the key) before sending
        load_config(config, env=ENV, base_dir=place["root"]).require_key()
    error = raised.value
    text = str(error)
    assert "\n" not in text, text
    assert "\r" not in text, text
    assert len(text) < 600, text
    assert text == (f"{error.field}: {error.problem}" if error.field else error.problem)
    return error


# -- strategies ----------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
not_strings = json_values.filter(lambda v: v is not None and not isinstance(v, str))
not_numbers = json_values.filter(
    lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
)
not_bools = json_values.filter(lambda v: v is not None and not isinstance(v, bool))
huge_numbers = (
    st.integers(min_value=2**64, max_value=2**300)
    | st.integers(min_value=-(2**300), max_value=-(2**64))
    | st.floats(min_value=1e20, max_value=1e308)
    | st.floats(min_value=-1e308, max_value=-1e20)
)
prompts = st.text(min_size=1, max_size=40).filter(lambda t: bool(t.strip()))
blank = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000\u200b", max_size=8).filter(
    lambda t: not t.strip()
)

TOP_STRINGS = ("output_dir", "model", "format", "aspect_ratio", "image_size", "api_key", "base_url")
TOP_NUMBERS = ("quality", "temperature", "seed", "concurrency", "rpm", "timeout")
SLIDE_STRINGS = (
    "prompt", "style", "layout", "output_filename", "aspect_ratio", "image_size", "format",
    "reference_image",
)  # fmt: skip
SLIDE_NUMBERS = ("number", "temperature", "seed", "quality")
# Ranges that no huge number fits (rpm and timeout accept any positive number).
BOUNDED_TOP = ("quality", "temperature", "seed", "concurrency")
BOUNDED_SLIDE = ("number", "temperature", "seed", "quality")

# Names that would leave output_dir, hide, or mean something else on some platform.
NAME_TRICKS = (
    "../escape.png", "../../etc/passwd.png", "/etc/passwd.png", "a/b.png", "a\\b.png",
    "..", ".", ".hidden.png", "C:evil.png", "slide.png.", " slide.png", "slide.png ",
    "..\\..\\x.png", "sub/../slide.png", "nul\x00.png", "tab\t.png", "bell\x07.png",
    "new\nline.png", "slide.exe", "slide.", "slide.png/", "",
)  # fmt: skip
DIR_TRICKS = (
    "",
    "   ",
    "a\x00b",
    "${HOME}/deck",
    "a-file",
    "a-file/deck",
    "loop-a",
    "link-to-file",
)


@st.composite
def decks(draw: st.DrawFn) -> dict[str, Any]:
    """A valid deck of 1-4 slides with odd but legal Unicode prompts."""
    count = draw(st.integers(1, 4))
    numbers = draw(st.lists(st.integers(0, 999_999), min_size=count, max_size=count, unique=True))
    return {
        "slides": [{"number": n, "prompt": draw(prompts)} for n in numbers],
        "output_dir": "deck",
        "format": draw(st.sampled_from(["webp", "png", "jpg", "jpeg", "PNG"])),
    }


Breaker = Callable[[dict[str, Any], st.DrawFn], str]


def _field(slide: dict[str, Any], index: int, name: str) -> str:
    """A slide's field as messages name it: by the slide's number and place, or by its place
    alone when the number is what is broken."""
    if name == "number":
        return f"slides[{index}].number"
    return f"slide {slide['number']} (slides[{index}]).{name}"


def _slide(config: dict[str, Any], draw: st.DrawFn) -> tuple[int, dict[str, Any]]:
    index = draw(st.integers(0, len(config["slides"]) - 1))
    slide: dict[str, Any] = config["slides"][index]
    return index, slide


def wrong_type(config: dict[str, Any], draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        name = draw(st.sampled_from((*TOP_STRINGS, *TOP_NUMBERS, "slides")))
        if name == "slides":
            config[name] = draw(
                json_values.filter(lambda v: v is not None and not isinstance(v, list))
            )
        else:
            config[name] = draw(not_strings if name in TOP_STRINGS else not_numbers)
        return name
    index, slide = _slide(config, draw)
    name = draw(st.sampled_from((*SLIDE_STRINGS, *SLIDE_NUMBERS, "lossless")))
    if name == "lossless":
        slide[name] = draw(not_bools)
    else:
        slide[name] = draw(not_strings if name in SLIDE_STRINGS else not_numbers)
    return _field(slide, index, name)


def missing(config: dict[str, Any], draw: st.DrawFn) -> str:
    choice = draw(st.sampled_from(["slides", "output_dir", "number", "prompt", "empty slides"]))
    if choice in ("slides", "output_dir"):
        del config[choice]
        return choice
    if choice == "empty slides":
        config["slides"] = []
        return "slides"
    index, slide = _slide(config, draw)
    del slide[choice]
    return _field(slide, index, choice)


def huge(config: dict[str, Any], draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        name = draw(st.sampled_from(BOUNDED_TOP))
        config[name] = draw(huge_numbers)
        return name
    index, slide = _slide(config, draw)
    name = draw(st.sampled_from(BOUNDED_SLIDE))
    slide[name] = draw(huge_numbers)
    return _field(slide, index, name)


def not_positive(config: dict[str, Any], draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(("rpm", "timeout")))
    config[name] = draw(st.sampled_from([0, -1, -1e300, 0.0, -(2**70), 2**70]))
    return name


def bad_prompt(config: dict[str, Any], draw: st.DrawFn) -> str:
    index, slide = _slide(config, draw)
    if draw(st.booleans()):
        slide["prompt"] = draw(blank)
    else:
        extra = draw(st.integers(1, 2000))
        slide["prompt"] = draw(st.sampled_from(["x", "é", "字", "🍌", "\u200b"])) * (
            MAX_PROMPT_CHARS + extra
        )
    return _field(slide, index, "prompt")


def bad_name(config: dict[str, Any], draw: st.DrawFn) -> str:
    index, slide = _slide(config, draw)
    pick = draw(st.integers(0, 3))
    if pick == 0:
        slide["output_filename"] = draw(st.sampled_from(NAME_TRICKS))
    elif pick == 1:
        # A control character (category Cc) somewhere in an otherwise fine name.
        control = draw(st.characters(categories=["Cc"]))
        stem = draw(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=8))
        at = draw(st.integers(0, len(stem)))
        slide["output_filename"] = stem[:at] + control + stem[at:] + ".png"
    elif pick == 2:
        slide["output_filename"] = "é" * (MAX_FILENAME_BYTES // 2 + 1) + ".png"
    else:
        separator = draw(st.sampled_from(["/", "\\"]))
        slide["output_filename"] = draw(prompts).replace("/", "_") + separator + "x.png"
    return _field(slide, index, "output_filename")


def bad_dir(config: dict[str, Any], draw: st.DrawFn) -> str:
    config["output_dir"] = draw(st.sampled_from(DIR_TRICKS))
    return "output_dir"


def unknown_field(config: dict[str, Any], draw: st.DrawFn) -> str:
    known = CONFIG_FIELDS | SLIDE_FIELDS
    name = draw(st.text(min_size=1, max_size=12).filter(lambda n: n not in known))
    value = draw(json_values)
    # Named as written, or escaped when it holds what a terminal would not show as is.
    shown = name if name.isprintable() else repr(name)
    if draw(st.booleans()):
        config[name] = value
        return shown
    index, slide = _slide(config, draw)
    slide[name] = value
    return _field(slide, index, shown)


def duplicate(config: dict[str, Any], draw: st.DrawFn) -> str:
    first = config["slides"][0]
    if draw(st.booleans()):
        config["slides"] = [first, {"number": first["number"], "prompt": "again"}]
        return "slides[1].number"
    # The same file spelt differently: case and Unicode normalisation.
    first["output_filename"] = "Café.png"
    second = {
        "number": 0 if first["number"] != 0 else 1,
        "prompt": "again",
        "output_filename": unicodedata.normalize("NFD", "CAFÉ.png"),
    }
    config["slides"] = [first, second]
    return _field(second, 1, "output_filename")


def bad_variable(config: dict[str, Any], draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["api_key", "base_url"]))
    config[name] = draw(
        st.sampled_from(["${UNSET_VARIABLE_XYZ}", "${}", "${1BAD}", "${UNCLOSED", "${A-B}"])
    )
    return name


BREAKERS: dict[str, Breaker] = {
    "wrong type": wrong_type,
    "missing field": missing,
    "huge number": huge,
    "not positive": not_positive,
    "empty or enormous prompt": bad_prompt,
    "path trick or odd name": bad_name,
    "bad output_dir": bad_dir,
    "unknown field": unknown_field,
    "duplicate": duplicate,
    "bad ${VAR}": bad_variable,
}


@st.composite
def broken_decks(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    config = draw(decks())
    kind = draw(st.sampled_from(sorted(BREAKERS)))
    field = BREAKERS[kind](config, draw)
    return kind, config, field


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=40)
@given(decks())
def test_the_valid_decks_the_breakers_start_from_load(place: Place, config: dict[str, Any]) -> None:
    loaded = load_config(config, env=ENV, base_dir=place["root"])
    assert len(loaded.slides) == len(config["slides"])


@settings(max_examples=300)
@given(broken_decks())
def test_one_broken_thing_is_refused_naming_its_field(
    place: Place, case: tuple[str, dict[str, Any], str]
) -> None:
    kind, config, field = case
    event(kind)
    error = refusal(config, place)
    assert error.field == field, (kind, str(error))


@pytest.mark.parametrize("name", ["evil\nname", "cr\rreturn", "esc\x1b[31mred"])
def test_an_unknown_field_named_with_control_characters_is_still_one_line(
    place: Place, name: str
) -> None:
    error = refusal(
        {"slides": [{"number": 1, "prompt": "p"}], "output_dir": "deck", name: 1}, place
    )
    assert error.field == repr(name)


def check_safe(config: Any, place: Place) -> None:
    """Loaded, or refused with one line; if loaded, every file lands inside output_dir."""
    error: ConfigError | None = None
    try:
        loaded = load_config(config, env=ENV, base_dir=place["root"])
    except ConfigError as raised:
        error = raised
    if error is not None:
        assert "\n" not in str(error)
        return
    for slide in loaded.slides:
        name = slide.output_filename
        assert name not in (".", "..")
        assert not name.startswith(".")
        assert os.path.basename(name) == name
        assert "\\" not in name
        assert "\x00" not in name
        assert (loaded.output_dir / name).parent == loaded.output_dir
    assert loaded.output_dir.is_absolute()


@settings(max_examples=150)
@given(json_values)
def test_any_json_value_is_a_config_or_one_clear_refusal(place: Place, value: Any) -> None:
    if isinstance(value, dict):
        check_safe(value, place)  # as the whole config
    check_safe({"slides": [value], "output_dir": "deck"}, place)  # as a slide


@settings(max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(sorted(SLIDE_FIELDS)), json_values | st.text(max_size=30), max_size=6
    ),
    st.dictionaries(st.sampled_from(sorted(CONFIG_FIELDS - {"slides"})), json_values, max_size=4),
)
def test_random_fields_with_random_values_never_crash(
    place: Place, slide: dict[str, Any], top: dict[str, Any]
) -> None:
    check_safe({"output_dir": "deck", **top, "slides": [slide]}, place)


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_any_output_filename_is_refused_or_stays_inside_output_dir(place: Place, name: str) -> None:
    check_safe(
        {"slides": [{"number": 1, "prompt": "p", "output_filename": name}], "output_dir": "deck"},
        place,
    )


@settings(max_examples=100)
@given(st.text(max_size=30) | st.sampled_from(DIR_TRICKS))
def test_any_output_dir_is_refused_or_absolute(place: Place, text: str) -> None:
    check_safe({"slides": [{"number": 1, "prompt": "p"}], "output_dir": text}, place)


@settings(max_examples=60)
@given(st.sampled_from([math.nan, math.inf, -math.inf]), st.sampled_from(TOP_NUMBERS))
def test_nan_and_infinity_are_refused(place: Place, value: float, name: str) -> None:
    # JSON cannot carry them, a dict from Python can.
    config = {"slides": [{"number": 1, "prompt": "p"}], "output_dir": "deck", name: value}
    assert refusal(config, place).field == name


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_config_file(place: Place, data: bytes) -> None:
    path = place["root"] / "bytes.json"
    path.write_bytes(data)
    check_safe(path, place)


# -- through the command -------------------------------------------------------------------


def nothing_written(tmp_path: Path, before: set[Path]) -> None:
    assert set(tmp_path.rglob("*")) == before


def _sparse(path: Path, size: int) -> None:
    path.write_bytes(b"{")
    os.truncate(path, size)  # instant, and never read: the size alone refuses it


CONFIG_FILES: dict[str, Callable[[Path], object]] = {
    "not JSON": lambda p: p.write_bytes(b"slides: [1, 2]\n"),
    "empty": lambda p: p.write_bytes(b""),
    "binary": lambda p: p.write_bytes(bytes(range(256))),
    "invalid UTF-8": lambda p: p.write_bytes(b'{"slides": "\xff\xfe"}'),
    "a directory": lambda p: p.mkdir(),
    "huge": lambda p: _sparse(p, MAX_CONFIG_BYTES + 1),
    "deeply nested": lambda p: p.write_bytes(b"[" * 5000 + b"]" * 5000),
    "a symlink loop": lambda p: p.symlink_to(p),
    "a path trick": lambda p: p.write_bytes(
        orjson.dumps(
            {
                "slides": [{"number": 1, "prompt": "x", "output_filename": "../../x.png"}],
                "output_dir": "d",
            }
        )
    ),
    "huge number": lambda p: p.write_bytes(
        b'{"slides": [{"number": 123456789012345678901234567890, "prompt": "x"}], '
        b'"output_dir": "d"}'
    ),
    "odd unicode name": lambda p: p.write_bytes(
        orjson.dumps(
            {
                "slides": [{"number": 1, "prompt": "x", "output_filename": "a\u202eb\x7f.png"}],
                "output_dir": "d",
            }
        )
    ),
}


@pytest.mark.parametrize("kind", sorted(CONFIG_FILES))
def test_a_broken_config_file_on_the_command_line(tmp_path: Path, kind: str) -> None:
    config = tmp_path / "slides.json"
    CONFIG_FILES[kind](config)
    before = set(tmp_path.rglob("*"))
    done = run_cli(
        "run",
        "--config",
        str(config),
        "--progress-file",
        str(tmp_path / "progress.json"),
        "--results-file",
        str(tmp_path / "results.json"),
        env=environment("http://127.0.0.1:9"),  # never reached
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    assert b"Traceback" not in done.stderr
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("nanobanana: error: ")
    nothing_written(tmp_path, before)
