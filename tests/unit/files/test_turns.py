"""The model's turns kept in ``.turns``: verbatim but the image, private, read back whole."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from nanobanana_async.files.turns import read_turn, turn_path, write_turn

IMAGE = b"\x89PNG not really"


def turn() -> dict[str, object]:
    data = base64.b64encode(IMAGE).decode()
    return {
        "role": "model",
        "parts": [
            {"thought": True, "inlineData": {"mimeType": "image/png", "data": "dGhvdWdodA=="}},
            {"text": "Here it is", "thoughtSignature": "c2ln"},
            {"inlineData": {"mimeType": "image/png", "data": data}, "thoughtSignature": "c2lnMg=="},
        ],
    }


def test_a_turn_is_kept_without_its_image_and_read_back_with_it(tmp_path: Path) -> None:
    path = turn_path(tmp_path, "slide-01.webp.png")
    assert write_turn(path, turn(), IMAGE) == path
    assert base64.b64encode(IMAGE) not in path.read_bytes()  # the original holds it
    assert b"c2lnMg==" in path.read_bytes()  # the signatures are kept verbatim
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert read_turn(path, IMAGE) == turn()


def test_a_turn_without_the_image_is_not_kept_and_a_foreign_file_not_read(
    tmp_path: Path,
) -> None:
    path = turn_path(tmp_path, "slide-01.webp.png")
    assert write_turn(path, turn(), b"another image") is None
    assert read_turn(path, IMAGE) is None
    path.parent.mkdir(mode=0o700)
    path.write_text('{"turn": 1}')
    assert read_turn(path, IMAGE) is None
