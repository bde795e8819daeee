"""Paths in a deck (paths.py): output_dir, reference images, and output file names."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from config_testing import S, check_refused, deck, load, one, refusal
from PIL import Image

from nanobanana_async.config.loading import anchored, load_config

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (id, top-level overrides, first-slide overrides, field, part of the problem)
    ("output_dir blank", {"output_dir": "  "}, {}, "output_dir", "must not be empty"),
    ("output_dir number", {"output_dir": 3}, {}, "output_dir", "must be a string, got integer"),
    ("output_dir NUL", {"output_dir": "a\x00b"}, {}, "output_dir", "NUL"),
    ("output_dir ${VAR}", {"output_dir": "${HOME}/deck"}, {}, "output_dir", "not expanded"),
    ("reference number", {}, {"reference_image": 1}, f"{S}.reference_image", "string"),
    ("reference blank", {}, {"reference_image": ""}, f"{S}.reference_image", "path of an image"),
    ("reference ext", {}, {"reference_image": "a.gif"}, f"{S}.reference_image", ".png, .jpg"),
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


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


def test_reference_image(tmp_path: Path) -> None:
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "logo.PNG").write_bytes(image_bytes("PNG"))
    slide = one(deck({"reference_image": "refs/logo.PNG"}), tmp_path)
    assert slide.reference_image == tmp_path / "refs" / "logo.PNG"
    assert slide.reference_image.is_absolute()
    (tmp_path / "dir.png").mkdir()
    error = refusal(deck({"reference_image": "dir.png"}), tmp_path)
    assert (error.field, error.problem) == (
        "slide 1 (slides[0]).reference_image",
        f"{tmp_path / 'dir.png'} is not a file",
    )


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
    assert error.field == "slide 1 (slides[0]).output_filename"
    assert problem in error.problem


def test_name_extension_contradicting_the_slides_own_format_is_refused(base: Path) -> None:
    error = refusal(deck({"output_filename": "a.png", "format": "webp"}), base)
    assert error.field == "slide 1 (slides[0]).output_filename"
    assert "contradicts" in error.problem


def test_a_config_files_relative_paths_start_at_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "configs"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "logo.png").write_bytes(image_bytes("PNG"))
    raw = deck({"reference_image": "refs/logo.png"}, output_dir="./deck/")
    (folder / "slides.json").write_bytes(orjson.dumps(raw))
    monkeypatch.chdir(tmp_path)  # elsewhere: where the command is run from
    config = load_config(folder / "slides.json", env={})
    assert config.output_dir == folder / "deck"
    assert config.slides[0].reference_image == folder / "refs" / "logo.png"
    assert config.notices == (
        f"output_dir: './deck/' is read from the config file's folder, {folder / 'deck'}, "
        "not the working directory",
    )
    monkeypatch.chdir(folder)  # run from its own folder: the same, and nothing to say
    config = load_config("slides.json", env={})
    assert (config.output_dir, config.notices) == (folder / "deck", ())
    # A mapping has no folder: the working directory, or the base given.
    inline = deck(output_dir="./deck/")
    assert load_config(inline, env={}, base_dir=tmp_path).output_dir == tmp_path / "deck"


def test_anchored_makes_only_plain_relative_paths_absolute(base: Path) -> None:
    raw = deck({"reference_image": "r.png"}, output_dir="deck", style_reference="/abs/s.png")
    raw["slides"].append({"number": 2, "prompt": "p", "reference_image": "~/r.png"})
    raw["slides"].append("not a slide")
    moved = anchored(raw, base)
    assert moved["output_dir"] == str(base / "deck")
    assert moved["style_reference"] == "/abs/s.png"
    assert [s["reference_image"] for s in moved["slides"][:2]] == [str(base / "r.png"), "~/r.png"]
    assert moved["slides"][2] == "not a slide"
    assert raw["output_dir"] == "deck"  # the caller's object is left as it was
    assert anchored({"output_dir": 3}, base) == {"output_dir": 3}
