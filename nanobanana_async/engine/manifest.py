"""What a deck's folder remembers of each slide, so a rerun pays only for what changed.

A run writes ``output_dir/.nano-banana-manifest.json`` with its results: per slide, a
digest of everything that decides the image (the model and the request body: the prompt
after its style, aspect ratio, size, temperature, seed, reference image bytes), a digest
of the output settings (format, quality, lossless), and where the bytes the service sent
are kept. The next run of the config compares: an unchanged slide whose image is whole is
kept without a request, one whose output settings alone changed is re-encoded from the
kept original, anything else is generated. Why it is built so: docs/design.md.

Each decision comes with its reason (:class:`Verdict`): the record also holds a short digest
of each named field (prompt, seed, format...), so a plan can say which one changed, and
the manifest keeps what a run set out to make and has not made yet (:class:`Pending`), so
``--resume`` finishes an interrupted ``--force`` instead of keeping the old images.

It also keeps what the deck has cost over all its runs (:class:`Spend`): a rerun pays only
for what changed, so the cost of the last run alone under-reports the deck.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from ..batch.wire import name_problem
from ..errors import redact
from ..files.atomic import write_atomic
from ..files.deck_folders import ORIGINALS_DIR, TURNS_DIR
from ..files.reading import read_regular
from .plan import Job

__all__ = [
    "MANIFEST_NAME",
    "MAX_UNITS",
    "Decision",
    "Manifest",
    "Pending",
    "SlideRecord",
    "Spend",
    "UnitRecord",
    "Verdict",
    "batch_slides",
    "decide",
    "field_digests",
    "generation_digest",
    "output_digest",
]

MANIFEST_NAME = ".nano-banana-manifest.json"
_FORMAT = 1  # the manifest's own format: a file of another format is not read
# Far above 10,000 slides' entries, each with up to 64 units kept: anything bigger is not ours.
_MAX_BYTES = 64 * 1024 * 1024
MAX_UNITS = 64
"""The units a slide's record keeps (:class:`UnitRecord`): past it, the oldest not in its
chain now is forgotten (its files stay where they are)."""
_FIELD_DIGEST_CHARS = 12  # enough to tell a change, small enough for 10,000 slides' fields
# The display names this tool gives its batches (engine/batched.py): nothing else is ours.
_DISPLAY_NAME = re.compile(r"nanobanana-[a-z0-9-]{1,64}")
# What a manifest may say an image or a deck cost: the dearest image is well under $1, and
# 10,000 slides redone a thousand times stay under the deck's cap; past either, not ours.
_MAX_IMAGE_USD = 100.0
_MAX_DECK_USD = 1e7
_MAX_UNPRICED = 10**9


class Decision(StrEnum):
    """What a run does with one slide."""

    GENERATE = "generate"  # ask the service (new, changed, missing, or asked for)
    # a unit of the slide's chain kept but not in place (an undo, another pick): put back,
    # no request (:mod:`.chains`)
    RESTORE = "restore"
    REENCODE = "reencode"  # same image, other output settings: convert the kept original
    KEEP = "keep"  # unchanged and whole: no request, no work
    # --resume: the interrupted run received the image and did not save it: save what it
    # staged, no request (decided by the plan, never recorded as a pending decision)
    RECOVER = "recover"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a run does with one slide, and why.

    Attributes:
        decision: generate, re-encode, keep, or (``--resume``) recover.
        reason: a short phrase: ``new``, ``changed``, ``image missing``, ``--force``...
        changed: the fields that changed since the image was made (``prompt``, ``seed``,
            ``format``...), when the manifest knows them.
        left: ``--resume`` only: an interrupted run set out to do this and did not.
    """

    decision: Decision
    reason: str
    changed: tuple[str, ...] = ()
    left: bool = False

    def describe(self) -> str:
        """``changed: prompt, seed``, ``--force (left by the interrupted run)``."""
        text = f"{self.reason}: {', '.join(self.changed)}" if self.changed else self.reason
        return f"{text} (left by the interrupted run)" if self.left else text

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.decision.value, "reason": self.reason, "changed": list(self.changed)}


@dataclass(frozen=True, slots=True)
class Pending:
    """A slide a run set out to make (generate or re-encode) and has not made yet.

    Attributes:
        verdict: what the run was to do, and why.
        was: the identity of the file at the slide's destination when it was planned
            (``None``: there was none): a file there now of another identity is the
            interrupted run's work, even when the run was killed before it could say so.
    """

    verdict: Verdict
    was: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.verdict.to_dict(), "was": self.was}


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit of a slide's chain that a run made and kept (:mod:`.chains`).

    Kept beyond the run that made it, so undoing a step or picking another candidate puts
    it back with no request.

    Attributes:
        unit: ``v2``, ``e1``...
        original: the service's bytes, relative to ``output_dir`` (in ``.originals``).
        turn: the model's turn that made it, relative to ``output_dir`` (in ``.turns``),
            when it was kept.
        cost_usd: what it cost, when known.
        instruction: an edit step's instruction.
        region: an edit step's region, ``(x, y, w, h)`` in fractions.
        fresh: an edit made without the model's earlier turn (none was kept).
    """

    unit: str
    original: str
    turn: str | None = None
    cost_usd: float | None = None
    instruction: str | None = None
    region: tuple[float, ...] | None = None
    fresh: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "unit": self.unit,
            "original": self.original,
            "turn": self.turn,
            "cost_usd": self.cost_usd,
        }
        if self.instruction is not None:
            data["instruction"] = self.instruction
        if self.region is not None:
            data["region"] = list(self.region)
        if self.fresh:
            data["fresh"] = True
        return data


@dataclass(frozen=True, slots=True)
class SlideRecord:
    """What the manifest says of one slide.

    Attributes:
        generation: :func:`generation_digest` of the request that made the image.
        output: :func:`output_digest` of how it was saved.
        file: the image's file name in ``output_dir``.
        original: the kept bytes of the service's answer, relative to ``output_dir``
            (``None`` when none was kept).
        cost_usd: what that image cost, when known.
        prompt: the slide's prompt as written (before a style wraps it), so an export
            without the config still gives each slide its speaker notes.
        fields: :func:`field_digests` of the request and output settings (empty in a
            manifest written before they were kept: a change is then not named).
        units: unit key -> :class:`UnitRecord`, every unit of the slide's chains kept, in
            the order made (at most :data:`MAX_UNITS`); ``generation`` is the key of the
            one in place.
        candidates: the key of the candidate each candidate file (``<stem>.v<k><ext>``)
            shows, in order; empty for a slide of one candidate.
        text_check: the last check of the slide's text (its ``text_check`` and the strings
            it looked for, ``expected``), so a rerun that keeps the slide shows it without
            reading it again; ``None`` when it was never checked.
    """

    generation: str
    output: str
    file: str
    original: str | None = None
    cost_usd: float | None = None
    prompt: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, UnitRecord] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()
    text_check: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "generation": self.generation,
            "output": self.output,
            "file": self.file,
            "original": self.original,
            "cost_usd": self.cost_usd,
            "prompt": self.prompt,
            "fields": dict(self.fields),
        }
        if self.units:
            data["units"] = {key: unit.to_dict() for key, unit in self.units.items()}
        if self.candidates:
            data["candidates"] = list(self.candidates)
        if self.text_check is not None:
            data["text_check"] = dict(self.text_check)
        return data

    def unit_original(self, key: str) -> str | None:
        """Where the unit ``key`` is kept, if the record knows (a record older than units
        knows the one in place)."""
        unit = self.units.get(key)
        if unit is not None:
            return unit.original
        return self.original if key == self.generation else None


def generation_digest(model: str, body: Mapping[str, Any]) -> str:
    """A digest of everything that decides a slide's image: the model and the request.

    The body is serialised with sorted keys, so the digest does not depend on the order a
    dict was built in; the reference image's bytes are in it (base64), so a changed
    reference changes the digest.
    """
    canonical = orjson.dumps({"model": model, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def output_digest(job: Job) -> str:
    """A digest of how a slide's image is saved: format, quality, lossless."""
    return _digest(_output_settings(job))


def _output_settings(job: Job) -> dict[str, Any]:
    return {"format": job.fmt, "quality": job.quality, "lossless": job.lossless}


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


_OUTPUT_FIELDS = ("format", "quality", "lossless")


def field_digests(model: str, job: Job) -> dict[str, str]:
    """A short digest of each named field that decides a slide's image and its file.

    Named as the config names them: ``model``, ``prompt`` (after its style), ``reference
    images`` (every image the body carries), each setting of the request's
    ``generationConfig`` (``aspect_ratio``, ``image_size``, ``temperature``, ``seed``), and
    the output settings. Only a plan's wording reads them: the decisions are the whole
    digests'.
    """
    parts = job.body["contents"][0]["parts"]
    named: dict[str, Any] = {
        "model": model,
        "prompt": [part["text"] for part in parts if "text" in part],
        "reference images": [part for part in parts if "text" not in part],
    }
    named |= _settings(job.body.get("generationConfig", {}))
    named |= _output_settings(job)
    return {name: _digest(value)[:_FIELD_DIGEST_CHARS] for name, value in named.items()}


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``{"imageConfig": {"aspectRatio": ...}}`` -> ``{"aspect_ratio": ...}``."""
    found: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            found |= _settings(value)
        else:
            found[re.sub(r"(?<=[a-z])([A-Z])", r"_\1", key).lower()] = value
    return found


def _changed(record: SlideRecord, now: Mapping[str, str], *, output: bool) -> tuple[str, ...]:
    """The request's fields (or, ``output``, the output settings) whose digest differs from
    the record's, in ``now``'s order; none when the record kept no fields."""
    if not record.fields:
        return ()
    return tuple(
        name
        for name in dict.fromkeys([*now, *record.fields])
        if (name in _OUTPUT_FIELDS) is output and record.fields.get(name) != now.get(name)
    )


@dataclass(frozen=True, slots=True)
class Spend:
    """What a deck has cost, over every run that paid for an image of it.

    A rerun pays only for what changed and a resumed run for what was left, so no one run's
    cost is the deck's: each run adds what it paid for here (at the batch rate for a Batch
    API job's images, as their ``cost_usd`` already are); a dry run adds nothing.

    Attributes:
        usd: USD summed over every answer paid for whose price was known.
        unpriced: answers paid for whose price was not known (a model not in the price
            table): while there is one, the deck's total is not known, only that it is at
            least :attr:`usd`.
    """

    usd: float = 0.0
    unpriced: int = 0

    @property
    def total_usd(self) -> float | None:
        """The deck's cost, or ``None`` when an answer of it had no known price."""
        return None if self.unpriced else self.usd

    def plus(self, costs: Iterable[float | None]) -> Spend:
        """This spend with ``costs`` added (``None``: an answer of no known price)."""
        usd, unpriced = self.usd, self.unpriced
        for cost in costs:
            if cost is None:
                unpriced += 1
            else:
                usd += cost
        return Spend(usd, unpriced)

    def to_dict(self) -> dict[str, Any]:
        return {"usd": round(self.usd, 6), "unpriced": self.unpriced}


@dataclass(frozen=True, slots=True)
class Manifest:
    """The manifest of one deck folder: slide number -> :class:`SlideRecord`."""

    slides: Mapping[int, SlideRecord]
    # A Batch API job not yet collected: {display_name, name, model, submitted_at, slides:
    # {number: generation digest}}; the next run of the deck waits for it, never makes another.
    batch: Mapping[str, Any] | None = None
    # What the last run set out to make and has not made: written before it sends anything
    # and again at its end, read by --resume.
    pending: Mapping[int, Pending] = field(default_factory=dict)
    # Why a batch record on disk was dropped, in one line (a name of no batch's shape, or
    # holding the key, as an older version kept what the service said); "" when none was.
    dropped: str = ""
    # What the deck has cost over all its runs (see :func:`_spend` for a manifest older
    # than this field).
    spend: Spend = field(default_factory=Spend)

    @classmethod
    def read(cls, output_dir: Path, secret: str | None = None) -> Manifest:
        """The folder's manifest; an empty one when there is none, or it is not ours.

        Never raises: a missing, unreadable, oversized or malformed manifest only means
        that nothing is known, and every slide is generated (as a first run does). A batch
        record whose names are not of their shape, or hold ``secret`` (the key), is
        dropped, saying so in :attr:`dropped`: it is never used in a URL or shown.
        """
        try:
            data = orjson.loads(read_regular(output_dir / MANIFEST_NAME, _MAX_BYTES))
        except (OSError, orjson.JSONDecodeError):
            return cls({})
        batch = data.get("batch") if isinstance(data, dict) else None
        records, pending = _records(data), _pending(data)
        spend = _spend(data, records)
        if not isinstance(batch, dict):
            return cls(records, None, pending, spend=spend)
        problem = _batch_problem(batch, lambda text: redact(text, secret))
        if problem is None:
            return cls(records, batch, pending, spend=spend)
        dropped = (
            f"{output_dir / MANIFEST_NAME}: the batch it records {problem}; record dropped, "
            "its slides are sent anew"
        )
        return cls(records, None, pending, dropped, spend)

    def in_batch(self, model: str, jobs: Iterable[Job]) -> dict[int, Job]:
        """The jobs the batch not yet collected (:attr:`batch`) will deliver as asked now.

        Same model, same request digest: a slide changed since the batch was sent is not
        the batch's any more. Empty when there is no batch.
        """
        record = self.batch
        if record is None or record.get("model") != model:
            return {}
        if not isinstance(record.get("display_name"), str):
            return {}
        slides = batch_slides(record)
        return {
            job.slide: job
            for job in jobs
            if job.slide in slides and slides[job.slide] == generation_digest(model, job.body)
        }

    def write(self, output_dir: Path) -> None:
        """Write it atomically (0600: it names the deck's files and its costs)."""
        data: dict[str, Any] = {
            "format": _FORMAT,
            "slides": {str(n): r.to_dict() for n, r in sorted(self.slides.items())},
            "spend": self.spend.to_dict(),
        }
        if self.batch is not None:
            data["batch"] = dict(self.batch)
        if self.pending:
            data["pending"] = {str(n): p.to_dict() for n, p in sorted(self.pending.items())}
        write_atomic(
            output_dir / MANIFEST_NAME, orjson.dumps(data, option=orjson.OPT_INDENT_2), mode=0o600
        )


def batch_slides(record: Mapping[str, Any]) -> dict[int, str]:
    """A batch record's slides: number -> the generation digest of the request it sent."""
    slides = record.get("slides")
    if not isinstance(slides, dict):
        return {}
    return {
        int(n): d
        for n, d in slides.items()
        if isinstance(n, str) and n.isdigit() and isinstance(d, str)
    }


def _batch_problem(record: Mapping[str, Any], scrub: Callable[[str], str]) -> str | None:
    """What makes a batch record unusable, in words; ``None``: nothing."""
    name, display = record.get("name") or "", record.get("display_name")
    if not isinstance(name, str) or not isinstance(display, str):
        return "has no names"
    if name and (problem := name_problem(name, "batches", scrub)) is not None:
        return f"is named {problem}"
    if not _DISPLAY_NAME.fullmatch(display) or scrub(display) != display:
        return "has a display name this tool never gives"
    return None


def _records(data: object) -> dict[int, SlideRecord]:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return {}
    slides = data.get("slides")
    if not isinstance(slides, dict):
        return {}
    records: dict[int, SlideRecord] = {}
    for key, entry in slides.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(entry, dict)):
            continue
        generation, output, file = entry.get("generation"), entry.get("output"), entry.get("file")
        original, cost, prompt = entry.get("original"), entry.get("cost_usd"), entry.get("prompt")
        if not all(isinstance(v, str) for v in (generation, output, file)):
            continue
        if not _plain_name(str(file)) or not (original is None or _inside(str(original))):
            continue  # a manifest may not point outside the folder
        fields = entry.get("fields")
        candidates = entry.get("candidates")
        records[int(key)] = SlideRecord(
            str(generation),
            str(output),
            str(file),
            original if isinstance(original, str) else None,
            _usd(cost, _MAX_IMAGE_USD),
            prompt if isinstance(prompt, str) else None,
            _strings(fields),
            _units(entry.get("units")),
            tuple(c for c in candidates if isinstance(c, str))
            if isinstance(candidates, list)
            else (),
            _text_check(entry.get("text_check")),
        )
    return records


def _units(value: object) -> dict[str, UnitRecord]:
    """A record's ``units``; an entry not of ours (or pointing outside the deck's folders)
    is dropped: that unit is then made again if wanted."""
    if not isinstance(value, dict):
        return {}
    units: dict[str, UnitRecord] = {}
    for key, entry in list(value.items())[-MAX_UNITS:]:
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        unit, original, turn = entry.get("unit"), entry.get("original"), entry.get("turn")
        if not isinstance(unit, str) or not re.fullmatch(r"[vef][0-9]{1,2}", unit):
            continue
        if not isinstance(original, str) or not _inside(original):
            continue
        if turn is not None and not (isinstance(turn, str) and _inside(turn, TURNS_DIR)):
            continue
        instruction, region = entry.get("instruction"), entry.get("region")
        box = None
        if isinstance(region, list) and len(region) == 4:
            values = [v for v in region if isinstance(v, int | float) and not isinstance(v, bool)]
            box = tuple(float(v) for v in values) if len(values) == 4 else None
        units[key] = UnitRecord(
            unit,
            original,
            turn,
            _usd(entry.get("cost_usd"), _MAX_IMAGE_USD),
            instruction if isinstance(instruction, str) else None,
            box,
            entry.get("fresh") is True,
        )
    return units


_CHECK_STATES = frozenset({"ok", "missing", "unreadable"})


def _text_check(value: object) -> dict[str, Any] | None:
    """A record's kept ``text_check``, as this tool writes it; anything else is ``None`` (the
    slide is then read again): a manifest cannot put words in a results file."""
    if not isinstance(value, dict) or value.get("state") not in _CHECK_STATES:
        return None
    expected, fixes = value.get("expected"), value.get("fixes", 0)
    if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
        return None
    if not isinstance(fixes, int) or isinstance(fixes, bool) or not 0 <= fixes <= 3:
        return None
    missing = []
    for miss in value.get("missing") or ():
        if not isinstance(miss, dict):
            return None
        said, closest, similarity = (
            miss.get("expected"),
            miss.get("closest"),
            miss.get("similarity"),
        )
        if not (isinstance(said, str) and isinstance(closest, str)):
            return None
        if not isinstance(similarity, int | float) or isinstance(similarity, bool):
            return None
        missing.append({"expected": said, "closest": closest, "similarity": float(similarity)})
    check: dict[str, Any] = {"state": value["state"]}
    if value["state"] == "missing":
        check["missing"] = missing
    if fixes:
        check["fixes"] = fixes
    if value.get("fixes_stopped") == "over budget":
        check["fixes_stopped"] = "over budget"
    return {**check, "expected": expected}


def _usd(value: object, cap: float) -> float | None:
    """A sum of money as a manifest may state it (not negative, finite, under ``cap``, not a
    bool); ``None`` for anything else, so a manifest cannot inject nonsense into a cost."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and 0 <= value <= cap else None


def _spend(data: object, records: Mapping[int, SlideRecord]) -> Spend:
    """The manifest's ``spend``, or, from a manifest written before it was kept (or one not
    believed), the sum of its records' ``cost_usd``.

    That seed is what the images in place cost: a lower bound of the deck's cost, since the
    images earlier runs made and later ones replaced are not in it. A record of no known
    cost counts as an answer of no known price, so no total is claimed for such a deck.
    """
    entry = data.get("spend") if isinstance(data, dict) else None
    if isinstance(entry, dict):
        usd, unpriced = _usd(entry.get("usd"), _MAX_DECK_USD), entry.get("unpriced")
        if usd is not None and type(unpriced) is int and 0 <= unpriced <= _MAX_UNPRICED:
            return Spend(usd, unpriced)
    return Spend().plus(record.cost_usd for record in records.values())


def _strings(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _pending(data: object) -> dict[int, Pending]:
    """The manifest's ``pending`` slides; an entry not of ours is dropped (then ``--resume``
    keeps that slide's image if it is whole, as it did before a run recorded its intent)."""
    entries = data.get("pending") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}
    pending: dict[int, Pending] = {}
    for key, entry in entries.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(entry, dict)):
            continue
        action, reason, was = entry.get("action"), entry.get("reason"), entry.get("was")
        changed = entry.get("changed")
        if action not in (Decision.GENERATE, Decision.REENCODE) or not isinstance(reason, str):
            continue
        if not (was is None or isinstance(was, str)) or not isinstance(changed, list):
            continue
        names = tuple(str(name) for name in changed if isinstance(name, str))
        pending[int(key)] = Pending(Verdict(Decision(action), reason, names), was)
    return pending


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _inside(relative: str, folder: str = ORIGINALS_DIR) -> bool:
    parts = relative.split("/")
    return len(parts) == 2 and parts[0] == folder and _plain_name(parts[1])


def decide(
    jobs: Iterable[Job],
    model: str,
    manifest: Manifest,
    *,
    complete: Mapping[int, bool],
    original_present: Mapping[int, bool],
    regenerate: frozenset[int] = frozenset(),
    force: bool = False,
    targets: Mapping[int, str] | None = None,
) -> dict[int, Verdict]:
    """What to do with each slide, and why, from the manifest and what is on disk.

    Args:
        jobs: the run's jobs.
        model: the model the run asks.
        manifest: the folder's manifest (empty on a first run: everything is generated).
        complete: per slide, whether the image under its final name is whole.
        original_present: per slide, whether the original its record names is there.
        regenerate: slides to generate whatever the manifest says (``--regenerate``).
        force: generate every slide (``--force``).
        targets: per slide, the key of the unit its file is to show (the end of its chain,
            :mod:`.chains`); by default its generation digest.
    """
    verdicts: dict[int, Verdict] = {}
    for job in jobs:
        verdicts[job.slide] = _verdict(
            job,
            model,
            manifest.slides.get(job.slide),
            complete=complete.get(job.slide, False),
            original=original_present.get(job.slide, False),
            asked="--force" if force else "--regenerate" if job.slide in regenerate else None,
            target=None if targets is None else targets.get(job.slide),
        )
    return verdicts


def _verdict(
    job: Job,
    model: str,
    record: SlideRecord | None,
    *,
    complete: bool,
    original: bool,
    asked: str | None,
    target: str | None = None,
) -> Verdict:
    if asked is not None:
        return Verdict(Decision.GENERATE, asked)
    if record is None:
        return Verdict(Decision.GENERATE, "new")
    if record.generation != (target or generation_digest(model, job.body)):
        changed = _changed(record, field_digests(model, job), output=False)
        return Verdict(Decision.GENERATE, "changed", changed)
    saved_as = record.output == output_digest(job) and record.file == job.dest.name
    if saved_as and complete:
        return Verdict(Decision.KEEP, "unchanged")
    changed = () if saved_as else _changed(record, field_digests(model, job), output=True)
    if record.file != job.dest.name:
        changed += ("file",)
    reason = "image missing" if saved_as else "changed"
    if original:
        return Verdict(Decision.REENCODE, reason, changed)
    return Verdict(Decision.GENERATE, f"{reason}, no original kept to re-encode", changed)
