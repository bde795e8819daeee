"""The model's turn that made each image, kept in the deck's ``.turns`` so an edit continues it.

An edit step sends back the answer that made the image it edits (design26, "Wire"): every
part as received, ``thoughtSignature`` on. That answer is kept here when it arrives, before
its image is staged, so a resumed run continues a chain without asking again. It is stored
as :attr:`~..service.protocol.GeneratedImage.turn` holds it: verbatim but for the delivered
image's base64, emptied (the bytes are the unit's original in ``.originals``), which
:func:`~..service.edit_body.edit_body` puts back when it sends the turn. A turn holds
signatures (up to 3 MB), so the files are 0600 in a 0700 folder, reached through
:func:`~.deck_folders.deck_folder`, and read back capped.
"""

from __future__ import annotations

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


def write_turn(path: Path, turn: Mapping[str, Any]) -> Path:
    """Keep ``turn`` at ``path`` (in the deck's ``.turns``); its path.

    Raises:
        OSError: it could not be written (the folder unfit included).
    """
    with deck_folder(path.parent.parent, TURNS_DIR, create=True) as turns:
        return turns.write(path.name, orjson.dumps({"turn": turn}), mode=0o600)


def read_turn(path: Path) -> dict[str, Any] | None:
    """The turn kept at ``path``; ``None`` when there is none, or it is not one of ours (an
    edit of its image then starts fresh). Never raises."""
    try:
        turn = orjson.loads(read_kept(path, MAX_TURN_BYTES))["turn"]
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    parts = turn.get("parts") if isinstance(turn, dict) else None
    if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
        return None
    return dict(turn)
