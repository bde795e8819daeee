"""One slide's chain carried out: its candidates, its edit steps, the unit put in place.

The plan (:func:`~.chains.plan_chain`) said which units are kept, which an interrupted run
staged, and which to ask for. This makes them, in order: the candidates (each a request of
the slide's body, seeded ``seed + k - 1``), then each edit step on the one before it. Each
unit's answer is kept as it arrives, the model's turn first (``.turns``, when the model
signs its turns), then its bytes staged and moved into ``.originals`` under the unit's
name: a run killed after that finds it on disk and does not ask again.

An edit step's body (:func:`~..service.edit_body.edit_body`) rebuilds the user turn that
made the unit before it (the slide's request for a candidate; the earlier step's text and
marked copy), sends back that unit's model turn, then the instruction. Without a kept turn
(an older deck, a model that signs none) the step is a *fresh* edit: the image inline and
the instruction, said once in the run's notices. A 400 naming a thought signature
(:class:`~..errors.SignatureRejected`) is retried once as a fresh edit. A step that fails
otherwise ends the chain there: the slide shows the last unit made, reported ``EditFailed``.

The slide's file then shows the last unit of its path made, the image it replaces kept in
``.versions`` (named ``previous``); each candidate of a slide of several is saved beside it
as ``<stem>.v<k><ext>``. Nothing here decides: the plan did.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..cost import answer_cost
from ..errors import (
    SignatureRejected,
    UnusableAnswer,
)
from ..files.atomic import write_atomic
from ..files.deck_folders import read_kept
from ..files.images import (
    ImageDecodeError,
    SavedImage,
    keep_unit,
    read_staged,
    save_received,
    unit_original_name,
    unit_staged_path,
)
from ..files.marking import marked_copy
from ..files.turns import read_turn, turn_path
from ..results import SlideFailure, SlideOutput, utc_iso
from ..service.edit_body import MARKED_MIME_TYPE, edit_body, edit_text
from ..service.model_ids import signs_turns
from ..service.protocol import GeneratedImage
from ..wording import plural, slide_ranges
from .attempt import Run
from .chains import ChainPlan, Unit, candidate_body
from .events import SlideDone, SlideReused
from .manifest import SlideRecord, UnitRecord
from .originals import MAX_ORIGINAL_BYTES
from .plan import Job
from .text_fixes import origin_of

__all__ = ["ChainOutcome", "carry_chain", "fresh_notice"]

_FRESH_NOTICE = (
    "edited without the model's earlier turn (none kept: an older deck, or a model that "
    "keeps none), so the model sees only the image: {slides}"
)


@dataclass(slots=True)
class ChainOutcome:
    """What a slide's chain made and put in place, for the manifest.

    Attributes:
        units: unit key -> its record, for each unit made (or recovered) by this run.
        placed: the key of the unit the slide's file shows now, and its original; ``None``
            when the file was not touched.
        candidates: the key each candidate file shows, in order (a slide of several).
        paid: the units this run asked for and received.
        adopted: the estimates of the units an interrupted run made and never recorded,
            counted once in what the deck has cost.
    """

    units: dict[str, UnitRecord] = field(default_factory=dict)
    placed: tuple[str, Path] | None = None
    candidates: tuple[str, ...] = ()
    paid: list[UnitRecord] = field(default_factory=list)
    adopted: list[float | None] = field(default_factory=list)


def _mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    return "image/webp" if data[8:12] == b"WEBP" else "image/jpeg"


class _Chain:
    """One slide's chain, carried out by :func:`carry_chain`."""

    def __init__(self, run: Run, job: Job, plan: ChainPlan, record: SlideRecord | None) -> None:
        self.run = run
        self.job = job
        self.plan = plan
        self.record = record
        self.kept: dict[str, Path] = dict(plan.made)
        self.outcome = ChainOutcome()
        self.cost: float | None = 0.0
        self.output_dir = job.dest.parent

    # What a unit is and where it is kept.

    def _read(self, unit: Unit) -> bytes:
        return read_kept(self.kept[unit.key], MAX_ORIGINAL_BYTES)

    def _keep(self, unit: Unit, turn: Path | None, cost: float | None, fresh: bool) -> None:
        original = self.kept[unit.key]
        step = unit.step
        self.outcome.units[unit.key] = UnitRecord(
            unit.name,
            str(original.relative_to(self.output_dir)),
            None if turn is None else str(turn.relative_to(self.output_dir)),
            cost,
            None if step is None else step.instruction,
            None if step is None or step.region is None else tuple(step.region),
            fresh,
        )

    def _store(self, unit: Unit, image: GeneratedImage) -> tuple[Path | None, Path]:
        """Blocking: the turn, then the bytes staged, checked and moved into ``.originals``."""
        name = unit_original_name(self.job.dest, unit.tag, image.data)
        turn = self.run.keep_turn(self.output_dir, name, image)
        staged = unit_staged_path(self.job.dest, unit.tag)
        write_atomic(staged, image.data, mode=0o600)
        if read_staged(self.job.dest, staged) is None:
            staged.unlink(missing_ok=True)
            raise ImageDecodeError("the returned image does not decode")
        return turn, keep_unit(self.job.dest, name, staged)

    async def _accept(self, unit: Unit, image: GeneratedImage, *, fresh: bool = False) -> None:
        served = self.run.served(self.job.slide, image)
        cost = answer_cost(self.run.config.model, image.usage, tier=served)
        self.run.spent += cost or 0.0
        self.cost = None if cost is None or self.cost is None else self.cost + cost
        try:
            turn, original = await anyio.to_thread.run_sync(self._store, unit, image)
        except ImageDecodeError as error:
            raise UnusableAnswer(str(error), status=200, reason="BAD_IMAGE") from None
        self.kept[unit.key] = original
        self._keep(unit, turn, cost, fresh)
        self.outcome.paid.append(self.outcome.units[unit.key])

    def _recover(self) -> None:
        """Blocking: keep what an interrupted run received and staged, with no request."""
        for unit in self.plan.chain.units:
            if unit.key not in self.plan.staged:
                continue
            staged = unit_staged_path(self.job.dest, unit.tag)
            data = read_staged(self.job.dest, staged)
            if data is None:
                continue  # gone since the plan: asked for below if the path needs it
            name = unit_original_name(self.job.dest, unit.tag, data)
            self.kept[unit.key] = keep_unit(self.job.dest, name, staged)
            turn = turn_path(self.output_dir, name)
            self._keep(unit, turn if turn.is_file() else None, None, False)

    def _adopt(self) -> None:
        """Record the units an interrupted run made (or received) and could not record, at
        the plan's estimate: what the deck has cost counts them once."""
        for unit in self.plan.chain.units:
            if unit.key not in self.plan.adopted or unit.key not in self.kept:
                continue
            estimate = self._estimate(unit)
            turn = turn_path(self.output_dir, self.kept[unit.key].name)
            self._keep(unit, turn if turn.is_file() else None, estimate, False)
            self.outcome.adopted.append(estimate)

    # Requests.

    async def _candidate(self, unit: Unit) -> None:
        body = candidate_body(self.job, unit.number)
        image = await self.run.request(self.job, body, self._estimate(unit))
        await self._accept(unit, image)

    def _estimate(self, unit: Unit) -> float | None:
        return self.run.unit_estimates.get((self.job.slide, unit.name))

    def _edit_body(self, unit: Unit, *, fresh: bool) -> tuple[dict[str, Any], bool]:
        """Blocking: the body of edit step ``unit``, and whether it is fresh."""
        chain, step = self.plan.chain, unit.step
        assert step is not None
        before = chain.before(unit)
        image = self._read(before)
        marked = None if step.region is None else marked_copy(image, step.region)
        turn = None
        if not fresh and signs_turns(self.run.config.model):
            turn = read_turn(turn_path(self.output_dir, self.kept[before.key].name))
        parts: list[dict[str, Any]] | None = None
        if turn is not None:
            if before.step is None:
                parts = list(candidate_body(self.job, before.number)["contents"][0]["parts"])
            else:
                parts = [{"text": edit_text(before.step)}]
                if before.step.region is not None:
                    earlier = self._read(chain.before(before))
                    copy = marked_copy(earlier, before.step.region)
                    parts.append(_inline(copy, MARKED_MIME_TYPE))
        body = edit_body(
            generation_config=self.job.body.get("generationConfig", {}),
            user_parts=parts,
            model_turn=turn,
            image=image,
            mime_type=_mime(image),
            step=step,
            marked=marked,
        )
        return body, turn is None

    async def _edit(self, unit: Unit) -> None:
        body, fresh = await anyio.to_thread.run_sync(
            functools.partial(self._edit_body, unit, fresh=False)
        )
        try:
            image = await self.run.request(self.job, body, self._estimate(unit))
        except SignatureRejected:
            # The service refused the turn sent back (stale, or not its own): the same step
            # as a fresh edit can still go through, without the turn's context.
            body, fresh = await anyio.to_thread.run_sync(
                functools.partial(self._edit_body, unit, fresh=True)
            )
            image = await self.run.request(self.job, body, self._estimate(unit))
        if fresh:
            self.run.fresh_edits.add(self.job.slide)
        await self._accept(unit, image, fresh=fresh)

    # The chain.

    async def carry_out(self, *, send: bool) -> None:
        run, job, plan = self.run, self.job, self.plan
        run.chains[job.slide] = self.outcome
        await anyio.to_thread.run_sync(self._recover)
        self._adopt()
        chain = plan.chain
        make = [unit for unit in plan.make if unit.key not in self.kept]
        if make and not send:
            run.fail(
                job,
                f"not sent: it needs {len(make)} request(s) ({', '.join(u.name for u in make)}) "
                "and this run sends none",
                "NotSent",
            )
            return
        for unit in make:
            if unit.step is None and not await run.guard(
                job, functools.partial(self._candidate, unit)
            ):
                return  # failed (the results say why); what was made is kept
        failed: SlideFailure | None = None
        for unit in make:
            if unit.step is None:
                continue
            if not await run.guard(job, functools.partial(self._edit, unit)):
                if run.halted or job.slide not in run.failures:
                    return  # stopped: not a failure of the step; what was made is kept
                failed = run.failures[job.slide]
                break
        shown = [unit for unit in chain.path if unit.key in self.kept]
        last = shown[-1]
        applied = last.number if last.step is not None else 0
        try:
            saved = await self._place(last)
            files = await self._candidate_files()
        except (OSError, ImageDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            run.fail(job, f"cannot write {job.dest}: {reason}", "OSError")
            return
        size = saved.size_bytes if saved is not None else job.dest.stat().st_size
        previous = None if saved is None else saved.previous
        if failed is not None:
            message = (
                f"edit {applied + 1} failed ({failed.kind}: {failed.error}); the image shows "
                f"{applied} of {plural(len(chain.edits), 'edit')}"
            )
            run.failures[job.slide] = SlideFailure(
                job.slide,
                message,
                utc_iso(),
                "EditFailed",
                job.dest,
                applied,
                len(chain.edits),
                previous,
            )
            return
        run.outputs[job.slide] = SlideOutput(
            job.slide,
            job.dest,
            size // 1024,
            reused=not make,
            cost_usd=self.cost if make else 0.0,
            previous=previous,
            candidates=files,
            picked=chain.pick if files else None,
            fell_back=job.slide in run.tiers.fell_back,
            edits_applied=applied,
            edits=len(chain.edits),
        )
        event = SlideDone if make else SlideReused
        run.emit(event(job.slide, job.dest, size, run.clock()))
        if make:
            turn = turn_path(self.output_dir, self.kept[last.key].name)
            origin = origin_of(job, last, self.kept[last.key], turn if turn.is_file() else None)
            run.text.start(job.slide, self.kept[last.key], origin)

    async def _place(self, unit: Unit) -> SavedImage | None:
        """The slide's file shows ``unit``: written from its original unless it does."""
        job, record = self.job, self.record
        original = self.kept[unit.key]
        self.outcome.placed = (unit.key, original)
        if (
            record is not None
            and record.generation == unit.key
            and record.file == job.dest.name
            and job.dest.is_file()
        ):
            return None
        data = await anyio.to_thread.run_sync(self._read, unit)
        return await self.run.save(job, data, original_name=original.name)

    async def _candidate_files(self) -> tuple[Path, ...]:
        """Each candidate of a slide of several saved beside it, unless it is already."""
        job, chain = self.job, self.plan.chain
        if len(chain.candidates) < 2:
            return ()
        shown = self.record.candidates if self.record is not None else ()
        keys: list[str] = []
        files: list[Path] = []
        for index, unit in enumerate(chain.candidates):
            path = job.candidate_path(unit.number)
            if unit.key not in self.kept:
                keys.append(shown[index] if index < len(shown) else "")
                continue
            keys.append(unit.key)
            files.append(path)
            if index < len(shown) and shown[index] == unit.key and path.is_file():
                continue
            data = await anyio.to_thread.run_sync(self._read, unit)
            await save_received(
                data,
                path,
                fmt=job.fmt,
                quality=job.quality,
                lossless=job.lossless,
                keep=True,
                converting=self.run.savers,
                original_name=self.kept[unit.key].name,
            )
        self.outcome.candidates = tuple(keys)
        return tuple(files)


def _inline(data: bytes, mime_type: str) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime_type, "data": base64.b64encode(data).decode("ascii")}}


async def carry_chain(
    run: Run, job: Job, plan: ChainPlan, record: SlideRecord | None, *, send: bool = True
) -> None:
    """Carry out ``job``'s chain as ``plan`` says (module docstring); ``send=False`` asks
    for nothing: a unit to make fails the slide (``NotSent``)."""
    await _Chain(run, job, plan, record).carry_out(send=send)


def fresh_notice(slides: set[int]) -> str | None:
    """The one notice of a run whose edits started fresh, if any did."""
    if not slides:
        return None
    return _FRESH_NOTICE.format(slides=slide_ranges(sorted(slides)))
