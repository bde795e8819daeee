"""One run's shared state and each slide's attempts: admission, request, staging, saving.

Each slide is a task. It holds a slot of :mod:`.admission` only while its request is being
paced and on the wire; backoff, decoding and saving happen outside it, and saving runs in
a worker thread (Pillow), never on the event loop. A received image is staged on disk before the
slow conversion, so an interrupted run keeps what it paid for. A fatal error stops the
run: slides still waiting fail with that one cause, requests on the wire finish. A stop
asked from outside (:meth:`Run.drain`) is the same without a cause: nothing new is sent
and no retry starts, the slides not sent stay unsent (resumable), and the requests on the
wire finish and are saved, unless the run's task is cancelled: then they are cut.

Under ``"consistency": "first-slide"`` (:class:`FirstSlide`) the first slide has its turn
before the slides that follow it: generated, or kept from an earlier run. Then they go
together, each with its image as the service sent it (the original kept in ``.originals/``).
If it fails, they are not sent: made without it they would not share its look, and a rerun
makes it and then them.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from ..config.loading import DeckConfig
from ..config.references import ReferenceImage, inline_total_problem
from ..cost import answer_cost
from ..errors import (
    ApiError,
    ConfigError,
    FatalApiError,
    FlexShed,
    RateLimited,
    UnusableAnswer,
    redact,
)
from ..files.deck_folders import read_kept
from ..files.images import (
    ImageDecodeError,
    ImageTooLarge,
    SavedImage,
    discard_staged,
    original_path,
    read_staged,
    save_received,
    stage_received,
)
from ..files.turns import turn_path, write_turn
from ..ledger.state import StateStore
from ..results import SlideFailure, SlideOutput, utc_iso
from ..service.client import GeminiClient
from ..service.model_ids import signs_turns
from ..service.protocol import GeneratedImage
from .admission import Admission
from .events import (
    Event,
    RateLimitWait,
    SlideDone,
    SlideFailed,
    SlideRetrying,
    SlideReused,
    SlideStarted,
)
from .manifest import generation_digest
from .originals import MAX_ORIGINAL_BYTES, kept_reference
from .plan import Job
from .retry import slide_retrying
from .settings import EngineSettings
from .text_checks import Origin, TextChecks
from .tiers import SlideTiers

__all__ = ["FirstSlide", "Run"]


class Run:
    """The state of one run, shared by its slide tasks."""

    def __init__(
        self,
        config: DeckConfig,
        settings: EngineSettings,
        client: GeminiClient,
        send: MemoryObjectSendStream[Event],
        *,
        rpm: float | None = None,
        concurrency: int | None = None,
        max_cost: float | None = None,
        store: StateStore | None = None,
        fix_text: int | None = None,
        service_tier: str | None = None,
    ) -> None:
        """``rpm``, ``concurrency``, ``max_cost``, ``fix_text`` and ``service_tier`` (every
        slide's tier, over each slide's own) are the run's options, merged already
        (:func:`~.options.run_options`): the run reads neither config nor settings for them."""
        scale = settings.time_scale
        self.config = config
        self.settings = settings
        self.client = client
        self.send = send
        self.clock = settings.clock
        self.admission = Admission(
            rpm=rpm,
            concurrency=concurrency,
            scale=scale,
            store=store,
            on_wait=self._waiting_on_another_run,
            clock=settings.clock,
            sleep=settings.sleep,
        )
        self.rate_limited = 0
        self.policy = settings.retry.scaled(scale) if scale != 1.0 else settings.retry
        self.rng = random.Random(settings.seed)
        self.tiers = SlideTiers(
            {s.number: service_tier or s.service_tier for s in config.slides},
            fallback=config.flex_fallback,
            flex_retries=self.policy.flex_shed_retries,
        )
        self.stop_error: FatalApiError | None = None
        self.stopping = False  # a stop was asked from outside: nothing new is sent
        self.saved_while_stopping = 0  # images of requests let finish after it
        self.cut: set[int] = set()  # slides whose request was cut on the wire
        self.waiting: set[anyio.CancelScope] = set()
        self.outputs: dict[int, SlideOutput] = {}
        # Where each image saved by this run keeps the service's bytes (for the manifest).
        self.originals: dict[int, Path] = {}
        # Where the model's turn that made it is kept, when it is (for the manifest).
        self.turns: dict[int, Path] = {}
        # What each slide's chain made and put in place (:mod:`.chained`), for the manifest.
        self.chains: dict[int, Any] = {}
        # One-line notices the run adds to the config's (a fresh edit).
        self.notices: list[str] = []
        # What the run may spend (USD), and what its answers have cost so far.
        self.max_cost = max_cost
        self.spent = 0.0
        self.estimates: dict[int, float | None] = {}  # slide -> expected cost, from the plan
        # (slide, unit) -> expected cost of a unit of a chain, from the plan
        self.unit_estimates: dict[tuple[int, str], float | None] = {}
        self.fresh_edits: set[int] = set()  # slides with an edit made without a turn
        self.retired: dict[int, Path] = {}  # slide -> its image under an old name, from the plan
        self.expected: dict[int, float] = {}  # slide -> expected cost while on the wire
        self.failures: dict[int, SlideFailure] = {}
        self.retries = 0
        # Received and staged, not yet saved under the final name.
        self.staged: set[int] = set()
        # Saved from what an earlier run received and staged (it never counted them).
        self.recovered: set[int] = set()
        # Pillow releases the GIL while it encodes, so one conversion per core keeps every
        # core busy; more only interleave the same work and hold more large decoded
        # images in memory at once. Held while converting, not while writing.
        self.savers = anyio.CapacityLimiter(os.cpu_count() or 1)
        # Each checked slide's image read back once saved, in the background.
        self.text = TextChecks(
            config, self.emit, self.clock, fix_text=fix_text, on_read=settings.text_read
        )

    def emit(self, event: Event) -> None:
        self.send.send_nowait(event)

    def _waiting_on_another_run(self, seconds: float) -> None:
        """Another run on this quota was told to wait: this run waits too, and says so."""
        self.emit(RateLimitWait(seconds, self.clock(), True, answered=False))

    def stop(self, error: FatalApiError) -> None:
        """Stop sending: wake everyone waiting for a slot or a token so they fail at once."""
        if self.stop_error is None:
            self.stop_error = error
            self._wake_waiters()

    def drain(self) -> None:
        """Stop admitting: nothing new leaves the gate and no retry starts; the requests
        on the wire go on. Slides woken here end unsent, reported as not generated."""
        if not self.stopping:
            self.stopping = True
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Wake everyone waiting for a slot, a token or a backoff: none of them will send."""
        for scope in self.waiting:
            scope.cancel()
        self.admission.halt()

    @property
    def halted(self) -> bool:
        """Nothing more may be sent: a fatal error, or a stop asked from outside."""
        return self.stopping or self.stop_error is not None

    def fail(self, job: Job, error: ApiError | str, kind: str = "") -> None:
        if isinstance(error, ApiError):
            kind = kind or type(error).__name__
            message = error.message
        else:
            message = error
        message = redact(message, self.config.api_key)
        self.failures[job.slide] = SlideFailure(job.slide, message, utc_iso(), kind)
        self.emit(SlideFailed(job.slide, message, kind, self.clock()))

    def fail_unsent(self, job: Job) -> None:
        assert self.stop_error is not None
        error = self.stop_error
        # One cause for every slide the stop left unsent, word for word, so they group.
        self.fail(job, error.message, type(error).__name__)

    async def run_slide(self, job: Job) -> None:
        await self.guard(job, lambda: self._attempt(job))

    async def guard(self, job: Job, action: Callable[[], Awaitable[None]]) -> bool:
        """Do ``action`` (one slide's attempt: request and keeping) with the slide's retries,
        and fail the slide with what stopped it; whether it went through.

        Nothing is done once the run is stopped. A fatal error stops the run.
        """
        if self.stop_error is not None:
            self.fail_unsent(job)
            return False
        if self.stopping:
            return False  # not sent: the results say so
        try:
            await self._retried(job, action)
            return True
        except FatalApiError as error:
            self.stop(error)
            if job.slide not in self.failures:
                self.fail(job, error)
        except _NotSent:
            if self.stop_error is not None:
                self.fail_unsent(job)
        except _OverBudget as over:
            self.fail(job, str(over), "OverBudget")
        except ApiError as error:
            self.fail(job, error)
        except OSError as error:
            message = f"cannot write {job.dest}: {error.strerror or error}"
            if job.slide in self.staged:
                message += "; the image received is kept: --resume saves it without asking again"
            self.fail(job, message, "OSError")
        return False

    async def try_unit(
        self, job: Job, action: Callable[[], Awaitable[None]]
    ) -> tuple[str, str] | None:
        """Do ``action`` (a request that adds to a slide already saved: a text fix) with
        the slide's retries; ``None`` when it went through, else the kind and the reason it
        did not. The slide is left as it is, never failed; a fatal error still stops the run.
        """
        if self.halted:
            return "NotSent", "the run stopped"
        try:
            await self._retried(job, action)
            return None
        except FatalApiError as error:
            self.stop(error)
            return type(error).__name__, redact(error.message, self.config.api_key)
        except _NotSent:
            return "NotSent", "the run stopped"
        except _OverBudget as over:
            return "OverBudget", str(over)
        except ApiError as error:
            return type(error).__name__, redact(error.message, self.config.api_key)
        except OSError as error:
            return "OSError", f"cannot keep it: {error.strerror or error}"

    async def _retried(self, job: Job, action: Callable[[], Awaitable[None]]) -> None:
        """``action`` with the slide's retries: what stops them is raised."""
        retrying = slide_retrying(
            self.policy,
            on_retry=lambda e: self._on_retry(job, e),
            sleep=self._backoff,
            rng=self.rng,
            falls_back=self.tiers.falls_back,
        )
        async for attempt in retrying:
            with attempt:
                await action()

    def _on_retry(self, job: Job, error: ApiError) -> None:
        if self.halted:
            raise _NotSent  # no retry starts once the run stops sending
        self.retries += 1
        self.emit(
            SlideRetrying(job.slide, redact(error.message, self.config.api_key), self.clock())
        )

    async def _backoff(self, seconds: float) -> None:
        """The wait before a retry, cut short when the run stops sending."""
        with anyio.CancelScope() as waiting:
            self.waiting.add(waiting)
            try:
                await self.settings.sleep(seconds)
            finally:
                self.waiting.discard(waiting)
        if self.halted:
            raise _NotSent

    def _within_budget(self, job: Job, estimate: float | None = None) -> None:
        """Refuse to send a request that could take the run past its budget.

        What is on the wire counts at its expected cost until its answer says what it cost.
        ``estimate``: this request's at the standard price (a unit of a chain); by default
        the slide's. It is counted at the tier the request asks for now: a slide fallen back
        from Flex counts at standard before it may leave.
        """
        if self.max_cost is None:
            return
        if estimate is None:
            estimate = self.estimates.get(job.slide) or 0.0
        estimate *= self.tiers.share(job.slide)
        committed = self.spent + sum(self.expected.values())
        if committed + estimate > self.max_cost + 1e-9:
            raise _OverBudget(
                f"not sent: it would take the run past its budget of ${self.max_cost:.2f} "
                f"(${self.spent:.2f} spent, ${committed - self.spent:.2f} on the wire)"
            )
        self.expected[job.slide] = estimate

    async def _attempt(self, job: Job) -> None:
        await self.accept(job, await self.request(job, job.body))

    async def request(
        self, job: Job, body: dict[str, Any], estimate: float | None = None
    ) -> GeneratedImage:
        """Ask for a slot, send ``body`` for ``job``'s slide, report: :mod:`.admission`
        owns every decision. One try: :meth:`guard` retries.

        ``estimate``: what this request is expected to cost (a unit of a chain), for the
        budget; by default the slide's.
        """
        ticket = await self.admission.ask()
        if ticket is None:
            raise _NotSent  # the run halted while this slide waited
        try:
            self._within_budget(job, estimate)
            started = self.clock()
            tier = self.tiers.tier(job.slide)
            self.emit(SlideStarted(job.slide, started, tier))
            try:
                image = await self.client.generate(
                    self.config.model, self.tiers.body(job.slide, body)
                )
            except anyio.get_cancelled_exc_class():
                self.cut.add(job.slide)
                raise
            except FlexShed:
                self.tiers.shed(job.slide)  # past its Flex retries: standard from now on
                raise
            except RateLimited as error:
                now = self.clock()
                note = await self.admission.refused(ticket, error)
                self.rate_limited += 1
                self.emit(RateLimitWait(note.pause, now, note.new_wait))
                raise
            finally:
                self.expected.pop(job.slide, None)
            self.admission.answered(ticket)
        finally:
            self.admission.withdraw(ticket)  # an error of another kind: the slot is free
        return image

    async def accept(self, job: Job, image: GeneratedImage, *, batch: bool = False) -> None:
        """Keep an image the service sent for ``job``: cost counted, staged, saved, told.

        ``batch``: it came from a Batch API job (priced at the batch rate).

        Raises:
            UnusableAnswer: the image does not decode (or claims too many pixels).
        """
        # Paid, whatever happens next; at the tier it was served at (a batch has none).
        served = "standard" if batch else self.served(job.slide, image)
        cost = answer_cost(self.config.model, image.usage, batch=batch, tier=served)
        self.spent += cost or 0.0
        # The turn first (an edit of this image continues it), then the image. The turn
        # (megabytes of thoughtSignature on Gemini 3) is not held while the image waits its
        # turn to be saved: the memory bench's 100-slide peak rose 1.3x with it.
        if image.turn is not None and signs_turns(self.config.model):  # else nothing to keep
            name = original_path(job.dest, image.data).name
            turn = await anyio.to_thread.run_sync(self.keep_turn, job.dest.parent, name, image)
            if turn is not None:
                self.turns[job.slide] = turn
            image = dataclasses.replace(image, turn=None)
        await anyio.to_thread.run_sync(stage_received, image.data, job.dest)
        self.staged.add(job.slide)
        try:
            saved = await self.save(job, image.data)
        except ImageDecodeError as error:
            await anyio.to_thread.run_sync(discard_staged, job.dest)
            self.staged.discard(job.slide)
            reason = "TOO_MANY_PIXELS" if isinstance(error, ImageTooLarge) else "BAD_IMAGE"
            raise UnusableAnswer(str(error), status=200, reason=reason) from None
        self.staged.discard(job.slide)
        self.outputs[job.slide] = SlideOutput(
            job.slide,
            saved.path,
            saved.size_bytes // 1024,
            cost_usd=cost,
            previous=saved.previous,
            service_tier="" if batch else served,
            fell_back=job.slide in self.tiers.fell_back,
        )
        if self.stopping:
            self.saved_while_stopping += 1
        if saved.original is not None:
            self.originals[job.slide] = saved.original
        self.emit(SlideDone(job.slide, saved.path, saved.size_bytes, self.clock()))
        self.text.start(job.slide, image.data, self._origin(job, self.turns.get(job.slide)))

    def _origin(self, job: Job, turn: Path | None) -> Origin:
        """What a fix round of a slide made by its own request continues from."""
        key = generation_digest(self.config.model, job.body)
        return Origin(job, key, job.body["contents"][0]["parts"], turn)

    def served(self, slide: int, image: GeneratedImage) -> str:
        """The tier ``image`` (an answer for ``slide``) was served at: what it is priced at."""
        return self.tiers.served(slide, image.usage, self.tiers.tier(slide))

    def keep_turn(self, output_dir: Path, original: str, image: GeneratedImage) -> Path | None:
        """Keep the model's turn that made ``image`` (whose original is named ``original``)
        in ``.turns``, when the model signs its turns; where it went. Failing costs only the
        context of a later edit (it starts fresh), never the image."""
        if image.turn is None or not signs_turns(self.config.model):
            return None
        try:
            return write_turn(turn_path(output_dir, original), image.turn)
        except OSError:
            return None

    async def recover_slide(self, job: Job) -> None:
        """Save the image an interrupted run received and staged, as the plan decided.

        The plan found it whole; gone or spoiled since, the slide is asked for again.
        """
        if not await self._save_staged(job):
            await self.run_slide(job)

    async def _save_staged(self, job: Job) -> bool:
        """Save the image a previous run received but did not get to save."""
        data = await anyio.to_thread.run_sync(read_staged, job.dest)
        if data is None:
            return False
        try:
            saved = await self.save(job, data)
        except ImageDecodeError:  # read_staged decoded it; a hostile file could still fail
            await anyio.to_thread.run_sync(discard_staged, job.dest)
            return False
        self.outputs[job.slide] = SlideOutput(
            job.slide, saved.path, saved.size_bytes // 1024, reused=True, previous=saved.previous
        )
        if saved.original is not None:
            self.originals[job.slide] = saved.original
        self.recovered.add(job.slide)
        self.emit(SlideReused(job.slide, saved.path, saved.size_bytes, self.clock()))
        turn = None if saved.original is None else turn_path(job.dest.parent, saved.original.name)
        origin = self._origin(job, turn if turn is not None and turn.is_file() else None)
        self.text.start(job.slide, data, origin)
        return True

    async def reencode_slide(self, job: Job, original: Path) -> None:
        """Save the kept original under the slide's new output settings: no request.

        The original is read through the deck's ``.originals`` and capped, never blocking
        (:func:`~nanobanana_async.files.deck_folders.read_kept`): a symlink, a FIFO or a
        huge file put under its name fails the slide, and nothing is sent for it.
        """
        try:
            data = await anyio.to_thread.run_sync(read_kept, original, MAX_ORIGINAL_BYTES)
            saved = await self.save(job, data)
        except (OSError, ImageDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            self.fail(job, f"cannot re-encode from {original}: {reason}", "OSError")
            return
        self.outputs[job.slide] = SlideOutput(
            job.slide, saved.path, saved.size_bytes // 1024, reused=True, previous=saved.previous
        )
        self.originals[job.slide] = original
        self.emit(SlideReused(job.slide, saved.path, saved.size_bytes, self.clock()))
        self.text.start(job.slide, data)

    async def save(self, job: Job, data: bytes, *, original_name: str | None = None) -> SavedImage:
        """Save ``data`` as ``job``'s image, the one replaced kept (``.versions``) and the
        bytes kept as its original (``original_name``: a unit's, already in ``.originals``)."""
        return await save_received(
            data,
            job.dest,
            fmt=job.fmt,
            quality=job.quality,
            lossless=job.lossless,
            keep=True,
            retire=self.retired.get(job.slide),
            converting=self.savers,
            original_name=original_name,
        )


class FirstSlide:
    """The first slide's turn, then the slides that follow its image.

    The run hands over (:meth:`defer`) the jobs it would send: the first slide's, and those
    of its followers; :meth:`run` sends the first, then the followers together. What the
    run keeps or re-encodes is not handed over: it needs no request.

    Args:
        run: the run.
        leader: the first slide's job.
        kept: where an earlier run kept the first slide's original, if it did.
    """

    __slots__ = ("_run", "followers", "kept", "lead", "leader", "recover")

    def __init__(self, run: Run, leader: Job, kept: Path | None) -> None:
        self._run = run
        self.leader = leader
        self.kept = kept
        self.lead: Job | None = None  # the first slide, when this run sends it
        self.followers: list[Job] = []
        self.recover: set[int] = set()  # slides the plan saves from what was received

    def __repr__(self) -> str:
        sent = "sent" if self.lead is not None else "kept"
        return f"<FirstSlide {self.leader.slide} ({sent}), {len(self.followers)} following>"

    @classmethod
    def of(cls, run: Run, jobs: list[Job], kept: Path | None) -> FirstSlide | None:
        """The first slide of ``jobs`` when the others follow it, else ``None``.

        ``kept``: the first slide's original kept by an earlier run, as the run was
        prepared (:attr:`~.prepared.PreparedRun.first_kept`).
        """
        if len(jobs) < 2 or jobs[1].follows is None:
            return None
        return cls(run, jobs[0], kept)

    def defer(self, job: Job, *, recover: bool = False) -> bool:
        """Take ``job`` to send in its turn, if it is the first slide's or follows it.

        ``recover``: the plan saves it from what an interrupted run received, in its turn.
        """
        if recover and (job is self.leader or job.follows == self.leader.slide):
            self.recover.add(job.slide)
        if job is self.leader:
            self.lead = job
        elif job.follows == self.leader.slide:
            self.followers.append(job)
        else:
            return False
        return True

    async def run(self) -> None:
        run = self._run
        if self.lead is not None:
            await self._carry_out(self.lead)
        if not self.followers:
            return
        if run.stop_error is not None:
            for job in self.followers:
                run.fail_unsent(job)
            return
        if run.stopping:
            return  # not sent: the results say so
        first = self.leader.slide
        image, why = None, f"slide {first} failed"
        if (failure := run.failures.get(first)) is not None and failure.kind:
            why += f" ({failure.kind})"
        if self.lead is None or first in run.outputs:
            image, why = await anyio.to_thread.run_sync(self._image)
        if image is None:
            reason = (
                f"not sent: {why}, and every other slide is sent with its image "
                f"(consistency: first-slide); a rerun makes slide {first}, then this one"
            )
            for job in self.followers:
                run.fail(job, reason, "FirstSlideFailed")
            return
        async with anyio.create_task_group() as followers:
            for job in self.followers:
                job.follow(image)
                problem = inline_total_problem(job.inline_sizes())
                if problem is not None:
                    run.fail(
                        job,
                        f"not sent: with slide {first}'s image {problem}; give slide {first} "
                        "a smaller image_size, or use smaller reference images",
                        "RequestTooLarge",
                    )
                    continue
                followers.start_soon(self._carry_out, job)

    async def _carry_out(self, job: Job) -> None:
        """What the plan decided for ``job``: recover what was received, else send it."""
        if job.slide in self.recover:
            await self._run.recover_slide(job)
        else:
            await self._run.run_slide(job)

    def _image(self) -> tuple[ReferenceImage | None, str]:
        """The first slide's image as the service sent it, read and checked as a reference.

        Saved by this run, else kept by an earlier one; failing both (a ``--resume`` that
        kept the image but not its original), the image file itself.
        """
        first = self.leader.slide
        made = self._run.originals.get(first)
        sources = [path for path in (made, self.kept, self.leader.dest) if path is not None]
        problem = f"slide {first}'s image is gone"
        for path in sources:
            try:
                kept = path != self.leader.dest  # an original, in the deck's .originals
                return kept_reference(path, f"slide {first}", kept=kept), ""
            except ConfigError as error:
                problem = f"slide {first}'s image cannot be sent: {error.problem}"
        return None, problem


class _OverBudget(Exception):
    """Sending this slide's request could pass the run's budget."""


class _NotSent(Exception):
    """A slide reached the front of the queue after the run was stopped."""
