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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..config.loading import BatchConfig
from ..config.references import ReferenceImage, read_reference
from ..cost import PRICES_AS_OF, image_cost
from ..cost.prices import BATCH_DISCOUNT
from ..errors import ConfigError
from ..files.images import image_is_complete
from ..wording import slide_ranges
from .manifest import Decision, Manifest, decide
from .plan import Job

__all__ = ["RunPlan", "check_regenerate", "plan_run"]

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
        retired: slide number -> its image saved by an earlier run under another name (the
            format or ``output_filename`` changed), which goes to the versions once the
            slide's new image is in place.
    """

    decisions: dict[int, Decision]
    costs: dict[int, float | None]
    model: str
    prices_as_of: str = PRICES_AS_OF
    retired: dict[int, Path] = field(default_factory=dict)

    def slides(self, decision: Decision) -> list[int]:
        """The slides with ``decision``, in config order."""
        return [n for n, d in self.decisions.items() if d is decision]

    @property
    def requests(self) -> int:
        """Requests the run sends at least (one per slide to generate; retries come on top)."""
        return len(self.slides(Decision.GENERATE))

    @property
    def cost_usd(self) -> float | None:
        """Expected USD of the whole run, or ``None`` when a slide's price is not known."""
        total = 0.0
        for slide in self.slides(Decision.GENERATE):
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
        }


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
    check_regenerate(jobs, regenerate)
    manifest = Manifest.read(config.output_dir)
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
    names = {job.dest.name for job in jobs}  # a name another slide now has is not retired
    retired = {
        job.slide: config.output_dir / record.file
        for job in jobs
        if (record := manifest.slides.get(job.slide)) is not None
        and record.file != job.dest.name
        and record.file not in names
    }
    return RunPlan(decisions, costs, config.model, retired=retired)


def _kept_image(path: Path) -> ReferenceImage | None:
    """The kept original of the first slide, checked as a reference image; ``None`` if unfit."""
    try:
        return read_reference(path, str(path))
    except ConfigError:
        return None


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
