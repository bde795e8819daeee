"""Which slides the emulator misspells, and how: so the text check can be tested end to end.

With ``misspell_rate`` r, a slide whose prompt quotes text gets one typo when a CRC of
(seed, prompt) falls in the lowest r of its range (a request scripted ``misspell`` gets
one whatever the CRC): two adjacent letters of one quoted word (of four letters or more)
swapped, the word and the place picked by the same CRC. No random draw is taken, so a
seed's other draws do not move, and the same request always gets the same image (the
image cache and the benchmarks' repeats stay warm).

An edit whose instruction says ``it must read '...'`` (the text check's correction) is
answered with the slide redrawn from the prompt that made it, spelt right; one scripted
``misspell`` keeps the typo (a correction the model got wrong), so a slide that stays wrong
can be tested. A correction is never misspelt by the rate: the same prompt would always be.
"""

from __future__ import annotations

import re
import zlib

from ..qa.quotes import expected_text

__all__ = ["corrects", "misspelt"]

_WORD = re.compile(r"[^\W\d_]{4,}")
_CORRECTION = re.compile(r"it must read '")


def _fraction(seed: int, prompt: str) -> float:
    return zlib.crc32(f"{seed}\0{prompt}".encode()) / 2**32


def misspelt(prompt: str, *, rate: float, seed: int) -> tuple[str, ...] | None:
    """The quoted strings to draw with one typo, or ``None`` when the slide is spelt right
    (``rate`` 1 misspells every slide that quotes a word of four letters or more)."""
    if rate <= 0 or _fraction(seed, prompt) >= rate:
        return None
    quoted = list(expected_text(prompt))
    words = [(i, m) for i, text in enumerate(quoted) for m in _WORD.finditer(text)]
    words = [(i, m) for i, m in words if len(set(m.group()[1:-1])) > 1]
    if not words:
        return None
    pick = zlib.crc32(f"{prompt}\0{seed}".encode())
    index, match = words[pick % len(words)]
    word = match.group()
    # Two different adjacent letters inside the word (the first and last stay: readers
    # still see the word's shape, as with a model's typo).
    places = [k for k in range(1, len(word) - 2) if word[k] != word[k + 1]] or [1]
    k = places[(pick // 7) % len(places)]
    wrong = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    text = quoted[index]
    quoted[index] = text[: match.start()] + wrong + text[match.end() :]
    return tuple(quoted)


def corrects(instruction: str, context: str) -> bool:
    """Whether an edit asks for the text of a slide made from ``context`` (a prompt that
    quotes text) to be corrected (``it must read '...'``)."""
    return _CORRECTION.search(instruction) is not None and bool(expected_text(context))
