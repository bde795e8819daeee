"""What a prompt says a slide must read: the strings it quotes.

A deck that asks for the text check without stating ``text`` is checked against the
prompt's quotations, so which marks count is a contract (docs/design.md):

- straight double quotes ``"..."``; curly double quotes ``“...”``; the low-high pairs of
  German and Polish ``„...“`` and ``„...”``; guillemets ``«...»``; CJK corner brackets
  ``「...」`` and ``『...』``.
- *Not* single quotes of any kind: ``'`` and ``’`` are apostrophes far more often than
  quotes in a prompt (``the company's Q3``), and a stray one would swallow a sentence.

A quotation never spans a line (an unclosed mark then takes nothing), and one is kept only
when it holds some visible text and at most :data:`MAX_QUOTE_CHARS` characters: a longer
one is a passage for the model to read, not words to put on the slide. Repeats count once.
"""

from __future__ import annotations

import re

__all__ = ["MAX_QUOTE_CHARS", "expected_text"]

MAX_QUOTE_CHARS = 100
"""The longest quotation taken as a slide's text (a slide's heading or line is shorter)."""

_QUOTED = re.compile(
    r'"([^"\n]*)"'  # straight
    r"|“([^”\n]*)”"  # English curly
    r"|„([^“”\n]*)[“”]"  # German / Polish
    r"|«([^»\n]*)»"  # guillemets
    r"|「([^」\n]*)」"  # corner brackets
    r"|『([^』\n]*)』"  # white corner brackets
)


def expected_text(prompt: str) -> tuple[str, ...]:
    """The strings ``prompt`` quotes, in order, stripped, each once (rules: module docstring)."""
    found: dict[str, None] = {}
    for match in _QUOTED.finditer(prompt):
        text = " ".join(next(g for g in match.groups() if g is not None).split())
        if text and len(text) <= MAX_QUOTE_CHARS:
            found.setdefault(text, None)
    return tuple(found)
