"""Text-free plates of a deck's slides: one edit each, kept and keyed as any slide is.

An editable PPTX (:mod:`~..export.editable`) puts native text boxes over a picture of the
slide with its text removed: its *plate*. Plates are made as a deck of their own, in
``<output_dir>/.plates``, through the engine as any deck is: plate ``n`` is a slide whose
prompt is :data:`PLATE_INSTRUCTION` and whose reference image is slide ``n``'s kept
original (the image the model is asked to edit, sent inline after the instruction, as the
Gemini docs' image editing does for an image the conversation did not make). So a plate is
keyed by the model, the instruction and the slide's bytes (:func:`~.manifest.generation_digest`):
an export made again sends nothing; a slide made again gets a new plate; ``plan`` prices
the plates before any is made and ``max_cost`` refuses a plan over it, as for a deck.

A plate the OCR still reads text on is retried once, as an edit step of the plate's own
chain (:data:`RETRY_INSTRUCTION`: the model sees the plate it made and is told what is
left). Whether a plate was retried is not remembered apart: the retry's unit key follows
from the plate's, and a retry the manifest keeps for the current plate is asked again (and
so kept, with no request). A plate that still shows text after that is not used.

Nothing here depends on how a particular service removes text: the instruction is the one
a real model needs, and a plate is judged only by reading it back.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2

from ..config.loading import DeckConfig, SlideSpec, load_config
from ..errors import ConfigError
from ..files.deck_folders import kept_file
from ..service.edit_body import EditStep
from .chains import chain_of
from .manifest import Manifest
from .plan import plan_jobs
from .rerun import RunPlan, check_budget, plan_run
from .run import generate_deck
from .settings import EngineSettings

__all__ = [
    "PLATES_DIR",
    "PLATE_INSTRUCTION",
    "RETRY_INSTRUCTION",
    "PlateSource",
    "Plates",
    "make_plates",
    "plan_plates",
    "plate_name",
    "plates_config",
    "retried_before",
]

PLATES_DIR = ".plates"
"""The plates' deck, inside the deck's folder: hidden, as ``.originals`` is."""
PLATE_INSTRUCTION = (
    "Remove every piece of text from this slide image: titles, headings, body text, labels, "
    "numbers, captions and footers. Fill where the text was with the background around it. "
    "Change nothing else: keep the layout, colours, shapes, pictures and size exactly as "
    "they are."
)
"""What a plate asks: every piece of text removed, nothing else changed."""
RETRY_INSTRUCTION = (
    "Some text is still visible on this image. Remove every remaining piece of text, "
    "filling where it was with the background around it."
)
"""The one retry of a plate the OCR still reads text on, an edit of the plate itself."""
_SIZES = ((1600, "1K"), (3200, "2K"))  # an image's long side -> the imageSize that made it

Reader = Callable[[bytes], bool]
"""Whether an image still shows text (the OCR, read by the caller's choice)."""


@dataclass(frozen=True, slots=True)
class PlateSource:
    """A slide to make a plate of.

    Attributes:
        number: the slide's number.
        image: the bytes the plate is made from: the slide's kept original, else its file.
        path: where those bytes are (sent as the plate slide's reference image).
        width: the image's width in pixels.
        height: its height.
    """

    number: int
    image: bytes
    path: Path
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Plates:
    """What :func:`make_plates` made.

    Attributes:
        made: slide number -> its plate's file, for each plate that reads free of text.
        failed: slide number -> why it has no plate (still shows text, or not made).
        cost_usd: what this call paid for (``None`` when a price is unknown).
        requests: the requests it sent.
    """

    made: Mapping[int, Path]
    failed: Mapping[int, str]
    cost_usd: float | None
    requests: int


def plate_name(number: int) -> str:
    """A plate's file name: ``plate-03.png`` (PNG: a plate is not re-encoded lossily)."""
    return f"plate-{number:02d}.png"


def plates_config(
    base: DeckConfig | None,
    output_dir: Path,
    sources: Iterable[PlateSource],
    *,
    model: str | None = None,
    retry: Iterable[int] = (),
    max_cost: float | None = None,
    env: Mapping[str, str] | None = None,
) -> DeckConfig:
    """The plates' deck: one slide per source, its retry step for the slides in ``retry``.

    Args:
        base: the deck's config (its model, endpoint, key and timeout), or
            ``None``: the endpoint and key then come from the environment, as a config
            without them reads them, and ``model`` is the one the deck was made with.
        output_dir: the deck's folder; the plates go in its :data:`PLATES_DIR`.
        sources: the slides to make plates of.
        model: the model without a config (ignored with one).
        retry: slides whose plate gets the retry step.
        max_cost: the budget of the plates (``None``: none).
        env: the environment (default ``os.environ``).

    Raises:
        ConfigError: without a config, what the environment gives is not usable.
    """
    if base is None:
        raw: dict[str, Any] = {"slides": [{"number": 1, "prompt": "plate"}]}
        if model:
            raw["model"] = model
        raw["output_dir"] = str(output_dir / PLATES_DIR)
        base = load_config(raw, env=dict(os.environ) if env is None else env)
    again = frozenset(retry)
    slides = tuple(_plate_slide(source, source.number in again) for source in sources)
    return dataclasses.replace(
        base,
        slides=slides,
        output_dir=output_dir / PLATES_DIR,
        max_cost=max_cost,
        reference_images={},
        style_reference=None,
        consistency="none",
        mode="standard",
    )


def _plate_slide(source: PlateSource, retry: bool) -> SlideSpec:
    """Plate ``source`` at its image's own shape and size, whatever the config says now (it
    may have changed since), so a plate is the same made after ``run`` or by ``export``."""
    width, height = source.width, source.height
    return SlideSpec(
        number=source.number,
        prompt=PLATE_INSTRUCTION,
        full_prompt=PLATE_INSTRUCTION,
        style=None,
        layout=None,
        output_filename=plate_name(source.number),
        format="png",
        quality=100,
        lossless=True,
        aspect_ratio=_aspect(width, height),
        image_size=_size(max(width, height)),
        temperature=None,
        seed=None,
        reference_image=source.path,
        edits=(EditStep(RETRY_INSTRUCTION),) if retry else (),
    )


def _aspect(width: int, height: int) -> str:
    from ..export.pptx import slide_aspect

    w, h = slide_aspect(width, height)
    return f"{w}:{h}"


def _size(long_side: int) -> str:
    return next((size for limit, size in _SIZES if long_side <= limit), "4K")


def retried_before(config: DeckConfig) -> frozenset[int]:
    """The slides of ``config`` (built with every slide retried) whose retry the manifest
    keeps for the plate as it is now: asked again, they cost nothing."""
    manifest = Manifest.read(config.output_dir, config.api_key)
    kept: set[int] = set()
    for job in plan_jobs(config):
        record = manifest.slides.get(job.slide)
        chain = chain_of(config.model, job)
        if record is None or not chain.edits:
            continue
        original = record.unit_original(chain.edits[0].key)
        if original is not None and kept_file(config.output_dir / original):
            kept.add(job.slide)
    return frozenset(kept)


def plan_plates(config: DeckConfig) -> RunPlan:
    """What making ``config``'s plates would do and cost; refused over its ``max_cost``.

    Raises:
        ConfigError: a source cannot be sent, or the plan is over the budget.
    """
    plan = plan_run(config, plan_jobs(config), Manifest.read(config.output_dir, config.api_key))
    check_budget(plan, config.max_cost)
    return plan


def make_plates(
    config: DeckConfig,
    shows_text: Reader,
    *,
    settings: EngineSettings | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Plates:
    """Make (or find kept) each plate of ``config``, retry once each that still shows text.

    Blocking: runs the engine on an event loop of its own (call it from a worker thread
    when one is running). ``config`` comes from :func:`plates_config`, its retries those
    kept before (:func:`retried_before`). The budget covers the retries: what the first
    round paid is taken off it before they are planned.

    Raises:
        ConfigError: the plates cannot be made (no key, over the budget): nothing was sent.
    """
    first = _run(config, None, settings, transport)
    spent = first.cost_usd
    requests = first.requests
    made: dict[int, Path] = {}
    failed: dict[int, str] = {}
    retried = {spec.number for spec in config.slides if spec.edits}
    again: list[int] = []
    for number, outcome in _outcomes(first).items():
        if isinstance(outcome, str):
            failed[number] = outcome
        elif not shows_text(outcome.read_bytes()):
            made[number] = outcome
        elif number in retried:
            failed[number] = "its plate still shows text after one retry"
        else:
            again.append(number)
    if again:
        budget = config.max_cost
        if budget is not None:
            budget = max(0.0, budget - (spent or 0.0))
        second = dataclasses.replace(
            config,
            slides=tuple(
                dataclasses.replace(spec, edits=(EditStep(RETRY_INSTRUCTION),))
                if spec.number in again
                else spec
                for spec in config.slides
            ),
            max_cost=budget,
        )
        try:
            result = _run(second, frozenset(again), settings, transport)
        except ConfigError as refused:
            failed.update(dict.fromkeys(again, f"its plate shows text; no retry: {refused}"))
        else:
            requests += result.requests
            spent = None if spent is None or result.cost_usd is None else spent + result.cost_usd
            outcomes = _outcomes(result)
            for number in again:
                outcome = outcomes.get(number, "no plate made")
                if isinstance(outcome, str):
                    failed[number] = outcome
                elif shows_text(outcome.read_bytes()):
                    failed[number] = "its plate still shows text after one retry"
                else:
                    made[number] = outcome
    return Plates(made, failed, spent, requests)


@dataclass(frozen=True, slots=True)
class _Result:
    outputs: Mapping[int, Path]
    errors: Mapping[int, str]
    cost_usd: float | None
    requests: int


def _run(
    config: DeckConfig,
    only: frozenset[int] | None,
    settings: EngineSettings | None,
    transport: httpx2.AsyncBaseTransport | None,
) -> _Result:
    plan_plates(config if only is None else _only(config, only))

    async def go() -> _Result:
        result = await generate_deck(config, settings=settings, transport=transport, only=only)
        return _Result(
            {output.slide: output.path for output in result.outputs},
            {error.slide: f"no plate: {error.error}" for error in result.errors},
            result.cost_usd,
            result.requests,
        )

    return anyio.run(go)


def _only(config: DeckConfig, only: frozenset[int]) -> DeckConfig:
    return dataclasses.replace(config, slides=tuple(s for s in config.slides if s.number in only))


def _outcomes(result: _Result) -> dict[int, Path | str]:
    outcomes: dict[int, Path | str] = dict(result.errors)
    outcomes.update(result.outputs)
    return outcomes
