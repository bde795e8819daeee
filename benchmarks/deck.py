"""The decks the benchmarks generate: distinct, realistic slide prompts, their configs, and
how a slide's image is saved outside the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanobanana_async.config.schema import ImageFormat
from nanobanana_async.files.atomic import write_atomic
from nanobanana_async.files.images import encode_image, image_mode

__all__ = ["MODEL", "deck_config", "prompts", "save_image"]

MODEL = "gemini-3-pro-image"

_TOPICS = (
    ("Quarterly results", "Revenue up 12%, margin steady, three charts side by side."),
    ("Architecture overview", "Gateway, scheduler, workers and storage as boxes and arrows."),
    ("Customer journey", "Five stages from discovery to renewal on a horizontal timeline."),
    ("Testing pyramid", "Unit tests at the base, integration above, end to end on top."),
    ("Hiring plan", "Twelve roles across four teams, as a grid of labelled cards."),
    ("Risk register", "Top five risks with likelihood and impact on a two-axis chart."),
    ("Roadmap", "Three milestones per quarter, with dependencies drawn as lines."),
    ("Team values", "Four values, each with an icon and one sentence underneath."),
)


def prompts(count: int, *, distinct: bool = True) -> list[str]:
    """``count`` slide prompts: numbered and distinct, or cycling through eight topics."""
    topics = (_TOPICS[n % len(_TOPICS)] for n in range(count))
    if not distinct:
        return [f"{title}. {detail}" for title, detail in topics]
    return [f"Slide {n}: {title}. {detail}" for n, (title, detail) in enumerate(topics, 1)]


def deck_config(
    count: int,
    output_dir: Path,
    *,
    image_size: str,
    fmt: str,
    quality: int = 90,
    distinct: bool = True,
) -> dict[str, Any]:
    """A config for ``count`` slides at ``image_size``, saved as ``fmt`` (no preset style).

    No slide has a preset style, since styles switch WebP to lossless; the format and quality
    asked are the ones applied to every slide. With ``distinct=False`` the prompts repeat
    every eight slides, so the emulator draws eight images and serves the rest from its
    cache (the client still receives, decodes and saves every one).
    """
    return {
        "slides": [
            {"number": n, "prompt": prompt, "aspect_ratio": "16:9"}
            for n, prompt in enumerate(prompts(count, distinct=distinct), start=1)
        ],
        "output_dir": str(output_dir),
        "model": MODEL,
        "format": fmt,
        "quality": quality,
        "image_size": image_size,
    }


def save_image(data: bytes, dest: Path, *, fmt: ImageFormat, quality: int, lossless: bool) -> None:
    """What the engine's save does, synchronously: convert (the slow part), then write.

    For the baselines and the CPU ceiling, which convert in threads of their own.
    """
    encoded = encode_image(data, fmt=fmt, quality=quality, lossless=lossless)
    write_atomic(dest, encoded.data, mode=image_mode())
