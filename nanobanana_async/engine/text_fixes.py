"""Fix rounds: a checked slide whose text missed is edited until it reads right.

A slide with ``fix_text: N`` (or ``--fix-text N``) whose check came out ``missing`` gets
up to N edit rounds, each with :func:`~..qa.correction_instruction` of the last check (it
names exactly what to change and says to change nothing else), each read and matched again
(:mod:`.text_checks`); the rounds stop at the first ``ok``.

Each round is a unit like an edit step (:mod:`.chains`, :mod:`.chained`): keyed by the unit
it edits and its instruction (``key(fN) = H(key(before) | model | instruction |
generationConfig)``), sent through :meth:`~.attempt.Run.request` (admission, the budget,
retries), its model turn kept in ``.turns``, its bytes in ``.originals`` under
``<file>.f<N>.<key16>`` before anything else happens, its cost counted. So a run killed
mid-fix leaves each paid round on disk, and its resume reads the slide, writes the same
instruction, finds the round under its key and pays nothing twice. Every round continues
the conversation from the slide's own request: that user turn, the image being fixed as the
model's turn, the instruction; so the model sees what the whole slide must say, not only the
last correction. Without a kept turn, or when the service refuses the one sent back, the
round is a fresh edit.

A round that would pass the budget (``max_cost``) is not sent: the slide keeps what it has
and is flagged, and the run says so once (:meth:`TextFixes.notice`). A round that fails
otherwise ends the rounds the same way; the slide itself never fails for its text.

A slide still wrong after N rounds shows the *best* image read, not the last: a round can
garble another string while it fixes one, and what the audience sees should be the
closest to what the slide must say (fewest strings missing, then the closest; a tie keeps
the earlier image, the one changed least). The image it replaces is kept in ``.versions``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

from ..cost import answer_cost
from ..errors import SignatureRejected, UnusableAnswer
from ..files.atomic import write_atomic
from ..files.deck_folders import ORIGINALS_DIR, kept_file, read_kept
from ..files.images import (
    ImageDecodeError,
    found_original,
    keep_unit,
    read_staged,
    unit_original_name,
    unit_staged_path,
)
from ..files.turns import read_turn, turn_path
from ..qa import TextCheck, correction_instruction
from ..service.edit_body import EditStep, edit_body, edit_text
from ..service.model_ids import signs_turns
from ..service.protocol import GeneratedImage
from ..wording import slide_ranges
from .attempt import Run
from .chains import Unit, candidate_body, chain_of, unit_tag
from .fix_units import fix_cost, fix_key
from .manifest import SlideRecord, UnitRecord
from .originals import MAX_ORIGINAL_BYTES
from .plan import Job
from .text_checks import FixRounds, Origin

__all__ = ["FixOutcome", "TextFixes", "kept_origin", "origin_of"]


def origin_of(job: Job, unit: Unit, original: Path | None, turn: Path | None) -> Origin:
    """What a fix round of ``job``'s slide continues from when its file shows ``unit`` of
    its chain (kept at ``original``, its model turn at ``turn``)."""
    parts: list[dict[str, Any]] | None = None
    if unit.step is None:
        parts = list(candidate_body(job, unit.number)["contents"][0]["parts"])
    elif unit.step.region is None:
        parts = [{"text": edit_text(unit.step)}]
    # A region step's user turn held its marked copy, not kept: a fix of it starts fresh.
    return Origin(job, unit.key, parts, turn, original)


def kept_origin(model: str, job: Job, record: SlideRecord | None) -> Origin:
    """What a fix round of a slide kept from an earlier run continues from: the unit its
    file shows, as its record says (the end of its chain, or a fix round placed); with no
    record (a run killed before its manifest, resumed), the slide's own original."""
    output_dir = job.dest.parent
    target = chain_of(model, job).target
    if record is None:
        original = _own_original(job.dest)
        turn = None if original is None else turn_path(output_dir, original.name)
        return origin_of(job, target, original, turn if turn and turn.is_file() else None)
    original = None if record.original is None else output_dir / record.original
    shown = next(
        (key for key, unit in record.units.items() if unit.original == record.original),
        target.key,
    )
    unit = record.units.get(shown)
    turn = None if unit is None or unit.turn is None else output_dir / unit.turn
    return dataclasses.replace(origin_of(job, target, original, turn), key=shown)


def _own_original(dest: Path) -> Path | None:
    """The original a slide's own request left in ``.originals``, if it is there."""
    for ext in (".png", ".jpg", ".webp"):
        path = dest.parent / ORIGINALS_DIR / f"{dest.name}{ext}"
        if kept_file(path):
            return path
    return None


@dataclass(slots=True)
class FixOutcome:
    """What a slide's fix rounds made and put in place, for the results and the manifest.

    Attributes:
        units: fix unit key -> its record, for each round made or found on disk.
        placed: the key and original of the round the slide's file shows now; ``None``
            when it still shows the image checked first.
        cost: what this run paid for its rounds.
        adopted: estimates of the rounds an interrupted run made and never recorded.
        size_bytes: the slide's file once a round is placed.
        previous: where the image it replaced was kept.
    """

    units: dict[str, UnitRecord] = field(default_factory=dict)
    placed: tuple[str, Path] | None = None
    cost: float | None = 0.0
    adopted: list[float | None] = field(default_factory=list)
    size_bytes: int | None = None
    previous: Path | None = None


@dataclass(slots=True)
class _Image:
    """One image of the rounds: the unit it is, its bytes, and how to continue from it."""

    key: str
    data: bytes
    check: TextCheck
    user_parts: Sequence[Mapping[str, Any]] | None
    turn: Path | None
    original: Path | None = None  # a round's, in .originals; None for the image first checked


def _record(
    dest: Path, name: str, original: Path, turn: Path | None, cost: float | None, said: str
) -> UnitRecord:
    """A fix round's record in the manifest: its files relative to the deck's folder."""
    folder = dest.parent
    kept_turn = None if turn is None else str(turn.relative_to(folder))
    return UnitRecord(name, str(original.relative_to(folder)), kept_turn, cost, said)


def _score(check: TextCheck) -> tuple[int, int, float]:
    """Higher is closer to what the slide must say: ok, then fewest missing, then closest."""
    if check.state == "ok":
        return (2, 0, 0.0)
    if check.state == "unreadable":
        return (0, 0, 0.0)
    return (1, -len(check.missing), sum(m.similarity for m in check.missing))


def _mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    return "image/webp" if data[8:12] == b"WEBP" else "image/jpeg"


class TextFixes:
    """The fix rounds of one run (module docstring): the :class:`~.text_checks.Fixer`.

    Args:
        run: the run (its requests, budget, saving).
        records: the manifest's slide records, for rounds already recorded.
    """

    def __init__(self, run: Run, records: Mapping[int, SlideRecord]) -> None:
        self.run = run
        self.records = records
        self.outcomes: dict[int, FixOutcome] = {}
        self.over_budget: set[int] = set()
        self._continuing = signs_turns(run.config.model)

    def notice(self) -> str | None:
        """The one notice of a run that left fix rounds unsent for its budget, if it did."""
        if not self.over_budget:
            return None
        budget = self.run.max_cost or 0.0
        slides = slide_ranges(sorted(self.over_budget))
        return (
            f"text fixes not sent: they would pass the budget of ${budget:.2f}; "
            f"{slides} kept as they are, flagged (raise max_cost, then run again)"
        )

    async def __call__(
        self,
        origin: Origin,
        check: TextCheck,
        image: bytes,
        rounds: int,
        judge: Callable[[bytes], Awaitable[TextCheck]],
        told: Callable[[TextCheck, int], None],
    ) -> FixRounds:
        job = origin.job
        outcome = self.outcomes.setdefault(job.slide, FixOutcome())
        data = image
        if origin.original is not None:
            with contextlib.suppress(OSError):  # gone: the file checked is edited instead
                data = await anyio.to_thread.run_sync(
                    read_kept, origin.original, MAX_ORIGINAL_BYTES
                )
        first = _Image(origin.key, data, check, origin.user_parts, origin.turn)
        best = current = first
        tried, stopped = 0, ""
        for number in range(1, rounds + 1):
            instruction = correction_instruction(current.check)
            made = await self._round(origin, current, number, instruction, outcome)
            if isinstance(made, str):
                stopped = made
                break
            tried = number
            made.check = await judge(made.data)
            told(made.check, tried)
            if _score(made.check) > _score(best.check):
                best = made
            if made.check.state != "missing":
                break  # ok; or unreadable, which no correction names
            current = made
        if best is not first and not await self._place(origin, best, outcome):
            best = first  # not placed: the slide shows the image first checked
        return FixRounds(best.check, tried, stopped)

    async def _round(
        self, origin: Origin, before: _Image, number: int, instruction: str, outcome: FixOutcome
    ) -> _Image | str:
        """Fix round ``number`` on ``before``: found on disk, or asked for; why not, if not."""
        run, job = self.run, origin.job
        step = EditStep(instruction)
        generation = job.body.get("generationConfig", {})
        key = fix_key(before.key, run.config.model, instruction, generation)
        name = f"f{number}"
        tag = unit_tag(name, key)
        record = self.records.get(job.slide)
        known = None if record is None else record.units.get(key)
        kept = await anyio.to_thread.run_sync(found_original, job.dest, tag)
        if kept is None:
            staged = unit_staged_path(job.dest, tag)
            if await anyio.to_thread.run_sync(read_staged, job.dest, staged) is not None:
                kept = await anyio.to_thread.run_sync(self._keep_staged, job.dest, tag, staged)
        estimate = fix_cost(run.config, job.slide, job.images)
        parts = before.user_parts  # every round follows the slide's own request
        if kept is not None:  # paid for by an earlier run: not asked again
            data = await anyio.to_thread.run_sync(read_kept, kept, MAX_ORIGINAL_BYTES)
            kept_turn = turn_path(job.dest.parent, kept.name)
            turn = kept_turn if kept_turn.is_file() else None
            if known is None:
                outcome.adopted.append(estimate)
            cost = estimate if known is None else known.cost_usd
            outcome.units[key] = _record(job.dest, name, kept, turn, cost, instruction)
            return _Image(key, data, before.check, parts, turn, kept)
        received: list[tuple[GeneratedImage, Path | None, Path]] = []

        async def ask() -> None:
            body = await anyio.to_thread.run_sync(functools.partial(self._body, job, before, step))
            try:
                image = await run.request(job, body, estimate)
            except SignatureRejected:  # the turn sent back refused: the round, fresh
                fresh = functools.partial(self._body, job, before, step, fresh=True)
                image = await run.request(job, await anyio.to_thread.run_sync(fresh), estimate)
            cost = answer_cost(run.config.model, image.usage)
            run.spent += cost or 0.0
            outcome.cost = None if cost is None or outcome.cost is None else outcome.cost + cost
            try:
                turn, original = await anyio.to_thread.run_sync(self._store, job.dest, tag, image)
            except ImageDecodeError as error:
                raise UnusableAnswer(str(error), status=200, reason="BAD_IMAGE") from None
            outcome.units[key] = _record(job.dest, name, original, turn, cost, instruction)
            received.append((image, turn, original))

        failure = await run.try_unit(job, ask)
        if failure is not None:
            kind, message = failure
            if kind == "OverBudget":
                self.over_budget.add(job.slide)
                return "over budget"
            return f"fix {number} failed: {message}"
        image, turn, original = received[-1]
        return _Image(key, image.data, before.check, parts, turn, original)

    def _body(
        self, job: Job, before: _Image, step: EditStep, *, fresh: bool = False
    ) -> dict[str, Any]:
        """Blocking: the round's body, continuing from ``before`` when its turn is kept."""
        turn = None
        usable = before.turn is not None and before.user_parts is not None
        if usable and self._continuing and not fresh:
            assert before.turn is not None
            turn = read_turn(before.turn)
        if turn is None:
            self.run.fresh_edits.add(job.slide)
        return edit_body(
            generation_config=job.body.get("generationConfig", {}),
            user_parts=before.user_parts if turn is not None else None,
            model_turn=turn,
            image=before.data,
            mime_type=_mime(before.data),
            step=step,
            marked=None,
        )

    def _store(self, dest: Path, tag: str, image: GeneratedImage) -> tuple[Path | None, Path]:
        """Blocking: the turn, then the bytes staged, checked and moved into ``.originals``."""
        name = unit_original_name(dest, tag, image.data)
        turn = self.run.keep_turn(dest.parent, name, image)
        staged = unit_staged_path(dest, tag)
        write_atomic(staged, image.data, mode=0o600)
        if read_staged(dest, staged) is None:
            staged.unlink(missing_ok=True)
            raise ImageDecodeError("the returned image does not decode")
        return turn, keep_unit(dest, name, staged)

    @staticmethod
    def _keep_staged(dest: Path, tag: str, staged: Path) -> Path | None:
        """Blocking: a round an interrupted run received and staged, kept with no request."""
        data = read_staged(dest, staged)
        if data is None:
            return None
        return keep_unit(dest, unit_original_name(dest, tag, data), staged)

    async def _place(self, origin: Origin, best: _Image, outcome: FixOutcome) -> bool:
        """The slide's file shows ``best``, the image it replaces kept in ``.versions``;
        whether it does (a file that cannot be written keeps the image it shows)."""
        assert best.original is not None
        try:
            saved = await self.run.save(origin.job, best.data, original_name=best.original.name)
        except (OSError, ImageDecodeError):
            return False
        outcome.placed = (best.key, best.original)
        outcome.size_bytes = saved.size_bytes
        outcome.previous = saved.previous
        return True
