"""The request body of one edit step: the last exchange sent back, then the instruction.

An edit continues a conversation rather than starting one (design26, "Wire"): the user turn
that made the previous image, rebuilt exactly; the model's turn as it was received, every
part and ``thoughtSignature`` on (Gemini 3 models need them: the Developer API answers 400
when one is missing); then the instruction. Only the last exchange goes, not the whole
history: each step would add an image and up to 3 MB of signature against the service's
20 MB inline limit.

A unit with no kept turn (an image from before turns were kept, a 2.5 flash image, a turn
the service refused) is edited *fresh*: one user turn, the image inline and the
instruction, as the docs' "Image editing" does for an image the model did not make.

A region is a hint, not a mask (the API has none): the instruction says which box may
change, in percent, and a marked copy of the image (:mod:`~..files.marking`) shows it.

Nothing here reads a file or sends a request; the caller hands in the bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "KEEP_THE_REST",
    "MARKED_MIME_TYPE",
    "EditStep",
    "Region",
    "edit_body",
    "edit_text",
    "images_in",
]

KEEP_THE_REST = "Keep everything else exactly as it is."
"""Appended to a step without a region: an edit is a small change, not a new layout."""

MARKED_MIME_TYPE = "image/jpeg"
"""The marked copy's type (:func:`~..files.marking.marked_copy` encodes JPEG)."""


class Region(NamedTuple):
    """A box on the image, in fractions of its width and height, from the top left.

    The config checks it (``0 <= x, y``; ``w, h >= 0.01``; ``x + w <= 1``; ``y + h <= 1``);
    a ``Region`` is also a plain ``(x, y, w, h)`` tuple.
    """

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class EditStep:
    """One step of a slide's edit chain, as the config gives it.

    Attributes:
        instruction: what to change, not blank.
        region: the box the change is limited to, or ``None`` for the whole image.
    """

    instruction: str
    region: Region | None = None


def edit_text(step: EditStep) -> str:
    """The instruction as sent: with :data:`KEEP_THE_REST`, or the box in words.

    A region's sentence names the box in whole percent (``x 10-60 %, y 5-25 %``), the way
    a person would mark it, and asks that the rectangle not be drawn: the model sees it on
    the marked copy.
    """
    instruction = step.instruction.strip()
    if instruction[-1:] not in (".", "!", "?"):
        instruction += "."
    if step.region is None:
        return f"{instruction} {KEEP_THE_REST}"
    x, y, w, h = step.region
    return (
        "Change only what is inside the magenta rectangle on the attached copy "
        f"(x {_percent(x)}-{_percent(x + w)} %, y {_percent(y)}-{_percent(y + h)} %). "
        f"{instruction} Nothing outside it changes; do not draw the rectangle."
    )


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100):d}"


def _inline(data: bytes, mime_type: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode("ascii")}}


def edit_body(
    *,
    generation_config: Mapping[str, Any],
    user_parts: Sequence[Mapping[str, Any]] | None,
    model_turn: Mapping[str, Any] | None,
    image: bytes,
    mime_type: str,
    step: EditStep,
    marked: bytes | None,
) -> dict[str, Any]:
    """The ``generateContent`` body of one edit step.

    Args:
        generation_config: the slide's ``generationConfig`` (``responseModalities``,
            ``imageConfig``, ``temperature``, ``seed``), sent as given.
        user_parts: the parts of the user turn that made the previous image, rebuilt
            exactly (the slide body's, or the previous step's text and marked copy). Only
            read with ``model_turn``.
        model_turn: the previous answer's ``candidates[0].content`` as received
            (:attr:`~.protocol.GeneratedImage.turn`: its delivered image's base64 emptied),
            or ``None`` for a fresh edit.
        image: the previous image's bytes, as received: in a fresh edit, sent inline in the
            user's turn; otherwise put back where ``model_turn``'s image part is empty.
        mime_type: ``image``'s type.
        step: the instruction, and its region.
        marked: the marked copy of ``image`` (JPEG) for a region step, else ``None``.

    Raises:
        ValueError: a region step without its marked copy, a marked copy without a region,
            or a model turn without the user turn that led to it.
    """
    if (step.region is None) != (marked is None):
        raise ValueError("a marked copy goes with a region step, and only with one")
    instruction: list[dict[str, Any]] = [{"text": edit_text(step)}]
    if marked is not None:
        instruction.append(_inline(marked, MARKED_MIME_TYPE))
    if model_turn is None:
        contents = [{"role": "user", "parts": [_inline(image, mime_type), *instruction]}]
    else:
        if user_parts is None:
            raise ValueError("a model turn is sent back after the user turn that led to it")
        contents = [
            {"role": "user", "parts": list(user_parts)},
            {**model_turn, "role": "model", "parts": _refilled(model_turn, image)},
            {"role": "user", "parts": instruction},
        ]
    return {"contents": contents, "generationConfig": dict(generation_config)}


def _refilled(model_turn: Mapping[str, Any], image: bytes) -> list[Any]:
    """The turn's parts, its delivered image's emptied base64 filled with ``image`` again."""
    parts: list[Any] = []
    encoded: str | None = None
    for part in model_turn.get("parts") or ():
        for key in ("inlineData", "inline_data"):
            inline = part.get(key) if isinstance(part, Mapping) else None
            if isinstance(inline, Mapping) and inline.get("data") == "" and not part.get("thought"):
                encoded = encoded or base64.b64encode(image).decode("ascii")
                part = {**part, key: {**inline, "data": encoded}}
        parts.append(part)
    return parts


def images_in(contents: Sequence[Mapping[str, Any]]) -> int:
    """How many images ``contents`` sends, thought images included: what an edit is billed
    for as input (:func:`~..cost.estimate.edit_cost`)."""
    count = 0
    for content in contents:
        for part in content.get("parts") or ():
            if isinstance(part, Mapping) and (part.get("inlineData") or part.get("inline_data")):
                count += 1
    return count
