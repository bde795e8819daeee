"""The model's turns kept in ``.turns``: verbatim but the image, private, read back whole."""

from __future__ import annotations

import os
from pathlib import Path

from nanobanana_async.files.turns import read_turn, turn_path, write_turn


def turn() -> dict[str, object]:
    """A turn as the protocol keeps it: the delivered image's base64 emptied."""
    return {
        "role": "model",
        "parts": [
            {"thought": True, "inlineData": {"mimeType": "image/png", "data": "dGhvdWdodA=="}},
            {"text": "Here it is", "thoughtSignature": "c2ln"},
            {"inlineData": {"mimeType": "image/png", "data": ""}, "thoughtSignature": "c2lnMg=="},
        ],
    }


def test_a_turn_is_kept_privately_and_read_back_as_it_was(tmp_path: Path) -> None:
    path = turn_path(tmp_path, "slide-01.webp.png")
    assert write_turn(path, turn()) == path
    assert b"c2lnMg==" in path.read_bytes()  # the signatures are kept verbatim
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert read_turn(path) == turn()


def test_a_missing_or_foreign_turn_file_is_not_read(tmp_path: Path) -> None:
    path = turn_path(tmp_path, "slide-01.webp.png")
    assert read_turn(path) is None
    path.parent.mkdir(mode=0o700)
    for text in ('{"turn": 1}', '{"turn": {"parts": [1]}}', "not json"):
        path.write_text(text)
        assert read_turn(path) is None
    path.write_text('{"turn": {"parts": []}}')
    path.chmod(0o600)
    assert read_turn(path) == {"parts": []}
