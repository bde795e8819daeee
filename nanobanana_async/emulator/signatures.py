"""``thoughtSignature`` values the emulator can check, and the check the service makes.

The real signatures are opaque; the Developer API refuses a Gemini 3 image model's turn
sent back without them, or with one it did not issue (design26, facts 3, 5, 6). The
emulator's signature is a 48-byte header, ``NBE1`` then an HMAC (a fixed secret, so every
emulator instance accepts every other's) of the model, the part's kind and the digest of
its content, followed by the usual filler (:func:`~.success_bodies.signature`): 48 bytes are
64 base64 characters, so the header's text and the filler's concatenate into one valid
base64 value and the filler keeps its compressed form. Signatures are compared decoded, so
the URL-safe alphabet the official SDK sends back passes as well as the standard one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from .stats import image_digest
from .turns import Part, Turn
from .validation import decode_bytes

__all__ = ["BYPASS", "HEADER_CHARS", "corrupted", "header", "problem", "text_digest"]

_SECRET = b"nanobanana-async emulator thought signatures, v1"
_MAGIC = b"NBE1"
_HEADER_BYTES = 48
HEADER_CHARS = _HEADER_BYTES // 3 * 4
# The values the documentation lets a client send when it has no signature (fact 6).
BYPASS = frozenset({"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"})
_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures#model-behavior"
_NAMES = {"text": "Text", "image": "Image", "other": "Function call"}


def text_digest(text: str) -> str:
    """The content digest a text part is signed over."""
    return image_digest(text.encode())


def _mac(model: str, kind: str, digest: str) -> bytes:
    message = f"{model}|{kind}|{digest}".encode()
    return hmac.new(_SECRET, message, hashlib.sha384).digest()[: _HEADER_BYTES - len(_MAGIC)]


def header(model: str, kind: str, digest: str) -> bytes:
    """The base64 text (64 characters) a signature of this part starts with."""
    return base64.b64encode(_MAGIC + _mac(model, kind, digest))


def _valid(signature: str, model: str, part: Part) -> bool:
    if signature in BYPASS:
        return True
    raw = decode_bytes(signature)
    if raw is None:
        return False
    if raw.decode("ascii", "replace") in BYPASS:
        return True
    if part.kind == "image" and part.image is not None:
        digest = part.image.digest
    elif part.kind == "text":
        digest = text_digest(part.text)
    else:
        return False
    expected = _MAGIC + _mac(model, part.kind, digest)
    return hmac.compare_digest(raw[:_HEADER_BYTES], expected)


def corrupted() -> str:
    """The message of a signature the service did not issue for this part and model."""
    return "Corrupted thought signature."


def problem(turns: tuple[Turn, ...], model: str) -> str | None:
    """The 400's message for the first model part whose signature is missing or wrong.

    In each model content, thought parts are skipped; the first other part and every image
    part must carry a signature, and any signature sent on them must be one issued for that
    part's content by ``model``. User contents are never checked. Positions count from 1.
    """
    for content, turn in enumerate(turns, start=1):
        if turn.role != "model":
            continue
        first = True
        for position, part in enumerate(turn.parts, start=1):
            if part.thought:
                continue
            needed = first or part.kind == "image"
            first = False
            if part.signature is None:
                if needed:
                    return (
                        f"{_NAMES[part.kind]} part is missing a thought_signature in content "
                        f"position {content}, part position {position}. Please refer to "
                        f"{_DOCS} for more details."
                    )
                continue
            if not _valid(part.signature, model, part):
                return corrupted()
    return None
