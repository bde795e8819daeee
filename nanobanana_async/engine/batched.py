"""A run's slides as one Batch API job: half the price, no per-minute quota to pace.

The slides the plan says to generate go to the service as one batch (inline while the
requests and their answers stay small, else a JSONL file through the Files API), the run
waits for it (minutes to hours: the look at its state is spaced out up to a minute), and
each response is kept exactly as a slide's own answer is (:meth:`.Run.accept`, the same
classification, conversion and files), priced at the batch rate.

**Never paid twice.** A create is not idempotent. Before it is sent, the batch's display
name (unique: the deck's name and 48 random bits) is written to the deck's manifest; the
name the service gives it is written there (and to the progress file) as soon as the
create's answer is in. A run that finds a batch in the manifest for its slides, same
digests, waits for that one: a killed run, resumed, never sends a second create, and a
create whose answer was lost is looked up by its display name before another is sent.
The record goes once the batch's results are kept.

**A standard run pays for none of them either** (:meth:`BatchSender.adopt`). The slides a
batch still out will deliver are not sent: the run looks at the batch, collects it when it
is over, and otherwise reports those slides ``BatchPending`` with the commands to wait for
it or cancel it. Only what a batch ended without (cancelled, expired, failed or gone) is
sent again. A batch cancelled while a run waits on it ends that run as cancelled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson
import tenacity

from ..batch.api import BatchApi
from ..batch.wire import INLINE_LIMIT_BYTES, Operation, create_body, jsonl, outcome
from ..errors import (
    ApiError,
    BatchExpired,
    BatchFailed,
    BatchNameRefused,
    BatchNotFound,
    FatalApiError,
    RateLimited,
    TransientError,
    UnusableAnswer,
)
from ..results import utc_iso
from ..service.protocol import GeneratedImage
from .attempt import Run
from .events import BatchUpdate
from .manifest import Manifest, batch_slides, generation_digest
from .plan import Job
from .retry import call_retrying
from .settings import EngineSettings

__all__ = ["RESULTS_DOWNLOAD_NAME", "BatchSender", "results_cap"]

_T = TypeVar("_T")
# Where a batch's results file is downloaded, in output_dir, until its images are saved.
RESULTS_DOWNLOAD_NAME = ".nano-banana-batch-results.jsonl"
# An answer of one image as JSON, by size, Gemini 3's thought images and signatures
# included (docs/design.md): inline answers come back in the batch's own GET, which must
# stay well under the client's cap per answer; past this budget, a file is used.
_ANSWER_BYTES = {"512": 1 * 2**20, "1K": 3 * 2**20, "2K": 8 * 2**20, "4K": 25 * 2**20}
_INLINE_ANSWERS_BUDGET = 40 * 2**20
# A line of the results file is one answer: the client's own cap per answer holds it.
_MAX_LINE_BYTES = 64 * 2**20
# The results file's download is bounded by what its images can weigh, not by the deck's
# length alone: per image, an answer at its largest (the image, two thought images, up to
# 3 MB of signature on each part: about 40 MB at 4K, 20 at 2K, 14 at 1K; docs/design.md,
# "The client"), with room above it; never past the Files API's 20 GB a project, where the
# file is kept. It must come at 1 MiB/s at least: its deadline is a minute plus its cap at
# that rate (16 MiB: 76 s; 1,000 slides at 4K: the 20 GB ceiling, about 5 h 20 min).
_RESULTS_BYTES = {"512": 16 * 2**20, "1K": 16 * 2**20, "2K": 24 * 2**20, "4K": 48 * 2**20}
_RESULTS_CEILING = 20 * 10**9
_RESULTS_RATE = 2**20  # bytes a second, at least
_RESULTS_GRACE = 60.0  # seconds before the first byte, on top
_SLUG = re.compile(r"[^a-z0-9]+")


# How a batch ends without some of its slides that a later run may send again: no run
# waited on it to the end, so nobody was told; the slides are simply not made.
_ENDED_WITHOUT = frozenset({"CANCELLED", "EXPIRED", "FAILED"})


def _image_size(job: Job) -> str:
    config = job.body.get("generationConfig") or {}
    image = config.get("imageConfig") or {}
    return str(image.get("imageSize") or "1K")


class BatchSender:
    """Sends one run's slides as a Batch API job and keeps what comes back.

    ``pending`` is the batch the deck's manifest must keep at the end of the run: the one
    found there, then this run's while a batch is out, cleared once its results are kept.
    ``cancelled``: the batch was cancelled while this run waited on it (``nanobanana
    cancel``), so the run ends as cancelled.
    """

    def __init__(self, run: Run, manifest: Manifest, api: BatchApi, settings: EngineSettings):
        self.run = run
        self.api = api
        self.manifest = manifest
        self.model = run.config.model
        self.output_dir = run.config.output_dir
        scale = settings.time_scale
        first, longest = settings.batch_poll
        self._first_poll, self._longest_poll = first * scale, longest * scale
        self._sleep = settings.sleep
        self._clock = settings.clock
        self._scale = scale
        self.pending: dict[str, Any] | None = (
            None if manifest.batch is None else dict(manifest.batch)
        )
        self.cancelled = False

    # -- the record in the manifest ------------------------------------------------------

    def _adoptable(self, jobs: Mapping[int, Job]) -> dict[str, Any] | None:
        """The manifest's batch, if it holds some of these slides as they are asked now."""
        if self.manifest.batch is None or not self.manifest.in_batch(self.model, jobs.values()):
            return None
        return dict(self.manifest.batch)

    def _new_record(self, jobs: Mapping[int, Job]) -> dict[str, Any]:
        slug = _SLUG.sub("-", self.output_dir.name.lower()).strip("-")[:40] or "deck"
        return {
            "display_name": f"nanobanana-{slug}-{secrets.token_hex(6)}",
            "name": "",
            "model": self.model,
            "submitted_at": utc_iso(),
            "slides": {str(n): generation_digest(self.model, job.body) for n, job in jobs.items()},
        }

    async def _keep(self, record: dict[str, Any] | None) -> None:
        """Write the manifest with ``record`` as its batch, now (atomically)."""
        self.pending = record
        manifest = dataclasses.replace(self.manifest, batch=record)
        await anyio.to_thread.run_sync(manifest.write, self.output_dir)

    def _tell(self, op: Operation | None, record: Mapping[str, Any]) -> None:
        name = op.name if op is not None else ""
        state = op.state if op is not None else "SUBMITTING"
        submitted = str(record.get("submitted_at") or "")
        self.run.emit(BatchUpdate(name, state, submitted, self.run.clock()))

    # -- the run -------------------------------------------------------------------------

    def _unfinished(self, jobs: Iterable[Job]) -> list[Job]:
        """The slides of ``jobs`` neither saved nor failed yet."""
        done = self.run.outputs.keys() | self.run.failures.keys()
        return [job for job in jobs if job.slide not in done]

    async def send(self, jobs: list[Job]) -> None:
        """Generate ``jobs`` through the Batch API; every slide ends saved or failed."""
        remaining = {job.slide: job for job in jobs}
        record = self._adoptable(remaining)
        adopted = record is not None
        while remaining:
            if record is None:
                record = self._new_record(remaining)
            slides = batch_slides(record)
            covered = {
                n: job
                for n, job in remaining.items()
                if slides.get(n) == generation_digest(self.model, job.body)
            }
            try:
                op = await self._submitted(record, covered, adopted=adopted)
                ended_unseen = adopted and op.over  # over before any run of ours looked
                op = await self._until_over(op, record)
                unanswered = await self._collect(op, covered)
            except FatalApiError as error:
                # Nothing more can be sent or asked with this key: every slide left fails.
                self.run.stop(error)
                for job in self._unfinished(remaining.values()):
                    self.run.fail_unsent(job)
                return
            except ApiError as error:
                # The batch could not be followed to its end. A download that kept failing:
                # its record stays, so the next run collects it without paying again. Its
                # results gone from the service (kept 48 h), or a name no batch has: the
                # next run sends a new one.
                for job in self._unfinished(covered.values()):
                    self.run.fail(job, error)
                if isinstance(error, BatchNotFound | BatchNameRefused):
                    await self._keep(None)
                return
            await self._keep(None)
            if ended_unseen and op.state in _ENDED_WITHOUT:
                # Nobody was waiting when it ended: what it did not make goes in a new batch.
                unsent = {job.slide for job in unanswered}
                for n in covered.keys() - unsent:
                    remaining.pop(n)
            else:
                for job in unanswered:
                    self.run.fail(job, *_missing(op))
                self.cancelled = self.cancelled or op.state == "CANCELLED"
                for n in covered:
                    remaining.pop(n)
            record, adopted = None, False

    async def adopt(self, jobs: list[Job]) -> None:
        """A standard run's ``jobs`` that the batch still out will deliver: never bought twice.

        The batch is looked at once. Over: its answers are kept as a batch run keeps them.
        Still out: the slides are not sent, each failed ``BatchPending`` with the way to
        wait for it or cancel it, and the record stays. Only what the batch ended without
        (cancelled, expired, failed, or the batch gone) is sent now, a request each.
        """
        record = dict(self.pending or {})
        covered = {job.slide: job for job in jobs}
        resend: list[Job] = []
        try:
            op = await self._look(record)
            if op is not None and not op.over:
                for job in jobs:
                    self.run.fail(job, _still_out(op, record), "BatchPending")
                return
            if op is None:
                resend = list(jobs)
            else:
                for job in await self._collect(op, covered):
                    if op.state in _ENDED_WITHOUT:
                        resend.append(job)
                    else:
                        self.run.fail(job, *_missing(op))
        except FatalApiError as error:
            self.run.stop(error)
            for job in self._unfinished(jobs):
                self.run.fail_unsent(job)
            return
        except BatchNotFound:
            resend = self._unfinished(jobs)  # its results are gone: nothing left to collect
        except BatchNameRefused as error:
            for job in self._unfinished(jobs):  # a batch no run can follow: said, then dropped
                self.run.fail(job, error)
            await self._keep(None)
            return
        except ApiError as error:
            for job in self._unfinished(jobs):
                self.run.fail(job, _unseen(record, error), "BatchPending")
            return
        await self._keep(None)
        async with anyio.create_task_group() as group:
            for job in resend:
                group.start_soon(self.run.run_slide, job)

    async def _submitted(
        self, record: dict[str, Any], covered: Mapping[int, Job], *, adopted: bool
    ) -> Operation:
        """The batch of ``record``: looked up when an earlier run sent it, else created."""
        if record.get("name") or adopted:
            found = await self._look(record)
            if found is not None:
                self._tell(found, record)
                return found
            if record.get("name"):
                record.clear()
                record.update(self._new_record(covered))  # deleted: a batch of its own again
        return await self._create(record, covered)

    async def _look(self, record: dict[str, Any]) -> Operation | None:
        """The batch of ``record`` as the service has it now; ``None`` when it has none.

        By its name; without one (an earlier run may have sent the create and lost its
        answer), by its display name, and the name found is recorded at once.
        """
        name = str(record.get("name") or "")
        if name:
            try:
                return await self._repeat(lambda: self.api.get(name))
            except BatchNotFound:
                return None
        found = await self._repeat(lambda: self.api.find(str(record["display_name"])))
        if found is not None:
            record["name"] = found.name
            await self._keep(record)
        return found

    async def _create(self, record: dict[str, Any], covered: Mapping[int, Job]) -> Operation:
        await self._keep(record)  # the display name is on disk before anything is sent
        self._tell(None, record)
        display_name = str(record["display_name"])
        body = await self._body(display_name, covered)
        op = await self._created(body, display_name)
        await self._named(record, op)
        return op

    async def _created(self, body: dict[str, Any], display_name: str) -> Operation:
        """The create's answer; when it was lost, the batch it made, looked up by name.

        A create that failed may still have reached the service: before each new one, and
        once more after the last, the batch is looked for by its display name.
        """
        lost = (TransientError, RateLimited, UnusableAnswer)
        try:
            async for attempt in self._retrying(lost):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        found = await self._repeat(lambda: self.api.find(display_name))
                        if found is not None:
                            return found
                    return await self.api.create(body)
        except lost:
            found = await self._repeat(lambda: self.api.find(display_name))
            if found is not None:
                return found
            await self._keep(None)  # none was made: nothing to wait for
            raise
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _named(self, record: dict[str, Any], op: Operation) -> None:
        record["name"] = op.name
        await self._keep(record)  # the first thing done with the create's answer
        self._tell(op, record)

    async def _body(self, display_name: str, covered: Mapping[int, Job]) -> dict[str, Any]:
        requests = [(n, covered[n].body) for n in sorted(covered)]
        size = sum(len(orjson.dumps(body)) for _, body in requests)
        answers = sum(_ANSWER_BYTES.get(_image_size(job), 8 * 2**20) for job in covered.values())
        if size <= INLINE_LIMIT_BYTES and answers <= _INLINE_ANSWERS_BUDGET:
            return create_body(display_name, requests)
        file_name = await self._repeat(lambda: self.api.upload(jsonl(requests), display_name))
        return create_body(display_name, file_name=file_name)

    async def _until_over(self, op: Operation, record: Mapping[str, Any]) -> Operation:
        """Look at the batch, spaced out, until it is over: for as long as it takes.

        This is polling, not retrying: a look that still fails once its own retries are
        spent (the service down for a while) only means no news, and the next look comes.
        """
        delay = self._first_poll
        seen = (op.state, op.succeeded, op.failed)
        while not op.over:
            await self._sleep(delay)
            delay = min(delay * 1.5, self._longest_poll)
            try:
                op = await self._repeat(functools.partial(self.api.get, op.name))
            except (TransientError, RateLimited):
                continue
            if (op.state, op.succeeded, op.failed) != seen:
                seen = (op.state, op.succeeded, op.failed)
                self._tell(op, record)
        self._tell(op, record)
        return op

    async def _collect(self, op: Operation, covered: Mapping[int, Job]) -> list[Job]:
        """Keep the answers of ``op`` for ``covered``; the jobs it has no answer for."""
        handled: set[int] = set()
        async for entry in self._entries(op, covered.values()):
            slide, result = outcome(entry, self.model)
            job = covered.get(slide) if slide is not None else None
            if job is None or slide in handled:
                continue  # none of ours, or a second answer for one slide
            handled.add(job.slide)
            if isinstance(result, GeneratedImage):
                try:
                    await self.run.accept(job, result, batch=True)
                except UnusableAnswer as error:
                    self.run.fail(job, error)
            else:
                self.run.fail(job, result)
        return [job for n, job in covered.items() if n not in handled]

    async def _entries(self, op: Operation, jobs: Iterable[Job]) -> AsyncIterator[dict[str, Any]]:
        for entry in op.inlined:
            yield entry
        if not op.responses_file:
            return
        path = self.output_dir / RESULTS_DOWNLOAD_NAME
        limit = results_cap(jobs)
        await self._repeat(lambda: self._download(op.responses_file, path, limit))
        try:
            with open(path, "rb") as lines:  # noqa: ASYNC230 (one line at a time, below)
                while line := await anyio.to_thread.run_sync(lines.readline, _MAX_LINE_BYTES + 1):
                    if len(line) > _MAX_LINE_BYTES:
                        raise UnusableAnswer(
                            "a line of the batch's results is over 64 MiB", reason="TOO_LARGE"
                        )
                    if not line.strip():
                        continue
                    try:
                        entry = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue  # a cut line: its slide is reported as without an answer
                    if isinstance(entry, dict):
                        yield entry
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    async def _download(self, file_name: str, path: Path, limit: int) -> int:
        fd = await anyio.to_thread.run_sync(_fresh_file, path)
        deadline = (_RESULTS_GRACE + limit / _RESULTS_RATE) * self._scale
        try:
            return await self.api.download(
                file_name, lambda chunk: os.write(fd, chunk), limit=limit, deadline=deadline
            )
        finally:
            os.close(fd)

    def _retrying(self, retry_on: tuple[type[ApiError], ...]) -> tenacity.AsyncRetrying:
        return call_retrying(
            self.run.policy,
            retry_on=retry_on,
            sleep=self._sleep,
            clock=self._clock,
            rng=self.run.rng,
        )

    async def _repeat(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """``call()``, again after a pause when it fails transiently (each call is safe to
        repeat), under the retry policy's backoff, a 429's announced delay and deadline.

        An answer too big to read (``UnusableAnswer``) is not retried: it would be as big
        the next time.
        """
        async for attempt in self._retrying((TransientError, RateLimited)):
            with attempt:
                return await call()
        raise AssertionError("unreachable: the retry loop returns or raises")


def results_cap(jobs: Iterable[Job]) -> int:
    """The most bytes a batch's results file for ``jobs`` may take (see ``_RESULTS_BYTES``)."""
    total = sum(_RESULTS_BYTES.get(_image_size(job), _RESULTS_BYTES["4K"]) for job in jobs)
    return min(total, _RESULTS_CEILING)


def _fresh_file(path: Path) -> int:
    """A new, empty file of our own at ``path`` (an earlier run's download removed first)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return os.open(path, flags, 0o600)


def _still_out(op: Operation, record: Mapping[str, Any]) -> str:
    """Why a standard run leaves a slide unsent: a batch still out will deliver it."""
    submitted = str(record.get("submitted_at") or "")
    since = f", submitted {submitted}" if submitted else ""
    return f"not sent again: batch {op.name} ({op.state}{since}) will deliver it"


def _unseen(record: Mapping[str, Any], error: ApiError) -> str:
    """Why a slide is left unsent when the batch holding it could not be looked at."""
    name = str(record.get("name") or record.get("display_name") or "")
    return f"not sent again: batch {name} holds it (not looked at: {error.message})"


def _missing(op: Operation) -> tuple[ApiError | str, str]:
    """Why a slide of a finished batch has no answer, by the batch's state."""
    if op.state == "EXPIRED":
        return BatchExpired(
            "the batch was not done within 48 hours (EXPIRED); a rerun sends it again"
        ), ""
    if op.state == "FAILED":
        return BatchFailed(f"the batch failed: {op.error or 'no reason given'}"), ""
    if op.state == "CANCELLED":
        return "the batch was cancelled before this slide was made", "BatchCancelled"
    return TransientError("the batch returned no answer for this slide"), ""
