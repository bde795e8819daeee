"""The results of a run: the typed value ``generate_deck`` returns and the results file.

The file's first fields are the original results file's, with their meaning (``completed``
and ``failed`` are counts, ``outputs`` and ``errors`` lists: docs/design.md, Contracts);
fields after those are ours. One function, :meth:`DeckResult.to_json`, makes the bytes
for both the results file and its copy in ``output_dir``, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

__all__ = [
    "MAX_RESULTS_COPY_BYTES",
    "DeckResult",
    "SlideFailure",
    "SlideOutput",
    "StopReport",
    "is_results",
    "utc_iso",
]

RunState = Literal["done", "failed", "cancelled"]


_MARK = frozenset({"completed", "failed", "total", "outputs", "errors", "output_dir"})


# Far above the results of 10,000 slides (a few MB): a bigger file is not a copy of ours.
MAX_RESULTS_COPY_BYTES = 32 * 2**20


def is_results(data: bytes) -> bool:
    """Whether ``data`` is a results file this tool wrote (a JSON object of its fields).

    A file of that name in ``output_dir`` that is not is the user's: it is kept, not
    overwritten (:func:`~nanobanana_async.files.foreign.keep_foreign`).
    """
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.keys() >= _MARK


def utc_iso(moment: datetime | None = None) -> str:
    """``2026-01-16T10:30:00Z``: UTC, whole seconds, a real ``Z`` (not ``+00:00Z``)."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class SlideOutput:
    """One saved image.

    Attributes:
        slide: the slide number from the config.
        path: absolute path of the image.
        size_kb: its size in KiB, rounded down (an original field).
        reused: True when the run kept an image already on disk (resumed, or unchanged
            since the deck's last run): no request was sent for it.
        cost_usd: what its answer cost, from the answer's ``usageMetadata`` (0 for a reused
            or re-encoded image; ``None`` when the model has no known price).
        previous: where the image it replaced was kept (``output_dir/.versions/``), if any.
        candidates: a slide of several candidates (``variants``): each one's file
            (``<stem>.v<k><ext>``), in order; empty otherwise.
        picked: which candidate the slide is (from 1), when it has several.
        edits_applied: how many of the slide's edit steps its image shows.
        edits: how many edit steps the config gives it.
        text_check: what its text was found to say, for a slide whose text is checked
            (:meth:`~nanobanana_async.qa.TextCheck.to_json`); ``None`` when not checked.
        service_tier: the tier its answer says it was served at (what it is priced at);
            ``""`` when not asked (a reused image, a batch's).
        fell_back: Flex shed it past its retries, and it was made at standard instead.
    """

    slide: int
    path: Path
    size_kb: int
    reused: bool = False
    cost_usd: float | None = 0.0
    previous: Path | None = None
    candidates: tuple[Path, ...] = ()
    picked: int | None = None
    edits_applied: int = 0
    edits: int = 0
    text_check: dict[str, Any] | None = None
    service_tier: str = ""
    fell_back: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "slide": self.slide,
            "path": str(self.path),
            "size_kb": self.size_kb,
        }
        if self.reused:
            data["reused"] = True
        data["cost_usd"] = None if self.cost_usd is None else round(self.cost_usd, 6)
        if self.previous is not None:
            data["previous"] = str(self.previous)
        if self.candidates:
            data["candidates"] = [str(path) for path in self.candidates]
            data["picked"] = self.picked
        if self.edits:
            data["edits_applied"] = self.edits_applied
            data["edits"] = self.edits
        if self.text_check is not None:
            data["text_check"] = self.text_check
        if self.service_tier and (self.service_tier != "standard" or self.fell_back):
            data["service_tier"] = self.service_tier
        if self.fell_back:
            data["fell_back"] = True
        return data


@dataclass(frozen=True, slots=True)
class SlideFailure:
    """One slide that was not generated.

    Attributes:
        slide: the slide number from the config.
        error: what went wrong, in one redacted line.
        timestamp: when, as UTC ISO 8601.
        kind: the error type (``PromptBlocked``, ``InvalidApiKey``, ...), for scripts;
            ``EditFailed`` for a step of the slide's edit chain that failed, the last good
            image kept.
        path: ``EditFailed``: the slide's image, the last step that went through.
        edits_applied: ``EditFailed``: how many of its edit steps that image shows.
        edits: ``EditFailed``: how many edit steps the config gives it.
        previous: ``EditFailed``: where the image it replaced was kept, if any.
    """

    slide: int
    error: str
    timestamp: str
    kind: str = ""
    path: Path | None = None
    edits_applied: int = 0
    edits: int = 0
    previous: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "slide": self.slide,
            "error": self.error,
            "timestamp": self.timestamp,
        }
        if self.kind:
            data["kind"] = self.kind
        if self.path is not None:
            data["path"] = str(self.path)
        if self.edits:
            data["edits_applied"] = self.edits_applied
            data["edits"] = self.edits
        if self.previous is not None:
            data["previous"] = str(self.previous)
        return data


@dataclass(frozen=True, slots=True)
class StopReport:
    """How a stopped run treated the requests it had on the wire.

    Attributes:
        finished: requests on the wire when the stop came that were let finish, their
            images saved.
        cut: requests cut on the wire (a second signal, or the stop's wait ran out).
    """

    finished: int = 0
    cut: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"finished": self.finished, "cut": self.cut}


@dataclass(frozen=True, slots=True)
class DeckResult:
    """What a run produced; the same content as the results file.

    Attributes:
        outputs: saved images, in slide order.
        errors: failed slides, in slide order.
        total: slides in the config.
        started_at: UTC ISO 8601.
        completed_at: UTC ISO 8601.
        duration_seconds: whole seconds, as the original field has it.
        state: ``done`` (every slide handled), ``failed`` (the run was stopped by an error
            retrying cannot fix) or ``cancelled`` (interrupted).
        output_dir: where the images are.
        model: the model asked.
        requests: HTTP requests sent, retries included.
        retries: attempts after the first, over all slides.
        rate_limit_waits: waits on the quota: pauses of every worker, each started by a 429
            (more 429s during a pause, or extending it, are the same wait), as the pacer
            counts them; the progress file counts the same.
        rate_limited: 429 answers, however many waits they caused.
        dry_run: the images are the emulator's placeholders (``run --emulator``), made in a
            folder of the dry run's own.
        notices: one-line messages for the user, as the command line printed them: how the
            config was read (a retired model id mapped to its replacement), what the run
            did besides its slides (images already in ``output_dir`` replaced).
        stop: for a run stopped from outside (``cancelled``), what became of the
            requests on the wire; ``None`` otherwise.
        deck_cost_usd: what the deck in ``output_dir`` has cost over all its runs, this one
            included (the manifest's spend); ``None`` when an answer of it had no known
            price, on a dry run, and in a results file older than the field.
    """

    outputs: tuple[SlideOutput, ...]
    errors: tuple[SlideFailure, ...]
    total: int
    started_at: str
    completed_at: str
    duration_seconds: int
    state: RunState = "done"
    output_dir: Path = field(default_factory=Path)
    model: str = ""
    requests: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limited: int = 0
    dry_run: bool = False
    notices: tuple[str, ...] = ()
    stop: StopReport | None = None
    deck_cost_usd: float | None = None

    @property
    def completed(self) -> int:
        """Slides with an image (the file's ``completed`` count)."""
        return len(self.outputs)

    @property
    def cost_usd(self) -> float | None:
        """What the run's answers cost, summed; ``None`` when one had no known price."""
        total = 0.0
        for output in self.outputs:
            if output.cost_usd is None:
                return None
            total += output.cost_usd
        return total

    @property
    def failed(self) -> int:
        """Slides without one (the file's ``failed`` count)."""
        return len(self.errors)

    @property
    def exit_code(self) -> int:
        """The exit-code rule: 0 if any slide succeeded, 1 if none did; 130 when cancelled."""
        if self.state == "cancelled":
            return 130
        return 0 if self.outputs else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "total": self.total,
            "outputs": [o.to_dict() for o in self.outputs],
            "errors": [e.to_dict() for e in self.errors],
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "duration_seconds": self.duration_seconds,
            "state": self.state,
            "output_dir": str(self.output_dir),
            "model": self.model,
            "requests": self.requests,
            "retries": self.retries,
            "rate_limit_waits": self.rate_limit_waits,
            "rate_limited": self.rate_limited,
            "dry_run": self.dry_run,
            "notices": list(self.notices),
            "cost_usd": None if (cost := self.cost_usd) is None else round(cost, 6),
            "deck_cost_usd": None if (deck := self.deck_cost_usd) is None else round(deck, 6),
            **({"stop": self.stop.to_dict()} if self.stop is not None else {}),
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
