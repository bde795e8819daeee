"""From a validated config to the plan of jobs: one request body and one destination per slide.

Everything that can be decided before the first request is decided here, once: the wire
body (style-wrapped prompt, image settings, reference image inlined), where the image
goes, and how it is saved. The scheduler then only moves jobs; it never looks at a config.

A reference image goes in as the loader read and checked it (``config.reference_images``):
the file is not read again, so what is sent is what was checked, whatever lies under its
name by now, and the slides naming one file share one base64 string. Only a config built
by hand, not by the loader, has its images read here, the same way and once each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.loading import BatchConfig
from ..config.references import ReferenceImage, read_reference
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


def plan_jobs(config: BatchConfig) -> list[Job]:
    """The jobs of ``config``, in config order.

    Raises:
        ConfigError: a reference image the loader did not read fails its checks.
    """
    references: dict[Path, ReferenceImage] = dict(config.reference_images)
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
            image = references.get(spec.reference_image)
            if image is None:
                image = read_reference(spec.reference_image, f"slides[{index}].reference_image")
                references[spec.reference_image] = image
            part = {"inlineData": {"mimeType": image.mime_type, "data": image.data}}
            body["contents"][0]["parts"].append(part)
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
