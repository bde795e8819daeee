"""What the client needs to know about model ids, and nothing more.

The client does not refuse model ids locally: a proxy behind a custom base URL may still serve
an id the public service retired. It only needs the default, the replacements of retired ids
(the config maps one to its replacement on Google's endpoint, and the service's 404 elsewhere
becomes a message that names the fix), which models reject ``imageSize``, which edit an image
(the config refuses an edit chain on one known not to) and which sign their turns (an edit sends
such a model's own turn back, signatures on). The emulator keeps its own, fuller catalogue on
purpose, so the two are independent statements of the same facts and a test can catch either
being wrong.
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_MODEL",
    "EDITING_MODELS",
    "MODELS_WITHOUT_IMAGE_SIZE",
    "RETIRED_MODELS",
    "RETIRED_ON",
    "SIGNING_MODELS",
    "can_edit",
    "replacement_for",
    "signs_turns",
]

DEFAULT_MODEL = "gemini-3-pro-image"

RETIRED_ON = "2026-06-25"
"""When the ids of :data:`RETIRED_MODELS` were shut down."""

# Shut down on RETIRED_ON; the GA ids replaced them.
RETIRED_MODELS: dict[str, str] = {
    "gemini-3-pro-image-preview": "gemini-3-pro-image",
    "gemini-3.1-flash-image-preview": "gemini-3.1-flash-image",
    "gemini-2.5-flash-image-preview": "gemini-2.5-flash-image",
}

MODELS_WITHOUT_IMAGE_SIZE = frozenset({"gemini-2.5-flash-image"})


def replacement_for(model: str) -> str | None:
    """The GA id that replaced a retired ``model``, or ``None``."""
    name = model.removeprefix("models/")
    return RETIRED_MODELS.get(name)


EDITING_MODELS = frozenset(
    {"gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image", *RETIRED_MODELS}
)
"""Models that take an image with the instruction and answer the edited image.

Every Gemini image model does (the docs' "Image editing"); the retired previews did too,
and a proxy may still serve them.
"""

SIGNING_MODELS = frozenset(
    {
        "gemini-3-pro-image",
        "gemini-3.1-flash-image",
        "gemini-3-pro-image-preview",
        "gemini-3.1-flash-image-preview",
    }
)
"""Gemini 3 image models: their answers carry ``thoughtSignature`` parts, which the next
turn of a conversation must send back (the Developer API answers 400 when one is missing).
2.5 flash signs nothing: its images are edited afresh, image and instruction in one turn.
"""

# Known not to edit: Imagen (text to image only on the Gemini API), and the text-only Gemini
# models (no image out at all). Any other id is unknown, not refused: a proxy's own model.
_CANNOT_EDIT = re.compile(
    r"^(?:imagen-.*|gemini-\d[\w.]*-(?:pro|flash|flash-lite)(?:-preview[\w-]*|-\d{3}|-latest)?)$"
)


def can_edit(model: str) -> bool | None:
    """Whether ``model`` edits images: ``True``, ``False`` (known not to) or ``None`` (unknown).

    An id with ``image`` in its name that is not listed is unknown rather than refused: it
    may be a newer image model than this table.
    """
    name = model.removeprefix("models/")
    if name in EDITING_MODELS:
        return True
    if _CANNOT_EDIT.match(name) and ("image" not in name or name.startswith("imagen-")):
        return False
    return None


def signs_turns(model: str) -> bool:
    """Whether ``model``'s answers carry thought signatures worth keeping for an edit."""
    return model.removeprefix("models/") in SIGNING_MODELS
