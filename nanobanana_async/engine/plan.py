"""From a validated config to the plan of jobs: one request body and one destination per slide.

Everything that can be decided before the first request is decided here, once: the wire
body (style-wrapped prompt, image settings, reference image inlined), where the image
goes, and how it is saved. The scheduler then only moves jobs; it never looks at a config.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.loading import BatchConfig, SlideSpec
from ..errors import ConfigError
from ..service.protocol import build_request

__all__ = ["Job", "plan_jobs"]


@dataclass(frozen=True, slots=True)
class Job:
    """One slide to generate.

    Attributes:
        slide: the slide number from the config.
        body: the ``generateContent`` request body.
        dest: the final path of the image.
        fmt: the format to save in.
        quality: encoder quality for lossy formats.
        lossless: WebP lossless (slides in preset styles).
    """

    slide: int
    body: dict[str, Any]
    dest: Path
    fmt: Literal["webp", "png", "jpg"]
    quality: int
    lossless: bool


def _reference_part(spec: SlideSpec, index: int) -> dict[str, Any]:
    path = spec.reference_image
    assert path is not None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"slides[{index}].reference_image", f"cannot read {path}: {exc.strerror}"
        ) from None
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode("ascii")}}


def plan_jobs(config: BatchConfig) -> list[Job]:
    """The jobs of ``config``, in config order."""
    jobs = []
    for index, spec in enumerate(config.slides):
        body = build_request(
            spec.full_prompt,
            model=config.model,
            aspect_ratio=spec.aspect_ratio,
            image_size=spec.image_size,
            temperature=spec.temperature,
            seed=spec.seed,
        )
        if spec.reference_image is not None:
            body["contents"][0]["parts"].append(_reference_part(spec, index))
        jobs.append(
            Job(
                slide=spec.number,
                body=body,
                dest=config.output_dir / spec.output_filename,
                fmt=spec.format,
                quality=spec.quality,
                lossless=spec.lossless,
            )
        )
    return jobs
