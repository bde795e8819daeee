"""Style presets (styles.py): how a slide's style wraps its prompt, seen through load_config."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_testing import deck, one


@pytest.mark.parametrize(
    ("style", "start", "end"),
    [
        ("professional", "Professional presentation slide: Q3 sales.", "clear typography."),
        ("data-viz", "Data visualization slide: Q3 sales.", "professional color scheme."),
        ("infographic", "Infographic style: Q3 sales.", "icons and illustrations."),
        ("Professional", "Professional presentation slide: Q3 sales.", "clear typography."),
    ],
)
def test_presets_wrap_the_prompt(base: Path, style: str, start: str, end: str) -> None:
    slide = one(deck({"prompt": " Q3 sales ", "style": style}), base)
    assert slide.full_prompt.startswith(start)
    assert slide.full_prompt.endswith(end)
    assert slide.prompt == " Q3 sales "
    assert slide.style == style.lower()


def test_trendlife_wraps_with_the_brand_colours(base: Path) -> None:
    full = one(deck({"prompt": "Roadmap", "style": "trendlife"}), base).full_prompt
    assert "Roadmap" in full
    for colour in ("#D71920", "#6F0000", "#57585B", "#808285", "#E7E6E6"):
        assert colour in full
    assert "logo" in full.lower()


def test_any_other_style_leaves_the_prompt_alone(base: Path) -> None:
    slide = one(deck({"prompt": "A {braced} prompt", "style": "watercolour"}), base)
    assert (slide.full_prompt, slide.style) == ("A {braced} prompt", "watercolour")
