"""From a validated config to the plan of jobs: one request body and one destination per slide.

Everything that can be decided before the first request is decided here, once: the wire
body (style-wrapped prompt, image settings, reference images inlined), where the image
goes, and how it is saved. The scheduler then only moves jobs; it never looks at a config.

A reference image goes in as the loader read and checked it (``config.reference_images``):
the file is not read again, so what is sent is what was checked, whatever lies under its
name by now, and the slides naming one file share one base64 string. Only a config built
by hand, not by the loader, has its images read here, the same way and once each. A body
carries the deck's ``style_reference`` first, then the slide's own ``reference_image`` (the
same file only once); together they must fit the service's inline limit.

With ``"consistency": "first-slide"`` every slide but the first *follows* it: its body ends
with a placeholder part where the first slide's image goes, and is completed in place
(:meth:`Job.follow`, which replaces that last part) once that image is known: by the rerun
plan when the first slide is kept from an earlier run, by the run once it has it. The
manifest digests the body as sent, so a follower's digest covers the very bytes of the
image it followed, and a follower made with an older first slide is generated again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.loading import DeckConfig, slide_where
from ..config.references import ReferenceImage, check_inline_total, read_reference
from ..errors import ConfigError
from ..service.edit_body import EditStep
from ..service.protocol import build_request
from ..wording import slide_ranges

__all__ = ["Job", "check_regenerate", "plan_jobs"]

# The placeholder part of a follower's body: never sent (the run completes the body first).
_FOLLOWS = "followsSlide"


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
        follows: the slide whose image this body sends as a reference (the first slide,
            under ``"consistency": "first-slide"``), or ``None``.
        prompt: the prompt as the user wrote it (before a style wraps it), recorded in the
            manifest for the deck's speaker notes.
        variants: how many candidates are made of the slide (:mod:`.chains`).
        pick: which candidate the slide is, and what ``edits`` apply to.
        edits: the slide's edit chain, in order.
        tier: the service tier its requests ask for (put on the body when sent, never in
            ``body``: a deck moved to another tier is not a changed deck).
    """

    slide: int
    body: dict[str, Any]
    dest: Path
    fmt: Literal["webp", "png", "jpg"]
    quality: int
    lossless: bool
    follows: int | None = None
    prompt: str = ""
    variants: int = 1
    pick: int = 1
    edits: tuple[EditStep, ...] = ()
    tier: str = "standard"

    def candidate_path(self, number: int) -> Path:
        """Where candidate ``number`` of a slide of several is saved: ``<stem>.v<k><ext>``."""
        return self.dest.with_name(f"{self.dest.stem}.v{number}{self.dest.suffix}")

    @property
    def _parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = self.body["contents"][0]["parts"]
        return parts

    @property
    def pending(self) -> bool:
        """Whether the body still waits for the image of the slide it follows."""
        return _FOLLOWS in self._parts[-1]

    @property
    def images(self) -> int:
        """The images the request carries, the one it still waits for included."""
        return sum(1 for part in self._parts if "inlineData" in part or _FOLLOWS in part)

    def inline_sizes(self) -> list[int]:
        """The base64 length of each image the body holds now."""
        return [len(part["inlineData"]["data"]) for part in self._parts if "inlineData" in part]

    def follow(self, image: ReferenceImage) -> None:
        """Complete the body, in place, with the image of the slide it follows.

        The image is the body's last part: following again (the first slide made anew)
        replaces the image followed before.
        """
        assert self.follows is not None, "only a slide that follows another has its image"
        self._parts[-1] = {"inlineData": {"mimeType": image.mime_type, "data": image.data}}


def plan_jobs(config: DeckConfig) -> list[Job]:
    """The jobs of ``config``, in config order.

    Raises:
        ConfigError: a reference image the loader did not read fails its checks.
    """
    references: dict[Path, ReferenceImage] = dict(config.reference_images)

    def reference(path: Path, where: str) -> ReferenceImage:
        image = references.get(path)
        if image is None:
            image = references[path] = read_reference(path, where)
        return image

    style = None
    if config.style_reference is not None:
        style = reference(config.style_reference, "style_reference")
    leader = config.slides[0].number if config.consistency == "first-slide" else None
    jobs = []
    for index, spec in enumerate(config.slides):
        body = build_request(
            spec.full_prompt,
            model=config.model,
            aspect_ratio=spec.aspect_ratio,
            image_size=spec.image_size,
            # In the planned body (so a deck made with it keeps its slides' keys), dropped
            # when sent: Google deprecated it (protocol.sendable; the config's notice).
            temperature=spec.temperature,
            seed=spec.seed,
        )
        images = [] if style is None else [style]
        if spec.reference_image is not None and spec.reference_image != config.style_reference:
            where = f"{slide_where(index, spec.number)}.reference_image"
            images.append(reference(spec.reference_image, where))
            check_inline_total(images, where)
        parts = body["contents"][0]["parts"]
        parts.extend({"inlineData": {"mimeType": i.mime_type, "data": i.data}} for i in images)
        follows = leader if leader is not None and index > 0 else None
        if follows is not None:
            parts.append({_FOLLOWS: follows})
        jobs.append(
            Job(
                slide=spec.number,
                body=body,
                dest=config.output_dir / spec.output_filename,
                fmt=spec.format,
                quality=spec.quality,
                lossless=spec.lossless,
                follows=follows,
                prompt=spec.prompt,
                variants=spec.variants,
                pick=spec.pick,
                edits=spec.edits,
                tier=spec.service_tier,
            )
        )
    _check_chains(config, jobs)
    return jobs


def _check_chains(config: DeckConfig, jobs: list[Job]) -> None:
    """Refuse what edit chains and variants cannot do yet, and candidate files that would
    take another slide's name.

    Under ``"consistency": "first-slide"`` a slide's request carries the first slide's
    image, known only once it is made: the chain's keys could not be told before the run,
    so chains and variants are refused there (one line, nothing sent).

    Raises:
        ConfigError: one of those, naming the field.
    """
    names = {job.dest.name: job.slide for job in jobs}
    for index, job in enumerate(jobs):
        where = slide_where(index, job.slide)
        if (job.variants > 1 or job.edits) and config.consistency == "first-slide":
            field = "variants" if job.variants > 1 else "edits"
            raise ConfigError(
                f"{where}.{field}",
                'cannot be used with "consistency": "first-slide" (each slide follows the '
                "first one's image); drop it, or drop consistency",
            )
        if job.variants < 2:
            continue
        for number in range(1, job.variants + 1):
            name = job.candidate_path(number).name
            other = names.get(name)
            if other is not None:
                raise ConfigError(
                    f"{where}.variants",
                    f"candidate {number} would be saved as {name}, slide {other}'s file; "
                    "rename one of them with output_filename",
                )


def check_regenerate(jobs: Iterable[Job], regenerate: frozenset[int]) -> None:
    """Refuse ``--regenerate`` naming a slide the config does not have (a typo would
    otherwise regenerate nothing, silently): ``plan`` and ``run`` both ask here.

    Raises:
        ConfigError: a slide named is not in the config.
    """
    known = {job.slide for job in jobs}
    unknown = regenerate - known
    if unknown:
        raise ConfigError(
            "--regenerate",
            f"no {slide_ranges(unknown)} in the config, which has {slide_ranges(known)}; "
            "name slides of the config",
        )
