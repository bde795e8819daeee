"""What the client needs to know about model ids, and nothing more.

The client does not refuse model ids locally: a proxy behind a custom base URL may still
serve an id the public service retired. It only needs the default, the replacements of
retired ids (the config maps one to its replacement on Google's endpoint, and the service's
404 elsewhere becomes a message that names the fix), and which models reject
``imageSize``. The emulator keeps its own, fuller catalogue on purpose, so the two are
independent statements of the same facts and a test can catch either being wrong.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_WITHOUT_IMAGE_SIZE",
    "RETIRED_MODELS",
    "RETIRED_ON",
    "replacement_for",
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
