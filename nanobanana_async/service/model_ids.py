"""What the client knows of the image models: one table of facts, with its date.

Each fact is checked against Google's own pages (docs/models.md keeps each claim, its
source, and what could not be verified); where no page says, the table says ``None``.

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
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DEFAULT_MODEL",
    "DEPRECATED_PARAMETERS",
    "EDITING_MODELS",
    "FACTS_AS_OF",
    "IMAGE_MODELS",
    "MODELS_WITHOUT_IMAGE_SIZE",
    "PARAMETERS_DEPRECATED_ON",
    "RETIRED_MODELS",
    "RETIRED_ON",
    "SIGNING_MODELS",
    "ImageModel",
    "can_edit",
    "replacement_for",
    "shutdown_listed",
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

FACTS_AS_OF = "2026-12-07"
"""When :data:`IMAGE_MODELS` was last checked against Google's pages (docs/models.md)."""

_BASE_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_BANNER_RATIOS = ("1:4", "1:8", "4:1", "8:1")


@dataclass(frozen=True, slots=True)
class ImageModel:
    """What is known of one current image model; ``None`` where no Google page says.

    Attributes:
        name: the id in the URL.
        display_name: Google's name for it.
        image_sizes: the ``imageSize`` values it takes; empty: one size, none taken.
        aspect_ratios: the ``aspectRatio`` values it takes.
        shutdown_listed: the shutdown date Google's deprecations page lists, if any.
        source: where the facts were read (docs/models.md has each claim).
    """

    name: str
    display_name: str
    image_sizes: tuple[str, ...] | None
    aspect_ratios: tuple[str, ...] | None
    shutdown_listed: str | None
    source: str


_DEPRECATIONS = "ai.google.dev/gemini-api/docs/deprecations"
IMAGE_MODELS: Mapping[str, ImageModel] = MappingProxyType(
    {
        "gemini-3-pro-image": ImageModel(
            "gemini-3-pro-image",
            "Nano Banana Pro",
            ("1K", "2K", "4K"),
            _BASE_RATIOS,
            None,
            _DEPRECATIONS,
        ),
        "gemini-3.1-flash-image": ImageModel(
            "gemini-3.1-flash-image",
            "Nano Banana 2",
            ("512", "1K", "2K", "4K"),
            _BASE_RATIOS + _BANNER_RATIOS,
            None,  # integrators report 2026-10-29; Google's page announced none (unverified)
            _DEPRECATIONS,
        ),
        # GA 2026-06-30 (the changelog); its sizes and ratios are on no Google page found.
        "gemini-3.1-flash-lite-image": ImageModel(
            "gemini-3.1-flash-lite-image",
            "Nano Banana 2 Lite",
            None,
            None,
            None,
            "ai.google.dev/gemini-api/docs/changelog (2026-06-30)",
        ),
        "gemini-2.5-flash-image": ImageModel(
            "gemini-2.5-flash-image",
            "Nano Banana",
            (),
            _BASE_RATIOS,
            "2026-10-02",
            _DEPRECATIONS,
        ),
    }
)
"""Model id -> what is known of it, with :data:`FACTS_AS_OF`. Prices: :mod:`..cost.prices`."""

MODELS_WITHOUT_IMAGE_SIZE = frozenset(
    name for name, facts in IMAGE_MODELS.items() if facts.image_sizes == ()
)

DEPRECATED_PARAMETERS = ("temperature", "topP", "topK")
"""Sampling parameters Google deprecated (the changelog): the client sends none of them."""
PARAMETERS_DEPRECATED_ON = "2026-07-21"


def shutdown_listed(model: str) -> str | None:
    """The shutdown date Google lists for ``model``, a current id, or ``None``."""
    facts = IMAGE_MODELS.get(model.removeprefix("models/"))
    return facts.shutdown_listed if facts else None


def replacement_for(model: str) -> str | None:
    """The GA id that replaced a retired ``model``, or ``None``."""
    name = model.removeprefix("models/")
    return RETIRED_MODELS.get(name)


EDITING_MODELS = frozenset({*IMAGE_MODELS, *RETIRED_MODELS})
"""Models that take an image with the instruction and answer the edited image.

Every Gemini image model does (the docs' "Image editing"; Nano Banana 2 Lite "generation
and editing", the changelog); the retired previews did too, and a proxy may still serve them.
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
