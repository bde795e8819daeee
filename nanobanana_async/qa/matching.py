"""Whether what a slide was meant to say is what it says.

Each expected string is looked for in the text read, both *normalised*: Unicode NFKC,
case folded, accents (the Latin/Greek/Cyrillic combining marks) dropped, punctuation and
all spacing removed, and the shapes OCR cannot tell apart in sans type folded together
(``0``/``o``; ``1``/``l``/``|``/``!``; not ``i``/``l``, whose swap is a typical typo). What
is left is letters, digits and symbols, so "Q3 results!" matches "Q3 Results", and a line
break inside a heading matches its space.

The *similarity* of an expected string is ``1 - d / n``: ``d`` the fewest single-character
edits (insert, delete, substitute) turning it into some stretch of the text read, ``n``
its normalised length. The stretch may run across lines: the lines are searched in
reading order, joined, and each line also joined to the nearest line below it that it
overlaps, so text the model (or the OCR) split over two lines is still found.

A string is *found* when its similarity is at least :data:`THRESHOLD` (0.97). Why: a
misspelling is one or two edits (two letters swapped is two), so up to 33 characters (a
heading, a line) any edit is flagged; a longer line is allowed one slip of the OCR per 34
characters, which on clean slide type it seldom makes (benchmarks/README.md).

A slide is ``ok`` when every string is found, ``missing`` otherwise (each with the closest
stretch read, as read, and its similarity), and ``unreadable`` when no text at all was read.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .reading import ReadText, TextLine

__all__ = [
    "THRESHOLD",
    "Missing",
    "TextCheck",
    "TextState",
    "correction_instruction",
    "match_text",
    "normalise",
]

THRESHOLD = 0.97
"""The similarity at or above which an expected string counts as found."""

TextState = Literal["ok", "missing", "unreadable"]

# Not i with l: folding them would hide "moblie" for "mobile", a typical swap.
_FOLD = str.maketrans({"0": "o", "1": "l", "|": "l", "!": "l"})


def _fold_char(char: str) -> str:
    """``char`` normalised (module docstring); empty for punctuation, spacing and accents."""
    out = []
    for part in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold()):
        if "\u0300" <= part <= "\u036f":  # accents on Latin, Greek, Cyrillic letters
            continue
        category = unicodedata.category(part)
        if part in "|!" or category[0] not in "PZC":
            out.append(part)
    return unicodedata.normalize("NFC", "".join(out)).translate(_FOLD)


def normalise(text: str) -> str:
    """``text`` as compared: see the module docstring."""
    return "".join(_fold_char(char) for char in text)


def _indexed(text: str) -> tuple[str, list[int]]:
    """``text`` normalised, and for each of its characters the index it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in _fold_char(char):
            chars.append(part)
            origin.append(index)
    return "".join(chars), origin


def _best_stretch(needle: str, haystack: str) -> tuple[int, int, int]:
    """(edits, start, end) of the stretch of ``haystack`` closest to ``needle`` (Sellers)."""
    if not haystack:
        return len(needle), 0, 0
    previous = [0] * (len(haystack) + 1)
    starts = list(range(len(haystack) + 1))
    for row, wanted in enumerate(needle, 1):
        current = [row] + [0] * len(haystack)
        current_starts = [0] * (len(haystack) + 1)
        for col, seen in enumerate(haystack, 1):
            options = (
                (previous[col - 1] + (wanted != seen), starts[col - 1]),
                (previous[col] + 1, starts[col]),
                (current[col - 1] + 1, current_starts[col - 1]),
            )
            current[col], current_starts[col] = min(options)
        previous, starts = current, current_starts
    end = min(range(len(haystack) + 1), key=lambda col: (previous[col], -col))
    return previous[end], starts[end], end


@dataclass(frozen=True, slots=True)
class Missing:
    """An expected string not found.

    Attributes:
        expected: the string, as the slide asks for it.
        closest: the stretch of text read closest to it, as read ("" when nothing was read).
        similarity: ``1 - edits / length``, 0-1, rounded to 2 places.
    """

    expected: str
    closest: str
    similarity: float


@dataclass(frozen=True, slots=True)
class TextCheck:
    """The text check of one image.

    Attributes:
        state: ``ok``, ``missing`` or ``unreadable``.
        expected: the strings checked, in order.
        missing: the strings not found (empty when ``ok``; every one when ``unreadable``).
    """

    state: TextState
    expected: tuple[str, ...]
    missing: tuple[Missing, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The compact form the results and progress files carry.

        ``{"state": "ok"}``, ``{"state": "unreadable"}``, or ``{"state": "missing",
        "missing": [{"expected": ..., "closest": ..., "similarity": 0.8}]}``.
        """
        if self.state != "missing":
            return {"state": self.state}
        return {
            "state": "missing",
            "missing": [
                {"expected": m.expected, "closest": m.closest, "similarity": m.similarity}
                for m in self.missing
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], expected: Sequence[str] = ()) -> TextCheck:
        """A check back from :meth:`to_json` (``expected`` as the slide states it)."""
        missing = tuple(
            Missing(str(m["expected"]), str(m["closest"]), float(m["similarity"]))
            for m in data.get("missing", ())
        )
        return cls(data["state"], tuple(expected), missing)


def _haystacks(lines: Sequence[TextLine]) -> list[str]:
    """The texts searched: every line joined in reading order, and each line with the
    nearest one below it that overlaps it across (a heading split in two, in a column)."""
    texts = [" ".join(line.text for line in lines)]
    for index, line in enumerate(lines):
        below = [
            other
            for other in lines[index + 1 :]
            if other.box[1] >= (line.box[1] + line.box[3]) / 2
            and other.box[0] < line.box[2]
            and line.box[0] < other.box[2]
        ]
        if below:
            texts.append(f"{line.text} {min(below, key=lambda o: o.box[1]).text}")
    return texts


def match_text(expected: Sequence[str], read: ReadText) -> TextCheck:
    """Check each string of ``expected`` against ``read`` (rules: module docstring)."""
    wanted = tuple(expected)
    if not read.lines:
        state: TextState = "unreadable" if wanted else "ok"
        return TextCheck(state, wanted, tuple(Missing(e, "", 0.0) for e in wanted))
    haystacks = [(text, *_indexed(text)) for text in _haystacks(read.lines)]
    missing = []
    for text in wanted:
        needle = normalise(text)
        if not needle:
            continue
        best = (len(needle) + 1, "")
        for raw, folded, origin in haystacks:
            edits, start, end = _best_stretch(needle, folded)
            if edits < best[0]:
                closest = raw[origin[start] : origin[end - 1] + 1] if end > start else ""
                best = (edits, closest.strip())
        similarity = max(0.0, 1 - best[0] / len(needle))
        if similarity < THRESHOLD:
            missing.append(Missing(text, best[1], round(similarity, 2)))
    return TextCheck("missing" if missing else "ok", wanted, tuple(missing))


def correction_instruction(check: TextCheck) -> str:
    """The edit instruction that fixes ``check``'s misses, and nothing else.

    Each miss is named with what the slide reads now, so the model changes that text only:
    ``the text reads 'Q3 Resluts'; it must read 'Q3 Results'; change nothing else``. A
    string with nothing close on the slide is asked for outright; an unreadable slide is
    asked to show every string legibly. Empty when ``check`` is ``ok``.
    """
    if check.state == "ok":
        return ""
    if check.state == "unreadable":
        wanted = "; ".join(f"it must read '{m.expected}'" for m in check.missing)
        return f"the slide's text cannot be read; make it legible: {wanted}; change nothing else"
    parts = []
    for miss in check.missing:
        if miss.closest and miss.similarity >= 0.5:
            parts.append(f"the text reads '{miss.closest}'; it must read '{miss.expected}'")
        else:
            parts.append(
                f"the text '{miss.expected}' is missing; add it: it must read '{miss.expected}'"
            )
    return "; ".join(parts) + "; change nothing else"
