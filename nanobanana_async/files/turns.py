"""The model's turn that made each image, kept in the deck's ``.turns`` so an edit continues it.

An edit step sends back the answer that made the image it edits (design26, "Wire"): every
part as received, ``thoughtSignature`` on. That answer is kept here when it arrives, before
its image is staged, so a resumed run continues a chain without asking again. It is stored
verbatim but for the answer image's base64, which is the unit's original in ``.originals``
(the same bytes): the part keeps an empty ``data`` and the file says which part it is, and
:func:`read_turn` puts the original's bytes back. A turn holds signatures (up to 3 MB), so
the files are 0600 in a 0700 folder, reached through :func:`~.deck_folders.deck_folder`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from .deck_folders import TURNS_DIR, deck_folder, read_kept

__all__ = ["MAX_TURN_BYTES", "read_turn", "turn_path", "write_turn"]

MAX_TURN_BYTES = 64 * 2**20
"""The largest turn file read back: thought images and signatures, the image itself left out."""


def turn_path(output_dir: Path, original_name: str) -> Path:
    """Where the turn that made the original named ``original_name`` is kept."""
    return output_dir / TURNS_DIR / f"{original_name}.json"


def _image_part(turn: Mapping[str, Any], image: bytes) -> int | None:
    """Which part of ``turn`` is the answer's image: the last one not a thought that holds
    ``image`` (as :func:`~..service.protocol` picks the image kept)."""
    parts = turn.get("parts")
    if not isinstance(parts, list):
        return None
    for index in range(len(parts) - 1, -1, -1):
        part = parts[index]
        if not isinstance(part, dict) or part.get("thought"):
            continue
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, dict) and isinstance(inline.get("data"), str):
            try:
                if base64.b64decode(inline["data"]) == image:
                    return index
            except ValueError:
                try:
                    if base64.urlsafe_b64decode(inline["data"]) == image:
                        return index
                except ValueError:
                    continue
    return None


def write_turn(path: Path, turn: Mapping[str, Any], image: bytes) -> Path | None:
    """Keep ``turn`` at ``path`` (in the deck's ``.turns``), its image part's data left out.

    ``None`` when the turn holds no part with ``image`` (nothing to continue from).

    Raises:
        OSError: it could not be written (the folder unfit included).
    """
    index = _image_part(turn, image)
    if index is None:
        return None
    stored = copy.copy(dict(turn))
    parts = list(stored["parts"])
    part = dict(parts[index])
    key = "inlineData" if "inlineData" in part else "inline_data"
    part[key] = {**part[key], "data": ""}
    parts[index] = part
    stored["parts"] = parts
    data = orjson.dumps({"turn": stored, "image_part": index})
    with deck_folder(path.parent.parent, TURNS_DIR, create=True) as turns:
        return turns.write(path.name, data, mode=0o600)


def read_turn(path: Path, image: bytes) -> dict[str, Any] | None:
    """The turn kept at ``path`` with ``image`` (the unit's original) back in its part.

    ``None`` when there is none, or it is not one of ours: the edit then starts fresh.
    Never raises.
    """
    try:
        data = orjson.loads(read_kept(path, MAX_TURN_BYTES))
        turn, index = data["turn"], data["image_part"]
        parts = list(turn["parts"])
        part = dict(parts[index])
        key = "inlineData" if "inlineData" in part else "inline_data"
        part[key] = {**part[key], "data": base64.b64encode(image).decode("ascii")}
        parts[index] = part
        return {**turn, "parts": parts}
    except (OSError, ValueError, KeyError, TypeError, IndexError, orjson.JSONDecodeError):
        return None
