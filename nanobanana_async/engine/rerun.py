"""The plan of a run before it starts: which slides it generates, re-encodes or keeps, and
what that costs.

``nanobanana plan`` prints it and sends nothing; ``run`` follows it, and refuses it when
it would pass ``--max-cost``. The decisions are :mod:`.manifest`'s, the prices
:mod:`~nanobanana_async.cost`'s; this module only looks at the folder and adds them up.

Under ``"consistency": "first-slide"`` the other slides follow the first one's image
(:mod:`.plan`). When the first slide is not generated again, its image is the one the
service sent earlier, kept in ``.originals/``: the followers' bodies are completed with it
here, so the manifest can tell which of them were made from it. When it is generated (or
its original is gone, and with it the bytes to send), every follower is generated after it.

A Batch API job the manifest records as not collected yet, asked with the same requests,
will deliver its slides: they are still to generate, but not bought again (``in_batch``),
so they are neither priced nor counted as requests, and the line says how to wait for the
batch or cancel it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.loading import BatchConfig
from ..config.references import ReferenceImage, read_reference
from ..cost import PRICES_AS_OF, image_cost
from ..cost.prices import BATCH_DISCOUNT
from ..errors import ConfigError
from ..files.images import image_is_complete
from .manifest import Decision, Manifest, decide
from .plan import Job

__all__ = ["RunPlan", "plan_run"]

# A prompt's tokens, estimated before it is sent: about four characters a token in English.
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run of a config would do, slide by slide, and its expected cost.

    Attributes:
        decisions: slide number -> what the run does with it.
        costs: slide number -> expected USD of a slide to generate (``None``: no price
            known for the model).
        model: the model asked.
        prices_as_of: the date of the price table used.
        in_batch: slides to generate that a batch not collected yet will deliver: not
            sent again, not priced.
        batch: that batch's record in the manifest (``name``, ``display_name``,
            ``submitted_at``, ...), or ``None``.
    """

    decisions: dict[int, Decision]
    costs: dict[int, float | None]
    model: str
    prices_as_of: str = PRICES_AS_OF
    in_batch: tuple[int, ...] = ()
    batch: Mapping[str, Any] | None = None

    def slides(self, decision: Decision) -> list[int]:
        """The slides with ``decision``, in config order."""
        return [n for n, d in self.decisions.items() if d is decision]

    @property
    def to_buy(self) -> list[int]:
        """The slides to generate that no batch still out will deliver, in config order."""
        return [n for n in self.slides(Decision.GENERATE) if n not in self.in_batch]

    @property
    def requests(self) -> int:
        """Requests the run sends at least (one per slide to buy; retries come on top)."""
        return len(self.to_buy)

    @property
    def cost_usd(self) -> float | None:
        """Expected USD of the whole run, or ``None`` when a slide's price is not known."""
        total = 0.0
        for slide in self.to_buy:
            cost = self.costs.get(slide)
            if cost is None:
                return None
            total += cost
        return total

    @property
    def batch_cost_usd(self) -> float | None:
        """The same images through the Batch API, which bills half of every rate."""
        cost = self.cost_usd
        return None if cost is None else cost * BATCH_DISCOUNT

    def to_dict(self) -> dict[str, object]:
        cost = self.cost_usd
        batch = self.batch_cost_usd
        return {
            "model": self.model,
            "generate": self.slides(Decision.GENERATE),
            "reencode": self.slides(Decision.REENCODE),
            "keep": self.slides(Decision.KEEP),
            "requests": self.requests,
            "cost_usd": None if cost is None else round(cost, 4),
            "batch_cost_usd": None if batch is None else round(batch, 4),
            "prices_as_of": self.prices_as_of,
            "batch": None if self.batch is None else _batch_view(self.batch, self.in_batch),
        }


def _batch_view(record: Mapping[str, Any], in_batch: Iterable[int]) -> dict[str, object]:
    """The batch still out, as ``plan --json`` shows it: which slides it will deliver."""
    return {
        "name": str(record.get("name") or ""),
        "display_name": str(record.get("display_name") or ""),
        "submitted_at": str(record.get("submitted_at") or ""),
        "slides": list(in_batch),
    }


def plan_run(
    config: BatchConfig,
    jobs: Iterable[Job],
    *,
    regenerate: frozenset[int] = frozenset(),
    force: bool = False,
) -> RunPlan:
    """Look at ``config.output_dir`` and its manifest, and say what a run would do.

    Slides that follow the first one have their bodies completed with its kept image when
    it is not generated again (see the module).
    """
    jobs = list(jobs)
    manifest = Manifest.read(config.output_dir, config.api_key)
    complete = {job.slide: image_is_complete(job.dest) for job in jobs}
    originals = {
        slide: _is_file(config.output_dir / record.original)
        for slide, record in manifest.slides.items()
        if record.original is not None
    }

    def decided(some: list[Job]) -> dict[int, Decision]:
        return decide(
            some,
            config.model,
            manifest,
            complete=complete,
            original_present=originals,
            regenerate=regenerate,
            force=force,
        )

    decisions = decided(jobs)
    followers = [job for job in jobs if job.follows is not None]
    if followers:
        leader = followers[0].follows
        assert leader is not None
        record = manifest.slides.get(leader)
        kept = None
        if decisions[leader] is not Decision.GENERATE and record and originals.get(leader):
            assert record.original is not None
            kept = _kept_image(config.output_dir / record.original)
        if kept is None:
            # Made anew (or its bytes, as the service sent them, are gone): every slide
            # that follows it is made again after it, whatever its record says.
            decisions[leader] = Decision.GENERATE
            decisions |= {job.slide: Decision.GENERATE for job in followers}
        else:
            for job in followers:
                job.follow(kept)
            decisions |= decided(followers)
    specs = {spec.number: spec for spec in config.slides}
    costs = {
        job.slide: image_cost(
            config.model,
            specs[job.slide].image_size,
            prompt_tokens=len(specs[job.slide].full_prompt) // _CHARS_PER_TOKEN + 1,
            reference_images=job.images,
        )
        for job in jobs
    }
    held = manifest.in_batch(config.model, jobs)
    in_batch = tuple(job.slide for job in jobs if job.slide in held)
    in_batch = tuple(n for n in in_batch if decisions[n] is Decision.GENERATE)
    return RunPlan(decisions, costs, config.model, in_batch=in_batch, batch=manifest.batch)


def _kept_image(path: Path) -> ReferenceImage | None:
    """The kept original of the first slide, checked as a reference image; ``None`` if unfit."""
    try:
        return read_reference(path, str(path))
    except ConfigError:
        return None


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
