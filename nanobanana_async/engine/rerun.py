"""The plan of a run before it starts: which slides it generates, re-encodes or keeps, why,
and what that costs.

``nanobanana plan`` prints it and sends nothing; ``run`` follows it, and refuses it when
it would pass ``--max-cost``. The decisions are :mod:`.manifest`'s, the prices
:mod:`~nanobanana_async.cost`'s; this module only looks at the folder and adds them up.

Under ``"consistency": "first-slide"`` the other slides follow the first one's image
(:mod:`.plan`). When the first slide is not generated again, its image is the one the
service sent earlier, kept in ``.originals/``: the followers' bodies are completed with it
here, so the manifest can tell which of them were made from it. When it is generated (or
its original is gone, and with it the bytes to send), every follower is generated after it.

A kept original is read as any file someone else may have put in place: through the
deck's own folder, never a symlink, never blocking, capped (:mod:`.originals`).

A Batch API job the manifest records as not collected yet, asked with the same requests,
will deliver its slides: they are still to generate, but not bought again (``in_batch``),
so they are neither priced nor counted as requests, and the line says how to wait for the
batch or cancel it.

A run records in the manifest what it sets out to make before it sends anything
(:class:`~.manifest.Pending`, with the identity of the file then in place), and at its end
what it did not make. ``--resume`` plans from that: a slide left is made as it was to be
(an interrupted ``--force`` still redoes it), a slide whose file changed since was made
by the interrupted run (even one killed before it could record so), and any other whole
image is kept. An image it received and staged and did not get to save (a ``.received``
file that decodes) is recovered: saved without asking again, decided here, so ``plan
--resume`` shows it. Such a run never recorded what it paid for those (:attr:`RunPlan.adopted`),
so the run that keeps or saves them counts them in the deck's cost at the plan's estimate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.loading import DeckConfig
from ..config.references import ReferenceImage
from ..cost import PRICES_AS_OF, image_cost, rate_share
from ..cost.prices import BATCH_DISCOUNT
from ..errors import ConfigError
from ..files.deck_folders import kept_file
from ..files.images import image_is_complete, read_staged
from ..wording import plural, slide_ranges
from .chains import (
    CHARS_PER_TOKEN,
    ChainPlan,
    Unit,
    candidates_shown,
    chain_of,
    numbers,
    plan_chain,
    unit_costs,
    why_asked,
    why_restored,
)
from .manifest import Decision, Manifest, Pending, Verdict, decide
from .originals import kept_reference
from .plan import Job, check_regenerate

__all__ = [
    "RunPlan",
    "check_budget",
    "file_identity",
    "plan_run",
]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run of a config would do, slide by slide, why, and its expected cost.

    Attributes:
        verdicts: slide number -> what the run does with it, and why.
        costs: slide number -> expected USD of a slide to generate (``None``: no price
            known for the model).
        model: the model asked.
        prices_as_of: the date of the price table used.
        in_batch: slides to generate that a batch not collected yet will deliver: not
            sent again, not priced.
        batch: that batch's record in the manifest (``name``, ``display_name``,
            ``submitted_at``, ...), or ``None``.
        retired: slide number -> its image saved by an earlier run under another name (the
            format or ``output_filename`` changed), which goes to the versions once the
            slide's new image is in place.
        pending: what the run sets out to make (every slide not kept), recorded in the
            manifest before anything is sent, so ``--resume`` can finish it.
        adopted: ``--resume`` only: slides kept because the interrupted run generated them
            and died before it could record them (nor what they cost), and slides to recover
            (it received them and did not save them) -> what they are taken to have cost: the
            expected cost, at the batch rate when the batch the manifest records was to
            deliver them (``None``: no price known). The run counts those it keeps or saves.
    """

    verdicts: dict[int, Verdict]
    costs: dict[int, float | None]
    model: str
    prices_as_of: str = PRICES_AS_OF
    in_batch: tuple[int, ...] = ()
    batch: Mapping[str, Any] | None = None
    retired: dict[int, Path] = field(default_factory=dict)
    pending: dict[int, Pending] = field(default_factory=dict)
    adopted: dict[int, float | None] = field(default_factory=dict)
    chains: dict[int, ChainPlan] = field(default_factory=dict)
    unit_costs: dict[tuple[int, str], float | None] = field(default_factory=dict)
    only: frozenset[int] | None = None
    tiers: dict[int, str] = field(default_factory=dict)

    def decision(self, slide: int) -> Decision:
        return self.verdicts[slide].decision

    def slides(self, decision: Decision) -> list[int]:
        """The slides with ``decision``, in config order."""
        return [n for n, v in self.verdicts.items() if v.decision is decision]

    @property
    def to_buy(self) -> list[int]:
        """The slides to generate that no batch still out will deliver, in config order."""
        return [n for n in self.slides(Decision.GENERATE) if n not in self.in_batch]

    def slide_requests(self, slide: int) -> int:
        """Requests a slide to buy sends at least: its chain's units to make, else one."""
        chain = self.chains.get(slide)
        return 1 if chain is None else chain.requests

    @property
    def requests(self) -> int:
        """Requests the run sends at least (one per unit to buy; retries come on top)."""
        return sum(self.slide_requests(slide) for slide in self.to_buy)

    def unit_rows(self) -> list[dict[str, object]]:
        """One row per unit of a chain the run makes or puts back: ``slide``, ``unit``
        (``v2``, ``e1``), ``action`` (``generate``, ``edit``, ``save``, ``restore``),
        ``cost_usd`` (``None``: not known), in config order."""
        rows: list[dict[str, object]] = []
        for slide, chain in self.chains.items():
            decision = self.decision(slide)
            if decision not in (Decision.GENERATE, Decision.RESTORE) or slide in self.in_batch:
                continue
            for unit in chain.chain.units:
                if unit.key in chain.staged:  # received by an interrupted run: kept
                    rows.append(_row(slide, unit, "save", 0.0))
            target = chain.chain.target
            if decision is Decision.RESTORE and target.key not in chain.staged:
                rows.append(_row(slide, target, "restore", 0.0))
            for unit in chain.make:
                action = "generate" if unit.step is None else "edit"
                rows.append(_row(slide, unit, action, self.unit_costs.get((slide, unit.name))))
        return rows

    def unit_summary(self) -> str:
        """What the run does with units, for the plan's line: ``generate 3 (slide 4:
        candidates 1-3), edit 3 (slides 3 x2, 7), restore 1 (slide 5), save 1 received
        (slide 6)``; ``""`` for a run without chains (its slides say it all)."""
        if not self.chains:
            return ""
        generated: dict[int, list[int]] = {}
        plain = [n for n in self.to_buy if n not in self.chains]
        edited: dict[int, int] = {}
        restored: list[int] = []
        received: list[int] = []
        for row in self.unit_rows():
            slide, unit = int(str(row["slide"])), str(row["unit"])
            if row["action"] == "generate":
                generated.setdefault(slide, []).append(int(unit[1:]))
            elif row["action"] == "edit":
                edited[slide] = edited.get(slide, 0) + 1
            elif row["action"] == "restore":
                restored.append(slide)
            elif row["action"] == "save":
                received.append(slide)
        parts = []
        count = len(plain) + sum(len(v) for v in generated.values())
        if count:
            shown = [slide_ranges(plain)] if plain else []
            shown += [
                f"slide {n}: candidate{'s' if len(ks) > 1 else ''} {numbers(ks)}"
                for n, ks in generated.items()
            ]
            parts.append(f"generate {count} ({'; '.join(shown)})")
        if edited:
            each = [f"{n} x{k}" if k > 1 else str(n) for n, k in edited.items()]
            word = "slides" if len(each) > 1 else "slide"
            parts.append(f"edit {sum(edited.values())} ({word} {', '.join(each)})")
        if restored:
            parts.append(f"restore {len(restored)} ({slide_ranges(restored)})")
        if received:  # what an interrupted run received: kept, no request
            parts.append(f"save {len(received)} received ({slide_ranges(sorted(set(received)))})")
        return ", ".join(parts)

    def slide_cost(self, slide: int) -> float | None:
        """Expected USD of one slide: its images' price if bought (every unit of its chain
        to make), else nothing."""
        if self.verdicts[slide].decision is not Decision.GENERATE or slide in self.in_batch:
            return 0.0
        return self.costs.get(slide)

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

    def cost_at(self, tier: str | None = None) -> float | None:
        """Expected USD of the whole run with every slide at ``tier``, or at the tier each
        slide asks for (``None``); ``None`` when a slide's price is not known. ``costs``
        are standard prices: a tier is a share of them (:func:`~..cost.rate_share`)."""
        total = 0.0
        for slide in self.to_buy:
            cost = self.costs.get(slide)
            if cost is None:
                return None
            total += cost * rate_share(tier=tier or self.tiers.get(slide, "standard"))
        return total

    @property
    def tier_costs(self) -> dict[str, float | None]:
        """The run at each price side by side: standard, Priority, Flex, the Batch API."""
        costs = {tier: self.cost_at(tier) for tier in ("standard", "priority", "flex")}
        return {**costs, "batch": self.batch_cost_usd}

    @property
    def batch_cost_usd(self) -> float | None:
        """The same images through the Batch API, which bills half of every rate."""
        return _at_rate(self.cost_usd, batch=True)

    def to_dict(self) -> dict[str, object]:
        cost = self.cost_usd
        batch = self.batch_cost_usd
        return {
            "model": self.model,
            "generate": self.slides(Decision.GENERATE),
            "reencode": self.slides(Decision.REENCODE),
            "keep": self.slides(Decision.KEEP),
            "recover": self.slides(Decision.RECOVER),
            "restore": self.slides(Decision.RESTORE),
            "units": self.unit_rows(),
            "requests": self.requests,
            "cost_usd": None if cost is None else round(cost, 4),
            "batch_cost_usd": None if batch is None else round(batch, 4),
            "tier_costs_usd": {
                tier: None if cost is None else round(cost, 4)
                for tier, cost in self.tier_costs.items()
            },
            "prices_as_of": self.prices_as_of,
            "batch": None if self.batch is None else _batch_view(self.batch, self.in_batch),
            "slides": [self._slide(n, v) for n, v in self.verdicts.items()],
        }

    def _slide(self, slide: int, verdict: Verdict) -> dict[str, object]:
        cost = self.slide_cost(slide)
        row: dict[str, object] = {
            "slide": slide,
            **verdict.to_dict(),
            "interrupted": verdict.left,
            "cost_usd": None if cost is None else round(cost, 4),
        }
        if slide in self.chains:  # a slide of several units: how many it asks for
            bought = verdict.decision is Decision.GENERATE and slide not in self.in_batch
            row["requests"] = self.slide_requests(slide) if bought else 0
        return row


def _row(slide: int, unit: Unit, action: str, cost: float | None) -> dict[str, object]:
    return {
        "slide": slide,
        "unit": unit.name,
        "action": action,
        "cost_usd": None if cost is None else round(cost, 4),
    }


def check_budget(plan: RunPlan, max_cost: float | None, *, batch: bool = False) -> None:
    """Refuse a plan that would pass the budget, before anything is sent.

    ``batch``: the slides go to the Batch API, at its price; else each slide is priced at
    the tier it asks for.
    """
    if max_cost is None or plan.requests == 0:
        return
    cost = plan.batch_cost_usd if batch else plan.cost_at()
    if cost is None:
        raise ConfigError(
            "max_cost",
            f"{plan.model} has no known price, so a budget cannot be kept; "
            "remove max_cost, or use a model of the price table",
        )
    if cost > max_cost:
        raise ConfigError(
            "max_cost",
            f"this run would cost about ${cost:.2f} ({plural(plan.requests, 'image')}), over the "
            f"budget of ${max_cost:.2f}; raise it, or run fewer slides (nanobanana plan "
            "--slides shows each)",
        )


def _batch_view(record: Mapping[str, Any], in_batch: Iterable[int]) -> dict[str, object]:
    """The batch still out, as ``plan --json`` shows it: which slides it will deliver."""
    return {
        "name": str(record.get("name") or ""),
        "display_name": str(record.get("display_name") or ""),
        "submitted_at": str(record.get("submitted_at") or ""),
        "slides": list(in_batch),
    }


def plan_run(
    config: DeckConfig,
    jobs: Iterable[Job],
    manifest: Manifest,
    *,
    regenerate: frozenset[int] = frozenset(),
    force: bool = False,
    resume: bool = False,
    only: frozenset[int] | None = None,
    service_tier: str | None = None,
) -> RunPlan:
    """Look at ``config.output_dir`` and its ``manifest``, and say what a run would do.

    ``only``: the run acts on those slides alone; every other one is left as it is (kept,
    whatever changed). ``service_tier``: every slide's tier (``--tier``), over its own.

    The manifest is the caller's, read once (``Manifest.read``): a run plans from it and
    writes its own record over the same one (:mod:`.prepared`).

    ``resume``: finish what the last run set out to do and did not (the manifest's
    ``pending`` slides: its ``--force`` or ``--regenerate`` too), keep every other whole
    image, whatever changed, and generate the rest.

    Slides that follow the first one have their bodies completed with its kept image when
    it is not generated again (see the module).
    """
    jobs = list(jobs)
    check_regenerate(jobs, regenerate)
    if only is not None:
        check_regenerate(jobs, only)
    complete = {job.slide: image_is_complete(job.dest) for job in jobs}
    chains = {job.slide: chain_of(config.model, job) for job in jobs}
    targets = {n: chain.target.key for n, chain in chains.items() if not chain.plain}
    originals = {
        slide: kept_file(config.output_dir / record.original)
        for slide, record in manifest.slides.items()
        if record.original is not None
    }

    def decided(some: list[Job]) -> dict[int, Verdict]:
        verdicts = decide(
            some,
            config.model,
            manifest,
            complete=complete,
            original_present=originals,
            regenerate=regenerate,
            force=force,
            targets=targets,
        )
        if resume:  # a chain's units are found on disk (plan_chain): nothing made twice
            verdicts = {
                job.slide: _resumed(job, verdicts[job.slide], manifest, complete[job.slide])
                if job.slide not in targets
                else verdicts[job.slide]
                for job in some
            }
        return verdicts

    verdicts = decided(jobs)
    followers = [job for job in jobs if job.follows is not None]
    if followers:
        leader = followers[0].follows
        assert leader is not None
        record = manifest.slides.get(leader)
        kept = None
        if verdicts[leader].decision is not Decision.GENERATE and record and originals.get(leader):
            assert record.original is not None
            kept = _kept_image(config.output_dir / record.original)
        if kept is not None:
            for job in followers:
                job.follow(kept)
            verdicts |= decided(followers)
        else:
            # Made anew (or its bytes, as the service sent them, are gone): every slide
            # that follows it is made again after it, whatever its record says; under
            # --resume, those without a whole image (they get the image in place).
            if not resume and verdicts[leader].decision is not Decision.GENERATE:
                verdicts[leader] = Verdict(Decision.GENERATE, "no original kept to send")
            anew = f"follows slide {leader}, made anew"
            for job in followers:
                verdict = verdicts[job.slide]
                if resume and verdict.decision is Decision.KEEP:
                    continue
                if verdict.reason not in _ASKED:  # its own digest waits for the new image
                    verdict = Verdict(Decision.GENERATE, anew, left=verdict.left)
                verdicts[job.slide] = dataclasses.replace(verdict, decision=Decision.GENERATE)
    if only is not None:
        for job in jobs:
            if job.slide not in only:
                verdicts[job.slide] = Verdict(Decision.KEEP, _NOT_ASKED)
    specs = {spec.number: spec for spec in config.slides}
    costs = {
        job.slide: image_cost(
            config.model,
            specs[job.slide].image_size,
            prompt_tokens=len(specs[job.slide].full_prompt) // CHARS_PER_TOKEN + 1,
            reference_images=job.images,
        )
        for job in jobs
    }
    chained: dict[int, ChainPlan] = {}
    priced_units: dict[tuple[int, str], float | None] = {}
    for job in jobs:
        verdict = verdicts[job.slide]
        chain = chain_of(config.model, job)  # a follower's body is complete by now
        shown = candidates_shown(job, chain, manifest.slides.get(job.slide))
        if verdict.decision is Decision.KEEP and verdict.reason != _NOT_ASKED and not shown:
            verdict = verdicts[job.slide] = Verdict(Decision.GENERATE, "candidates to make")
        if verdict.decision is not Decision.GENERATE:
            continue
        record = manifest.slides.get(job.slide)
        if chain.plain and (record is None or record.generation == chain.target.key):
            continue  # a slide as before chains, its own image asked for again
        redo = verdict.reason in ("--force", "--regenerate")
        found = plan_chain(job, chain, record, redo=redo)
        one_image = costs[job.slide]  # a candidate's price, before the chain's replaces it
        if not found.make:
            verdicts[job.slide] = Verdict(Decision.RESTORE, why_restored(chain, found))
            chained[job.slide] = found
        elif not chain.plain:
            chained[job.slide] = found
            if verdict.reason == "changed" and not verdict.changed:
                verdicts[job.slide] = dataclasses.replace(verdict, reason=why_asked(found))
            priced = unit_costs(config, job, chain, found.make, one_image)
            priced_units |= {(job.slide, name): cost for name, cost in priced.items()}
            known = list(priced.values())
            costs[job.slide] = None if None in known else sum(c or 0.0 for c in known)
        if found.adopted:  # what an interrupted run paid for and never recorded: its estimate
            taken = tuple(unit for unit in chain.units if unit.key in found.adopted)
            earlier = unit_costs(config, job, chain, taken, one_image)
            priced_units |= {(job.slide, name): cost for name, cost in earlier.items()}
    held = manifest.in_batch(config.model, jobs)
    in_batch = tuple(
        job.slide
        for job in jobs
        if job.slide in held and verdicts[job.slide].decision is Decision.GENERATE
    )
    names = {job.dest.name for job in jobs}  # a name another slide now has is not retired
    retired = {
        job.slide: config.output_dir / record.file
        for job in jobs
        if (record := manifest.slides.get(job.slide)) is not None
        and record.file != job.dest.name
        and record.file not in names
    }
    pending = {
        job.slide: _pending(job, verdicts[job.slide], manifest)
        for job in jobs
        if verdicts[job.slide].decision is not Decision.KEEP
    }
    # What the interrupted run received and staged, whole: saved, not bought again. Not a
    # slide a batch still out delivers (the batch does), nor one kept; decided here, so
    # `plan --resume` shows it and the run only carries it out.
    recover = [
        job.slide
        for job in jobs
        if resume
        and verdicts[job.slide].decision is Decision.GENERATE
        and job.slide not in held
        and job.slide not in chained
        and read_staged(job.dest) is not None
    ]
    for slide in recover:
        verdicts[slide] = Verdict(Decision.RECOVER, _RECEIVED)
    return RunPlan(
        verdicts,
        costs,
        config.model,
        in_batch=in_batch,
        batch=manifest.batch,
        retired=retired,
        pending=pending,
        adopted={
            n: _at_rate(costs[n], batch=n in held)
            for n, verdict in verdicts.items()
            if verdict.decision is Decision.RECOVER
            or (
                verdict.reason == _MADE_BEFORE
                and manifest.pending[n].verdict.decision is Decision.GENERATE  # re-encodes are free
            )
        },
        chains=chained,
        unit_costs=priced_units,
        only=only,
        tiers={job.slide: service_tier or job.tier for job in jobs},
    )


# Reasons a slide is generated whatever else is true of it.
_ASKED = frozenset({"--force", "--regenerate", "new"})
# Why --resume keeps a slide the interrupted run made but did not record.
_MADE_BEFORE = "made by the interrupted run"
# Why a slide outside a run's ``only`` is left as it is.
_NOT_ASKED = "not asked: left as it is"
# Why --resume saves what the interrupted run received and staged.
_RECEIVED = "received by the interrupted run, saved without asking again"


def _at_rate(cost: float | None, *, batch: bool) -> float | None:
    """``cost`` through the Batch API (which bills half of every rate) if ``batch``."""
    return None if cost is None else cost * BATCH_DISCOUNT if batch else cost


def _resumed(job: Job, verdict: Verdict, manifest: Manifest, whole: bool) -> Verdict:
    """``--resume``'s verdict on a slide, from the plain one and the manifest's pending."""
    pending = manifest.pending.get(job.slide)
    if pending is not None:
        if whole and file_identity(job.dest) != pending.was:
            # Replaced since it was planned: the interrupted run made it (perhaps killed
            # before it could record so).
            return Verdict(Decision.KEEP, _MADE_BEFORE)
        if pending.verdict.decision is Decision.GENERATE:
            return dataclasses.replace(pending.verdict, left=True)
        if verdict.decision is not Decision.KEEP:  # a re-encode left: as the plan sees it now
            return dataclasses.replace(verdict, left=True)
    if whole:
        return Verdict(Decision.KEEP, "whole on disk (--resume)")
    if verdict.decision is Decision.GENERATE:
        return verdict
    return Verdict(Decision.GENERATE, "image missing")  # asked for again, as it always was


def _pending(job: Job, verdict: Verdict, manifest: Manifest) -> Pending:
    """What the manifest records of a slide the run sets out to make."""
    if verdict.left:
        return manifest.pending[job.slide]  # still the interrupted run's, as it recorded it
    return Pending(verdict, file_identity(job.dest))


def file_identity(path: Path) -> str | None:
    """Which file is at ``path`` (inode, modification time, size); ``None`` if none is.

    A run replaces an image by renaming a new file over it, so the identity changes exactly
    when a run has saved the slide.
    """
    try:
        info = path.lstat()
    except OSError:
        return None
    return f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}"


def _kept_image(path: Path) -> ReferenceImage | None:
    """The kept original of the first slide, checked as a reference image; ``None`` if unfit."""
    try:
        return kept_reference(path, str(path))
    except ConfigError:
        return None
