"""What a slide's image says: its text read back (OCR) and checked against what it must say.

The text a slide must show is stated (``text``) or quoted in its prompt
(:func:`expected_text`); :func:`read_text` reads an image (the optional ``qa`` extra;
:func:`require_qa` says whether it is installed); :func:`match_text` judges the reading
(:class:`TextCheck`: ``ok``, ``missing``, ``unreadable``); :func:`correction_instruction`
is the edit that fixes a miss. Nothing here sends a request or writes a file.
"""

from .matching import (
    THRESHOLD,
    Missing,
    TextCheck,
    TextState,
    correction_instruction,
    match_text,
    normalise,
)
from .quotes import MAX_QUOTE_CHARS, expected_text
from .reading import (
    MAX_SIDE,
    MISSING_QA,
    QaUnavailable,
    ReadText,
    TextLine,
    read_text,
    read_text_async,
    require_qa,
)

__all__ = [
    "MAX_QUOTE_CHARS",
    "MAX_SIDE",
    "MISSING_QA",
    "THRESHOLD",
    "Missing",
    "QaUnavailable",
    "ReadText",
    "TextCheck",
    "TextLine",
    "TextState",
    "correction_instruction",
    "expected_text",
    "match_text",
    "normalise",
    "read_text",
    "read_text_async",
    "require_qa",
]
