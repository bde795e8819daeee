"""A slide as a chain of units: its candidates, the one picked, then its edit steps.

A slide is its candidates ``v1..vN`` (``variants``), the picked one (``pick``), then its edit
steps ``e1..eK`` made on the picked one, each from the one before. Each unit is keyed by
what decides it, as a slide's image is (:func:`~.manifest.generation_digest`):

- ``key(v1)`` is the slide's generation digest, as before chains, so a manifest written
  before them keeps every slide;
- ``key(vk) = H(key(v1) | k)``: the candidates differ only by their place (and seed);
- ``key(ek) = H(key(e(k-1)) | model | instruction | region | marking | generationConfig)``,
  with ``key(e0) = key(v_pick)``: a step is keyed by what decides it, not by its body, which
  holds an answer not received yet.

So an added step reuses the ones before it, a new prompt or model changes ``key(v*)`` and
redoes that slide's chain (and only it), and undoing a step or picking another candidate
finds a unit already made. The slide's image file shows the longest made prefix of its
chain (:attr:`Chain.path`). Units are kept under names carrying their key (``<file>.e1.<key16>``
in ``.originals``, ``.turns`` and the staged copy), so a unit made by a run killed before it
could write the manifest is found on disk, and not bought again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..config.loading import DeckConfig
from ..cost import edit_cost
from ..files.deck_folders import kept_file
from ..files.images import found_original, read_staged, unit_staged_path
from ..files.marking import MARKING
from ..service.edit_body import EditStep, edit_text
from ..service.model_ids import signs_turns
from .manifest import SlideRecord, generation_digest
from .plan import Job

__all__ = [
    "CHARS_PER_TOKEN",
    "KEY_CHARS",
    "Chain",
    "ChainPlan",
    "Unit",
    "candidate_body",
    "candidates_shown",
    "chain_of",
    "numbers",
    "plan_chain",
    "unit_costs",
    "unit_tag",
    "why_asked",
    "why_restored",
]

CHARS_PER_TOKEN = 4
"""A prompt's tokens, estimated before it is sent: about four characters a token in English."""
KEY_CHARS = 16
"""How much of a unit's key its file names carry: 64 bits, enough to tell its units apart."""


@dataclass(frozen=True, slots=True)
class Unit:
    """One image of a slide's chain.

    Attributes:
        name: ``v1``..``v4`` for a candidate, ``e1``.. for an edit step.
        key: what decides it (module docstring).
        step: the edit step, for an edit; ``None`` for a candidate.
        number: the candidate's or step's number, from 1.
    """

    name: str
    key: str
    step: EditStep | None = None
    number: int = 1

    @property
    def tag(self) -> str:
        """The unit in its files' names: ``e1.0123456789abcdef``."""
        return unit_tag(self.name, self.key)


def unit_tag(name: str, key: str) -> str:
    return f"{name}.{key[:KEY_CHARS]}"


@dataclass(frozen=True, slots=True)
class Chain:
    """A slide's units, in order: candidates, then the edit steps on the picked one.

    Attributes:
        slide: the slide number.
        candidates: ``v1..vN``.
        edits: ``e1..eK``.
        pick: which candidate the edits apply to (from 1).
    """

    slide: int
    candidates: tuple[Unit, ...]
    edits: tuple[Unit, ...] = ()
    pick: int = 1

    @property
    def picked(self) -> Unit:
        return self.candidates[self.pick - 1]

    @property
    def path(self) -> tuple[Unit, ...]:
        """What the slide's file shows the end of: the picked candidate, then each step."""
        return (self.picked, *self.edits)

    @property
    def target(self) -> Unit:
        """The unit the slide's file shows once the chain is made."""
        return self.path[-1]

    @property
    def units(self) -> tuple[Unit, ...]:
        return (*self.candidates, *self.edits)

    @property
    def plain(self) -> bool:
        """One candidate and no edit: a slide as before chains, made by one request."""
        return len(self.candidates) == 1 and not self.edits

    def before(self, unit: Unit) -> Unit:
        """The unit an edit step is made from."""
        path = self.path
        return path[path.index(unit) - 1]


def _hash(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def candidate_body(job: Job, number: int) -> dict[str, Any]:
    """The request of candidate ``number``: the slide's, with ``seed + number - 1`` when it
    is seeded (design26: a seeded slide's candidates differ by their seed)."""
    if number == 1:
        return job.body
    config: dict[str, Any] = dict(job.body.get("generationConfig", {}))
    if "seed" in config:
        config["seed"] = config["seed"] + number - 1
    return {**job.body, "generationConfig": config}


def chain_of(model: str, job: Job) -> Chain:
    """The chain of ``job``'s slide, its keys computed from its body as it is now."""
    first = generation_digest(model, job.body)
    candidates = tuple(
        Unit(f"v{k}", first if k == 1 else _hash({"candidate": first, "number": k}), number=k)
        for k in range(1, job.variants + 1)
    )
    settings: Mapping[str, Any] = job.body.get("generationConfig", {})
    before = candidates[job.pick - 1].key
    edits = []
    for number, step in enumerate(job.edits, 1):
        key = _hash(
            {
                "after": before,
                "model": model,
                "instruction": step.instruction,
                "region": None if step.region is None else list(step.region),
                "marking": MARKING,
                "generation": settings,
            }
        )
        edits.append(Unit(f"e{number}", key, step, number))
        before = key
    return Chain(job.slide, candidates, tuple(edits), job.pick)


@dataclass(frozen=True, slots=True)
class ChainPlan:
    """What a run does with a slide's chain: the units it has, finds, and must make.

    Attributes:
        chain: the slide's chain as the config asks it now.
        made: unit key -> its original, for each unit of the chain kept (by the manifest,
            or found on disk under its name).
        staged: unit keys whose bytes an interrupted run received and staged: kept, with
            no request.
        adopted: unit keys an interrupted run made (or received) and could not record:
            found on disk, or staged. Recorded by this run at the plan's estimate.
        make: the units to ask for, in order (candidates, then the steps after the last
            unit of the path already made).
    """

    chain: Chain
    made: Mapping[str, Path] = field(default_factory=dict)
    staged: frozenset[str] = frozenset()
    make: tuple[Unit, ...] = ()
    adopted: frozenset[str] = frozenset()

    @property
    def requests(self) -> int:
        return len(self.make)

    @property
    def candidates_to_make(self) -> tuple[Unit, ...]:
        return tuple(unit for unit in self.make if unit.step is None)

    @property
    def edits_to_make(self) -> tuple[Unit, ...]:
        return tuple(unit for unit in self.make if unit.step is not None)


def plan_chain(job: Job, chain: Chain, record: SlideRecord | None, *, redo: bool) -> ChainPlan:
    """What a run must make of ``chain`` (all of it when ``redo``: ``--force``,
    ``--regenerate``), from ``record`` and what is on disk. Reads no image but staged ones."""
    output_dir = job.dest.parent
    made: dict[str, Path] = {}
    staged: set[str] = set()
    adopted: set[str] = set()
    if not redo:
        for unit in chain.units:
            kept = _made(output_dir, job, unit, record)
            if kept is not None:
                made[unit.key] = kept
            elif read_staged(job.dest, unit_staged_path(job.dest, unit.tag)) is not None:
                staged.add(unit.key)
            else:
                continue
            if record is None or record.unit_original(unit.key) is None:
                adopted.add(unit.key)
    have = made.keys() | staged
    path = chain.path
    last = max((i for i, unit in enumerate(path) if unit.key in have), default=-1)
    # Every candidate is made (they are there to be compared); the picked one only when its
    # chain starts from it; then the steps after the last unit of the path already made.
    make = [u for u in chain.candidates if u.key not in have and (u != path[0] or last < 0)]
    make += path[max(last, 0) + 1 :]
    return ChainPlan(chain, made, frozenset(staged), tuple(make), frozenset(adopted))


def _made(output_dir: Path, job: Job, unit: Unit, record: SlideRecord | None) -> Path | None:
    """Where ``unit`` is kept, if it is: as the manifest says, or under its own name (made
    by a run killed before it wrote the manifest)."""
    relative = None if record is None else record.unit_original(unit.key)
    if relative is not None and kept_file(output_dir / relative):
        return output_dir / relative
    return found_original(job.dest, unit.tag)


def candidates_shown(job: Job, chain: Chain, record: SlideRecord | None) -> bool:
    """Whether each candidate of a slide of several is in its file, as the record says."""
    if len(chain.candidates) < 2:
        return True
    keys = tuple(unit.key for unit in chain.candidates)
    if record is None or record.candidates != keys:
        return False
    return all(job.candidate_path(unit.number).is_file() for unit in chain.candidates)


def why_restored(chain: Chain, found: ChainPlan) -> str:
    """Why a slide is put back with no request: which unit, kept from an earlier run."""
    target = chain.target
    if target.step is not None:
        return f"edit {target.number} kept, put back"
    return f"candidate {target.number} kept, put back"


def why_asked(found: ChainPlan) -> str:
    """Why a chain slide is asked for: ``edits 2-3 to make``, ``candidates 1-3 to make``."""
    candidates = [unit.number for unit in found.candidates_to_make]
    edits = [unit.number for unit in found.edits_to_make]
    said = []
    if candidates:
        said.append(f"candidate{'s' if len(candidates) > 1 else ''} {numbers(candidates)}")
    if edits:
        said.append(f"edit{'s' if len(edits) > 1 else ''} {numbers(edits)}")
    return " and ".join(said) + " to make"


def unit_costs(
    config: DeckConfig, job: Job, chain: Chain, make: tuple[Unit, ...], image: float | None
) -> dict[str, float | None]:
    """Each unit to make -> its expected USD: a candidate as the slide's image; an edit step
    with its input images (:func:`~..cost.edit_cost`): the user turn sent back (the slide's
    references, or the earlier step's marked copy), the model turn's image, and the marked
    copy of a region step; a fresh edit (a model that keeps no turn) sends the image alone."""
    spec = next(spec for spec in config.slides if spec.number == job.slide)
    continuing = signs_turns(config.model)
    costs: dict[str, float | None] = {}
    for unit in make:
        if unit.step is None:
            costs[unit.name] = image
            continue
        before = chain.before(unit)
        marked = 1 if unit.step.region is not None else 0
        text = len(edit_text(unit.step)) // CHARS_PER_TOKEN + 1
        if continuing:
            if before.step is None:
                sent_back = job.images
                text += len(spec.full_prompt) // CHARS_PER_TOKEN + 1
            else:
                sent_back = 1 if before.step.region is not None else 0
                text += len(edit_text(before.step)) // CHARS_PER_TOKEN + 1
            images = sent_back + 1 + marked
        else:
            images = 1 + marked
        costs[unit.name] = edit_cost(config.model, spec.image_size, images, prompt_tokens=text)
    return costs


def numbers(numbers: list[int]) -> str:
    """``1-3``, ``2, 4``: candidate numbers as the plan's line shows them."""
    if len(numbers) > 1 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(map(str, numbers))
