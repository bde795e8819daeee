"""Batch jobs: when each changes state, and the operation the service reports of it.

A batch's whole timeline is fixed when it is created, on the emulator's clock, and its
state is read off that clock; nothing runs in the background, so a test on a fake clock
sees the same states at the same moments every time. With ``L = batch_latency`` and
``G`` its generation time (the longest of its requests' model latencies, drawn as
``generateContent`` draws them; 0 with ``latency`` off), all times ``time_scale``d::

    created ── PENDING ──► created + L ── RUNNING ──► created + 2L + G ── SUCCEEDED
                                                                         (or FAILED, EXPIRED)

A batch that would not be done within 48 hours ends EXPIRED at 48 hours, as the service
ends one; ``batch_outcome`` or the script's outcome makes one end FAILED or EXPIRED at its
normal end instead. Cancelling a PENDING or RUNNING batch ends it CANCELLED at once.
Creating a batch draws everything its requests will need (faults, ids, thought tokens,
latencies), in arrival order under the emulator's lock, so a seed replays it; the output
is rendered the first time it is asked for after the batch succeeded (:mod:`.batch_output`).

The operation is the shape recorded from the service: ``metadata`` is the
``GenerateContentBatch`` (its ``batchStats`` counts int64 as strings; ``done`` is sent only
once true, as proto JSON leaves out a false), and a succeeded batch's output appears both
as ``metadata.output`` and as the operation's ``response``.
"""

from __future__ import annotations

import random
import string
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import error_bodies
from .batch_requests import BatchInput
from .catalog import ModelSpec
from .faults import BatchScript
from .generation import response_id
from .paging import page
from .settings import EmulatorSettings
from .timestamps import WallClock
from .validation import ImageRequest, Rejected

__all__ = [
    "BATCH_LIFETIME",
    "PENDING",
    "RUNNING",
    "TERMINAL",
    "Batch",
    "BatchBook",
    "BatchOutput",
    "Planned",
    "Unreadable",
    "new_id",
    "operation",
]

# Seconds after which a batch not done is EXPIRED (the service's 48 hours), before scale.
BATCH_LIFETIME = 48 * 3600.0
PENDING, RUNNING = "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"
SUCCEEDED, FAILED = "BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED"
CANCELLED, EXPIRED = "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED})
_BY_OUTCOME = {"succeeded": SUCCEEDED, "failed": FAILED, "expired": EXPIRED}
_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass(frozen=True, slots=True)
class Planned:
    """A request of a batch that will be generated (a :class:`~.generation.Drawn`)."""

    key: str
    metadata: dict[str, Any] | None
    spec: ModelSpec
    request: ImageRequest
    kind: str | None
    response_id: str
    thoughts_tokens: int
    drafts: int


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line of an input file that could not be read: its error stands in its place."""

    key: str
    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BatchOutput:
    """What a succeeded batch produced: inline entries, or the name of its results file.

    ``inline`` entries hold each response as pre-serialised JSON (``orjson.Fragment``),
    so the operation is serialised without parsing the images back; ``results`` is the
    JSONL of a results file, kept until it is stored among the files.
    """

    succeeded: int
    failed: int
    inline: tuple[dict[str, Any], ...] = ()
    responses_file: str | None = None
    results: bytes | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class Batch:
    """One batch job and its timeline (times on the emulator's clock).

    Attributes:
        id: the id after ``batches/``.
        ordinal: 1 for the first batch created since start or reset.
        model: the model id.
        display_name: as given.
        items: its requests, in order.
        created: when it was created.
        running_at: when it leaves PENDING.
        done_at: when it ends (unless cancelled first).
        outcome: ``succeeded``, ``failed`` or ``expired``.
        input_file: the ``files/...`` it was read from, if any.
        cancelled_at: when it was cancelled, if it was.
        output: its output, once rendered.
        results_stored: its results file has been put among the files.
    """

    id: str
    ordinal: int
    model: str
    display_name: str
    items: tuple[Planned | Unreadable, ...]
    created: float
    running_at: float
    done_at: float
    outcome: str
    input_file: str | None = None
    cancelled_at: float | None = None
    output: BatchOutput | None = None
    results_stored: bool = False
    rendering: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return f"batches/{self.id}"

    def state(self, now: float) -> str:
        """Its state at ``now``."""
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return CANCELLED
        if now < self.running_at:
            return PENDING
        if now < self.done_at:
            return RUNNING
        return _BY_OUTCOME[self.outcome]

    def ended(self, now: float) -> float | None:
        """When it reached its terminal state, if it has by ``now``."""
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return self.cancelled_at
        return self.done_at if now >= self.done_at else None

    def updated(self, now: float) -> float:
        """When its state last changed, by ``now``."""
        ended = self.ended(now)
        if ended is not None:
            return ended
        return self.running_at if now >= self.running_at else self.created


def _stats(batch: Batch, state: str) -> dict[str, str]:
    count = len(batch.items)
    stats = {"requestCount": str(count)}
    if state == SUCCEEDED and batch.output is not None:
        if batch.output.succeeded:
            stats["successfulRequestCount"] = str(batch.output.succeeded)
        if batch.output.failed:
            stats["failedRequestCount"] = str(batch.output.failed)
    elif state == FAILED:
        stats["failedRequestCount"] = str(count)
    else:
        stats["pendingRequestCount"] = str(count)
    return stats


def _output(batch: Batch) -> dict[str, Any]:
    assert batch.output is not None
    if batch.output.responses_file is not None:
        return {"responsesFile": batch.output.responses_file}
    return {"inlinedResponses": {"inlinedResponses": list(batch.output.inline)}}


def operation(batch: Batch, now: float, wall: WallClock) -> dict[str, Any]:
    """The operation ``GET batches/{id}`` answers at ``now``, in the service's key order.

    A succeeded batch must have its output rendered first.
    """
    state = batch.state(now)
    meta: dict[str, Any] = {
        "@type": _TYPE + "GenerateContentBatch",
        "model": f"models/{batch.model}",
    }
    if batch.display_name:
        meta["displayName"] = batch.display_name
    if batch.input_file is not None:
        meta["inputConfig"] = {"fileName": batch.input_file}
    if state == SUCCEEDED:
        meta["output"] = _output(batch)
    meta["createTime"] = wall.stamp(batch.created)
    ended = batch.ended(now)
    if ended is not None:
        meta["endTime"] = wall.stamp(ended)
    meta["updateTime"] = wall.stamp(batch.updated(now))
    meta["batchStats"] = _stats(batch, state)
    meta["state"] = state
    meta["name"] = batch.name
    body: dict[str, Any] = {"name": batch.name, "metadata": meta}
    if state in TERMINAL:
        body["done"] = True
    if state == FAILED:
        body["error"] = error_bodies.rpc_status(error_bodies.internal())
    elif state == SUCCEEDED:
        body["response"] = {"@type": _TYPE + "GenerateContentBatchOutput", **_output(batch)}
    return body


def new_id(rng: random.Random, length: int) -> str:
    """A resource id shaped as the service's: lowercase letters and digits."""
    return "".join(rng.choice(_ID_CHARS) for _ in range(length))


class BatchBook:
    """Every batch of one emulator, and the script of their failures (its lock guards all)."""

    __slots__ = ("_batches", "_created", "script")

    def __init__(self) -> None:
        self._batches: dict[str, Batch] = {}
        self._created = 0
        self.script = BatchScript()

    def __repr__(self) -> str:
        return f"<BatchBook batches={len(self._batches)} created={self._created} {self.script!r}>"

    def clear(self) -> None:
        """Forget every batch and the script; ordinals count from 1 again."""
        self._batches.clear()
        self._created = 0
        self.script.clear()

    def _kind(self, key: str, settings: EmulatorSettings, rng: random.Random) -> str | None:
        kind = self.script.requests.get(key)
        # No draw when the rate is zero, so turning it off shifts no other draw.
        if (
            kind is None
            and settings.batch_fail_rate > 0
            and rng.random() < settings.batch_fail_rate
        ):
            kind = rng.choice(settings.batch_fail_kinds)
        return kind

    def create(
        self,
        batch_input: BatchInput,
        spec: ModelSpec,
        *,
        settings: EmulatorSettings,
        rng: random.Random,
        now: float,
    ) -> Batch:
        """A new batch of ``batch_input`` for ``spec``, created at ``now``."""
        self._created += 1
        items: list[Planned | Unreadable] = []
        slowest = 0.0
        for line in batch_input.lines:
            if line.request is None:
                assert line.error is not None
                items.append(Unreadable(line.key, line.error))
                continue
            kind = self._kind(line.key, settings, rng)
            if settings.latency:
                slowest = max(slowest, rng.uniform(*spec.latency_range(line.request.image_size)))
            items.append(
                Planned(
                    key=line.key,
                    metadata=line.metadata,
                    spec=spec,
                    request=line.request,
                    kind=kind,
                    response_id=response_id(rng),
                    thoughts_tokens=rng.randint(120, 260) if spec.thinks else 0,
                    drafts=rng.randint(1, 2) if settings.thought_images and spec.thinks else 0,
                )
            )
        scale = settings.time_scale
        running_at = now + settings.batch_latency * scale
        done_at = running_at + (settings.batch_latency + slowest) * scale
        outcome = self.script.outcomes.get(self._created, settings.batch_outcome)
        if done_at - now > BATCH_LIFETIME * scale:
            outcome, done_at = "expired", now + BATCH_LIFETIME * scale
            running_at = min(running_at, done_at)
        batch = Batch(
            id=new_id(rng, 36),
            ordinal=self._created,
            model=spec.name,
            display_name=batch_input.display_name,
            items=tuple(items),
            created=now,
            running_at=running_at,
            done_at=done_at,
            outcome=outcome,
            input_file=batch_input.file_name,
        )
        self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> Batch:
        """The batch ``batches/{batch_id}``.

        Raises:
            Rejected: 404, the service's "Requested entity was not found."
        """
        batch = self._batches.get(batch_id)
        if batch is None:
            raise Rejected(error_bodies.entity_not_found())
        return batch

    def cancel(self, batch_id: str, now: float) -> None:
        """Cancel a PENDING or RUNNING batch.

        Raises:
            Rejected: 404 for no such batch; 400 FAILED_PRECONDITION for one already over.
        """
        batch = self.get(batch_id)
        state = batch.state(now)
        if state in TERMINAL:
            raise Rejected(
                error_bodies.failed_precondition(f"The batch is already finished ({state}).")
            )
        batch.cancelled_at = now

    def delete(self, batch_id: str) -> None:
        """Forget a batch, whatever its state (:meth:`get`'s 404 when there is none)."""
        del self._batches[self.get(batch_id).id]

    def listing(self, query: Mapping[str, list[str]]) -> tuple[list[Batch], str | None]:
        """``batches.list``: newest first, 50 a page by default, 1000 at most."""
        newest = list(reversed(self._batches.values()))
        return page(newest, query, default=50, maximum=1000)

    def states(self, now: float) -> dict[str, int]:
        """How many batches are in each state at ``now``."""
        counts = Counter(batch.state(now) for batch in self._batches.values())
        return dict(sorted(counts.items()))

    def batches(self) -> list[Batch]:
        """Every batch, oldest first."""
        return list(self._batches.values())
