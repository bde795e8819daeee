"""Style presets: fixed phrases that wrap a slide's prompt.

A deck reads as one deck when every slide is asked for in the same words, so a ``style``
that names a preset wraps the prompt in that preset's phrase before it is sent. The phrases
follow the upstream nano-banana skill's presets, so a deck made with it looks the same
when made here. Any other style string is accepted and changes nothing, as upstream:
decks written for styles this package does not know still run.

Preset names match case-insensitively (``Professional`` is the ``professional`` preset):
nobody writing that means anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["PRESETS", "apply_style", "preset_name"]

PRESETS: Mapping[str, str] = MappingProxyType(
    {
        "professional": (
            "Professional presentation slide: {prompt}. "
            "Clean, minimal design with clear typography."
        ),
        "data-viz": (
            "Data visualization slide: {prompt}. "
            "Clear charts and graphs, professional color scheme."
        ),
        "infographic": (
            "Infographic style: {prompt}. Visual storytelling with icons and illustrations."
        ),
        "trendlife": (
            "TrendLife brand presentation slide: {prompt}. "
            "Use the brand colours: Trend Red (#D71920) for titles, Guardian Red (#6F0000) "
            "for accents, greys #57585B, #808285 and #E7E6E6 for secondary elements, "
            "black text on a white background. Do not draw any logos."
        ),
    }
)
"""Preset name -> phrase; ``{prompt}`` is replaced by the slide's prompt."""


def preset_name(style: str | None) -> str | None:
    """The canonical preset a ``style`` names, or ``None`` for no style or a free-form one."""
    if style is None:
        return None
    name = style.strip().lower()
    return name if name in PRESETS else None


def apply_style(prompt: str, style: str | None) -> str:
    """The prompt to send: wrapped in the preset's phrase, or ``prompt`` itself otherwise.

    The prompt is stripped before wrapping so the phrase's own punctuation lands right
    (``...: {prompt}. Clean...``); without a preset it is returned exactly as written.
    """
    name = preset_name(style)
    if name is None:
        return prompt
    return PRESETS[name].replace("{prompt}", prompt.strip())
