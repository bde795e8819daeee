"""A request's contents as turns and parts, and what an edit request asks for.

The signature check (:mod:`.signatures`) and the edit answer (:mod:`.editing`) both need
the contents' structure, not just their text: which content is the model's, which part is a
thought, which part carries which ``thoughtSignature``. :mod:`.validation` builds these
while it reads a body; this module only describes them and finds an edit among them.

An edit is recognised the way a client asks for one (docs/design.md, "The emulator"):

- **chained**: the last content is the user's and some model content comes before it; the
  base is the last non-thought image of the last model content, the instruction is the last
  user content's text, and an image in that user content is the marked copy of a region edit;
- **fresh**: no model content holds an image, and the last user content *starts* with an
  image (a slide body with reference images starts with its text); the base is that image,
  a second image is the marked copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Edit", "InlineImage", "Part", "Turn", "find_edit"]

PartKind = Literal["text", "image", "other"]


@dataclass(frozen=True, slots=True)
class InlineImage:
    """An image a request carries, decoded from its base64.

    Attributes:
        mime_type: as the request states it.
        digest: :func:`~.stats.image_digest` of the bytes.
        data: the bytes.
    """

    mime_type: str
    digest: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a content, as far as signatures and edits care.

    Attributes:
        kind: ``text``, ``image`` (inline data) or ``other`` (a file, a function call...).
        thought: the part is marked ``"thought": true``.
        text: the text of a text part.
        image: the decoded image of an image part.
        signature: its ``thoughtSignature`` as sent, if any.
    """

    kind: PartKind
    thought: bool = False
    text: str = ""
    image: InlineImage | None = None
    signature: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Turn:
    """One content: its role (``user`` when none is given) and its parts, in order."""

    role: str
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Edit:
    """What an edit request asks: change ``base`` as ``instruction`` says.

    Attributes:
        base: the image to edit.
        instruction: the text of the last user content.
        marked: the marked copy of ``base`` (a region edit), if one was sent.
        fresh: the base came from the user, not from a model turn.
        context: the text of the user turn that made ``base`` ("" for a fresh edit).
    """

    base: InlineImage
    instruction: str
    marked: InlineImage | None = None
    fresh: bool = False
    context: str = ""


def _images(turn: Turn) -> list[InlineImage]:
    return [p.image for p in turn.parts if p.image is not None and not p.thought]


def _text(turn: Turn) -> str:
    return "\n".join(p.text for p in turn.parts if p.kind == "text" and not p.thought)


def find_edit(turns: tuple[Turn, ...]) -> Edit | None:
    """The edit ``turns`` ask for, or ``None`` for a generation (rules: module docstring)."""
    if not turns or turns[-1].role == "model":
        return None
    last = turns[-1]
    models = [i for i, t in enumerate(turns[:-1]) if t.role == "model"]
    if models:
        made = _images(turns[models[-1]])
        if made:
            marked = _images(last)
            asked = turns[models[-1] - 1] if models[-1] > 0 else None
            context = _text(asked) if asked is not None and asked.role == "user" else ""
            return Edit(made[-1], _text(last), marked[0] if marked else None, context=context)
    first = next((p for p in last.parts if p.kind != "other"), None)
    if first is None or first.kind != "image":
        return None
    given = _images(last)
    if not given:
        return None
    return Edit(given[0], _text(last), given[1] if len(given) > 1 else None, fresh=True)
