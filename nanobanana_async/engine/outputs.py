"""What a run writes when it ends: the results, the manifest, the contact sheet.

The results go to the results file and a copy in ``output_dir``, and the manifest records
what made each image and what the deck has cost over all its runs (:func:`deck_spend`).
What a run checks and prepares before it sends anything is :mod:`.preflight`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ..exits import RESULTS_COPY_NAME
from ..files.atomic import (
    write_atomic,
)
from ..files.foreign import keep_foreign
from ..files.images import staged_path
from ..results import MAX_RESULTS_COPY_BYTES, DeckResult, is_results
from .chained import ChainOutcome
from .chains import Chain, chain_of
from .manifest import (
    MAX_UNITS,
    Manifest,
    SlideRecord,
    Spend,
    UnitRecord,
    field_digests,
    generation_digest,
    output_digest,
)
from .plan import Job
from .preflight import reason
from .text_fixes import FixOutcome

__all__ = [
    "RESULTS_COPY_NAME",
    "deck_spend",
    "refresh_contact_sheet",
    "saved_as_cancelled",
    "write_manifest",
    "write_results",
]


def refresh_contact_sheet(output_dir: Path) -> None:
    """Redraw ``output_dir/contact-sheet.png`` (the whole deck in one small image) and the
    candidates sheet of each slide of variants.

    An agent checks the deck by viewing it, for the price of one image instead of ten. A
    deck that cannot be drawn (nothing readable) leaves no sheet; failing to draw it never
    fails the run, which has written its images and results already.
    """
    from ..export import (  # Pillow drawing
        ExportError,
        read_deck,
        write_candidate_sheets,
        write_contact_sheet,
    )

    with contextlib.suppress(ExportError, OSError):
        deck = read_deck(output_dir)
        write_contact_sheet(deck)
        # Each slide of several candidates: candidates-NN.png, them side by side.
        write_candidate_sheets(deck)


def deck_spend(previous: Spend, result: DeckResult, adopted: Mapping[int, float | None]) -> Spend:
    """What the deck has cost once this run is over.

    The manifest's spend, plus what this run paid for (its images not reused, a Batch API
    job's at the batch rate), plus what an interrupted run made that it could not record
    (``adopted``: slide -> the plan's estimate). A dry run's placeholders cost nothing.
    """
    if result.dry_run:
        return previous
    paid = [output.cost_usd for output in result.outputs if not output.reused]
    return previous.plus([*paid, *(adopted[slide] for slide in sorted(adopted))])


def write_manifest(
    output_dir: Path,
    previous: Manifest,
    jobs: list[Job],
    model: str,
    result: DeckResult,
    originals: dict[int, Path],
    batch: Mapping[str, Any] | None = None,
    *,
    spend: Spend,
    adopted: Mapping[int, float | None],
    turns: Mapping[int, Path] | None = None,
    chains: Mapping[int, ChainOutcome] | None = None,
    fixes: Mapping[int, FixOutcome] | None = None,
    checks: Mapping[int, Mapping[str, Any]] | None = None,
) -> None:
    """Record what decides each slide's image now, for the next run of the deck.

    ``turns``: where the model's turn that made each image saved is kept. ``chains``: what
    each slide's chain made and put in place (:mod:`.chained`), whether the slide
    succeeded or not: every unit made is recorded, so nothing paid for is asked again.

    ``fixes``: what each slide's text fix rounds made and put in place (:mod:`.text_fixes`):
    recorded among its units, the round placed as its ``original`` (a re-encode then shows
    it), its ``generation`` still the unit the config asks for, so a rerun keeps it.
    ``checks``: each slide's last text check, kept so a rerun that keeps it does not read it.

    ``batch`` is a Batch API job still to collect (the next run waits for it). ``spend``
    is what the deck has cost, this run included (:func:`deck_spend`). ``adopted``: slides
    an interrupted run made and could not record, and what they are taken to have cost.

    A slide saved (or re-encoded) by this run gets a new record, and so does one adopted
    (made for the config as it is now, by the run resumed); one kept keeps its own; a
    failed one keeps the record of the image still in place, and stays pending (what the
    run set out to make and did not, for ``--resume``). Every record takes the config's
    prompt as written now, the speaker notes ``nanobanana export`` gives the slide without
    the config. Failing to write it costs nothing now: the next run then regenerates what
    it cannot tell unchanged.
    """
    by_slide = {job.slide: job for job in jobs}
    records = {
        n: dataclasses.replace(r, prompt=by_slide[n].prompt or r.prompt)
        for n, r in previous.slides.items()
        if n in by_slide
    }
    turns = turns or {}
    for slide, chain in (chains or {}).items():
        records[slide] = _chained(output_dir, model, by_slide[slide], records.get(slide), chain)
    for output in result.outputs:
        if output.slide in (chains or {}):
            continue
        job = by_slide[output.slide]
        original = originals.get(output.slide)
        old = records.get(output.slide)
        if original is None and old is not None and output.slide not in adopted:
            if not old.fields and old.generation == generation_digest(model, job.body):
                # Kept from a manifest older than its fields: they are this config's.
                records[output.slide] = dataclasses.replace(old, fields=field_digests(model, job))
            continue  # kept as it was
        if output.slide in adopted:
            cost = adopted[output.slide]
        else:
            cost = output.cost_usd if not output.reused else (old.cost_usd if old else None)
        key = generation_digest(model, job.body)
        relative = None if original is None else str(original.relative_to(output_dir))
        units = _units(old)
        if relative is not None and not _fixed(old, relative):
            turn = turns.get(output.slide)
            made = UnitRecord("v1", relative, _relative(output_dir, turn), cost)
            units = _merged(units, {key: made}, chain_of(model, job))
        records[output.slide] = SlideRecord(
            key,
            output_digest(job),
            job.dest.name,
            relative,
            cost,
            job.prompt or None,
            field_digests(model, job),
            units,
            old.candidates if old is not None else (),
        )
    for slide, outcome in (fixes or {}).items():
        record = records.get(slide)
        if record is None:
            continue
        units = _merged(_units(record), outcome.units, chain_of(model, by_slide[slide]))
        placed = record.original
        if outcome.placed is not None:
            placed = str(outcome.placed[1].relative_to(output_dir))
        records[slide] = dataclasses.replace(record, units=units, original=placed)
    for slide, check in (checks or {}).items():
        if slide in records:
            records[slide] = dataclasses.replace(records[slide], text_check=check)
    failed = {error.slide for error in result.errors}
    pending = {n: p for n, p in previous.pending.items() if n in failed and n in by_slide}
    with contextlib.suppress(OSError):
        Manifest(records, batch, pending, spend=spend).write(output_dir)


def _fixed(record: SlideRecord | None, original: str) -> bool:
    """Whether ``original`` is a text fix round's (a slide re-encoded from the round its
    record placed): the unit the config asks for keeps its own original."""
    if record is None:
        return False
    return any(u.original == original and u.unit.startswith("f") for u in record.units.values())


def _relative(output_dir: Path, path: Path | None) -> str | None:
    return None if path is None else str(path.relative_to(output_dir))


def _units(record: SlideRecord | None) -> dict[str, UnitRecord]:
    """The units a record keeps, the one in place included (a record older than units
    knows only that one, always a first candidate)."""
    if record is None:
        return {}
    units = dict(record.units)
    if record.generation not in units and record.original is not None:
        units = {record.generation: UnitRecord("v1", record.original, None, record.cost_usd)}
        units |= record.units
    return units


def _merged(
    units: Mapping[str, UnitRecord], made: Mapping[str, UnitRecord], chain: Chain
) -> dict[str, UnitRecord]:
    """``units`` with those ``made`` now added last; an older unit whose original's name a
    new one took (a slide's first candidate keeps one name) is dropped, its bytes gone; past
    :data:`~.manifest.MAX_UNITS`, the oldest not in ``chain`` is forgotten (its files
    stay where they are)."""
    taken = {unit.original for unit in made.values()}
    merged = {k: u for k, u in units.items() if k not in made and u.original not in taken}
    merged |= made
    wanted = {unit.key for unit in chain.units}
    while len(merged) > MAX_UNITS:
        oldest = next((k for k in merged if k not in wanted), next(iter(merged)))
        del merged[oldest]
    return merged


def _chained(
    output_dir: Path, model: str, job: Job, old: SlideRecord | None, outcome: ChainOutcome
) -> SlideRecord:
    """The record of a slide whose chain ran: every unit it made, the one put in place."""
    chain = chain_of(model, job)
    units = _merged(_units(old), outcome.units, chain)
    candidates = outcome.candidates or (old.candidates if old is not None else ())
    if outcome.placed is None:
        if old is None:  # nothing in place: a record that matches no chain, units kept
            return SlideRecord("", "", job.dest.name, None, None, job.prompt or None, {}, units)
        return dataclasses.replace(old, units=units, candidates=candidates)
    key, original = outcome.placed
    unit = units.get(key)
    return SlideRecord(
        key,
        output_digest(job),
        job.dest.name,
        str(original.relative_to(output_dir)),
        unit.cost_usd if unit is not None else None,
        job.prompt or None,
        field_digests(model, job),
        units,
        candidates,
    )


def saved_as_cancelled(dest: Path) -> bool:
    """Whether a conversion the run walked away from had already saved ``dest``.

    The staged copy is removed only after the final file is renamed into place, so "final
    there, staged gone" means the image is whole; two ``stat`` calls, no decoding.
    """
    return dest.is_file() and not staged_path(dest).exists()


async def write_results(result: DeckResult, output_dir: Path, results_file: Path | None) -> None:
    data = result.to_json()
    failure: OSError | None = None
    copy = output_dir / RESULTS_COPY_NAME
    for target in (results_file, copy):
        if target is None:
            continue
        try:
            if target == copy:  # kept aside at the start; one put there since, now
                await anyio.to_thread.run_sync(
                    keep_foreign, copy, is_results, MAX_RESULTS_COPY_BYTES
                )
            await anyio.to_thread.run_sync(
                functools.partial(write_atomic, target, data, mode=0o600)
            )
        except OSError as exc:
            # The copy in output_dir is a convenience; the results file is the contract.
            if target == results_file:
                failure = OSError(exc.errno, f"cannot write {target}: {reason(exc)}")
    if failure is not None:
        raise failure
