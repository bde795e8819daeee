"""The config file changed in place: the step or the pick written, everything else as it was.

Each test writes a real file, changes it through the module and reads the bytes back: the
keys in their order, the indent, the newline, the mode; and a file that must not be written
is left byte for byte.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from nanobanana_async.config.loading import EditStep, Region, load_config
from nanobanana_async.config.writeback import (
    ConfigChanged,
    append_edit,
    drop_last_edit,
    set_pick,
    snapshot,
)
from nanobanana_async.errors import ConfigError

DECK: dict[str, Any] = {
    "output_dir": "deck",
    "model": "gemini-3-pro-image",
    "slides": [
        {"prompt": "Title: Ünïcode — 漢字", "number": 3, "variants": 2},
        {"number": 7, "prompt": "Chart", "edits": ["make it blue"], "seed": 5},
    ],
    "aspect_ratio": "16:9",
}
BOX = Region(0.1, 0.05, 0.5, 0.2)


def _write(folder: Path, raw: Any = DECK, indent: int | str | None = 4, end: str = "\n") -> Path:
    path = folder / "deck.json"
    path.write_text(json.dumps(raw, indent=indent, ensure_ascii=False) + end, encoding="utf-8")
    path.chmod(0o640)
    return path


def _raw(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_step_is_appended_and_the_rest_kept(tmp_path: Path) -> None:
    path = _write(tmp_path)
    append_edit(path, 3, EditStep("make the title bigger"))
    append_edit(path, 3, EditStep("the logo in blue", BOX))
    text = path.read_text(encoding="utf-8")
    raw = json.loads(text)
    first = dict(DECK["slides"][0])
    first["edits"] = [
        "make the title bigger",
        {"instruction": "the logo in blue", "region": [0.1, 0.05, 0.5, 0.2]},
    ]
    assert raw == {**DECK, "slides": [first, DECK["slides"][1]]}
    # Key order, at every level, and the file's four-space indent, final newline and mode.
    assert list(raw) == list(DECK)
    assert list(raw["slides"][0]) == [*DECK["slides"][0], "edits"]
    assert text.startswith('{\n    "output_dir": "deck",\n    "model"')
    # Short flat arrays stay on one line.
    assert '\n                    "region": [0.1, 0.05, 0.5, 0.2]\n' in text
    assert "Ünïcode — 漢字" in text
    assert text.endswith("}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    steps = load_config(path, env={}).slides[0].edits
    assert steps == (EditStep("make the title bigger"), EditStep("the logo in blue", BOX))


@pytest.mark.parametrize(("indent", "lead"), [("\t", '{\n\t"output_dir"'), (2, '{\n  "out')])
def test_the_files_indent_is_kept(tmp_path: Path, indent: int | str, lead: str) -> None:
    path = _write(tmp_path, indent=indent, end="")
    set_pick(path, 3, 2)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(lead)
    assert not text.endswith("\n")
    assert _raw(path)["slides"][0]["pick"] == 2


def test_a_one_line_file_stays_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, indent=None)
    append_edit(path, 7, EditStep("x"))
    assert path.read_text(encoding="utf-8").count("\n") == 1
    assert _raw(path)["slides"][1]["edits"] == ["make it blue", "x"]


def test_undo_drops_the_last_step_and_then_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path)
    append_edit(path, 7, EditStep("the logo in blue", BOX))
    assert drop_last_edit(path, 7) == EditStep("the logo in blue", BOX)
    assert _raw(path)["slides"][1]["edits"] == ["make it blue"]
    assert drop_last_edit(path, 7) == EditStep("make it blue")
    assert "edits" not in _raw(path)["slides"][1]
    before = path.read_bytes(), path.stat().st_mtime_ns
    assert drop_last_edit(path, 7) is None
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # nothing written


def test_a_symlinked_config_is_changed_where_it_lives(tmp_path: Path) -> None:
    path = _write(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to(path.name)
    set_pick(link, 3, 2)
    assert link.is_symlink()
    assert _raw(path)["slides"][0]["pick"] == 2


def test_a_bom_is_kept(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    set_pick(path, 3, 1)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf{\n")


@pytest.mark.parametrize(
    ("act", "field", "problem"),
    [
        (lambda p: set_pick(p, 3, 3), "slide 3 (slides[0]).pick", "is 3, but the slide has 2"),
        (lambda p: set_pick(p, 7, 2), "slide 7 (slides[1]).pick", "has 1 candidate"),
        (lambda p: append_edit(p, 4, EditStep("x")), "slide", "4 is not a slide of"),
        (lambda p: drop_last_edit(p, 4), "slide", "its slides are 3, 7"),
        (
            lambda p: append_edit(p, 3, EditStep("x", Region(0.5, 0, 0.6, 0.5))),
            "slide 3 (slides[0]).edits[0].region",
            "reaches past the image's right edge",
        ),
        (lambda p: append_edit(p, 3, EditStep("  ")), "slide 3 (slides[0]).edits[0]", "empty"),
    ],
)
def test_a_change_the_config_would_refuse_is_not_written(
    tmp_path: Path, act: Any, field: str, problem: str
) -> None:
    path = _write(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        act(path)
    assert info.value.field == field
    assert problem in info.value.problem
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


def test_a_seventeenth_step_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path)
    for _ in range(15):
        append_edit(path, 7, EditStep("again"))
    with pytest.raises(ConfigError, match="has 17 steps; the limit is 16"):
        append_edit(path, 7, EditStep("one too many"))
    assert len(_raw(path)["slides"][1]["edits"]) == 16


def test_a_file_the_reader_refuses_is_not_written(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.chmod(0o666)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="writable by every user"):
        set_pick(path, 3, 2)
    assert path.read_bytes() == before
    path.chmod(0o600)
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        set_pick(path, 3, 2)
    with pytest.raises(ConfigError, match="file not found"):
        set_pick(tmp_path / "missing.json", 3, 2)


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path) -> None:
    path = _write(tmp_path)
    seen = snapshot(path)
    set_pick(path, 3, 2, since=seen)  # unchanged: written
    with pytest.raises(ConfigChanged, match="changed since it was read") as info:
        append_edit(path, 3, EditStep("x"), since=seen)  # the pick above changed it
    assert isinstance(info.value, ConfigError)  # exit 2, one line
    assert str(info.value).startswith(f"{path}: ")
    # The same bytes under a new inode (an editor's save-as-rename) count as changed too.
    # The new file exists before the old one goes, as an editor saves: an unlink first
    # could hand the new file the freed inode's number.
    fresh = snapshot(path)
    saved = path.with_name(path.name + ".saved")
    saved.write_bytes(path.read_bytes())
    os.chmod(saved, 0o600)
    os.replace(saved, path)
    with pytest.raises(ConfigChanged):
        drop_last_edit(path, 3, since=fresh)
