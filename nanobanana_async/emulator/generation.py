"""Deciding what one ``generateContent`` request gets, and building that answer.

:func:`check_request` is what the front end refuses before any state is touched (no key,
unknown key, unknown model, bad body). :func:`decide` runs under the emulator's lock, in
arrival order: free tier, script, overload, quota, fault rate, then admission, drawing
every random number the request will need so a seed reproduces a run. Every 429 records
the delay it announced, so the stats can tell a client that waited from one that did not.
:func:`build_answer` runs in a worker thread and turns the plan into the bytes of a 200;
:func:`compose` is its first half (the answer as JSON with placeholders), which a stream
splits into chunks and a batch gathers into its output.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any, Protocol

from . import error_bodies, tiers
from .catalog import MODELS, ModelSpec
from .compression import Segment, gzip_join, plain_join
from .editing import edited
from .faults import REJECTION_KINDS, FaultPlan
from .misspelling import corrects, misspelt
from .plates import removes_text, without_text
from .quotas import Admission, Label, QuotaBook
from .render import SlideRenderer
from .settings import EmulatorSettings
from .signatures import HEADER_CHARS, header, problem, text_digest
from .stats import Arrival, Stats
from .success_bodies import Answer, blocked, image_answer, no_image, signature
from .validation import ImageRequest, Rejected, parse_request

__all__ = [
    "Drawn",
    "Plan",
    "Refusal",
    "build_answer",
    "check_key",
    "check_request",
    "compose",
    "decide",
    "find_model",
    "response_id",
]

_PAID = "generativelanguage.googleapis.com/generate_content_paid_tier_requests"
_FREE = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
_FREE_TOKENS = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count"
# No concurrency quota of the real service is documented; these names are the emulator's.
_CONCURRENT = "generativelanguage.googleapis.com/generate_content_paid_tier_concurrent_requests"
_QUOTA_IDS: dict[Label, tuple[str, str]] = {
    "minute": (_PAID, "GenerateRequestsPerMinutePerProjectPerModel-PaidTier1"),
    "day": (_PAID, "GenerateRequestsPerDayPerProjectPerModel-PaidTier1"),
    "concurrent": (_CONCURRENT, "GenerateContentConcurrentRequestsPerProjectPerModel-PaidTier1"),
}
_FREE_TIER = [
    (_FREE, "GenerateRequestsPerDayPerProjectPerModel-FreeTier", 0),
    (_FREE, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", 0),
    (_FREE_TOKENS, "GenerateContentInputTokensPerModelPerMinute-FreeTier", 0),
]
_QUICK_FAILURES = frozenset({"500", "503", "blocked"})


class Drawn(Protocol):
    """What an answer is made from, every random part of it drawn already.

    A :class:`Plan` is one; so is each request of a batch.
    """

    @property
    def spec(self) -> ModelSpec: ...

    @property
    def request(self) -> ImageRequest: ...

    @property
    def kind(self) -> str | None: ...

    @property
    def response_id(self) -> str: ...

    @property
    def thoughts_tokens(self) -> int: ...

    @property
    def drafts(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """Answer at once with this error body; nothing was admitted.

    ``reason`` names a refusal the stats count apart (``"signature"``).
    """

    body: dict[str, Any]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """An admitted request: what to wait, and what to answer after.

    Attributes:
        spec: the model.
        request: the validated request.
        kind: the fault injected, or ``None`` for a normal answer.
        wait: seconds to wait before answering (already scaled).
        admission: the quota slot to release once answered.
        error: the error body to send after the wait (500, 503, 504, slow), if any.
        response_id: the ``responseId`` to send.
        thoughts_tokens: ``thoughtsTokenCount`` (0 for models that do not think).
        drafts: number of interim thought images.
        cut_at: for ``truncated``, the fraction of the body that is sent.
        tier: the service tier served (``usageMetadata.serviceTier``; :mod:`.tiers`).
    """

    spec: ModelSpec
    request: ImageRequest
    kind: str | None
    wait: float
    admission: Admission
    error: dict[str, Any] | None
    response_id: str
    thoughts_tokens: int
    drafts: int
    cut_at: float
    tier: str = "standard"


def response_id(rng: random.Random) -> str:
    """A 23-character id shaped like the recorded ``responseId`` values."""
    return base64.urlsafe_b64encode(rng.randbytes(17)).decode()[:23]


def check_key(settings: EmulatorSettings, key: str | None) -> Refusal | None:
    """The first refusal of every method: no key (403), or a key not accepted (400)."""
    if not key:
        return Refusal(error_bodies.permission_denied())
    if settings.keys is not None and key not in settings.keys and not key.startswith("projects/"):
        # ``projects/...``: a Vertex caller whose bearer token the app checked.
        return Refusal(error_bodies.api_key_invalid())
    return None


def find_model(model: str, version: str, method: str) -> ModelSpec | Refusal:
    """The model ``method`` was called on, or the 404 naming that method."""
    spec = MODELS.get(model)
    if spec is None:
        return Refusal(error_bodies.model_not_found(model, version, method))
    return spec


def check_request(
    settings: EmulatorSettings,
    *,
    key: str | None,
    model: str,
    version: str,
    body: bytes,
    method: str = "generateContent",
) -> tuple[ModelSpec, ImageRequest] | Refusal:
    """The refusals that need no state: key (403, 400), model (404), body (400).

    A body's 400s include a Gemini 3 model turn sent back with a signature missing or not
    the emulator's (:mod:`.signatures`), unless ``settings.check_signatures`` is off.
    """
    refused = check_key(settings, key)
    if refused is not None:
        return refused
    spec = find_model(model, version, method)
    if isinstance(spec, Refusal):
        return spec
    try:
        request = parse_request(body, spec)
    except Rejected as rejected:
        return Refusal(rejected.body, rejected.reason)
    if settings.check_signatures and spec.thinks:
        message = problem(request.turns, spec.name)
        if message is not None:
            return Refusal(error_bodies.invalid_argument(message), "signature")
    return spec, request


def _quota_refusal(
    settings: EmulatorSettings,
    spec: ModelSpec,
    arrival: Arrival,
    label: Label,
    limit: int,
    delay: float,
) -> Refusal:
    """A paid-tier quota 429, stating as much as the settings let it.

    It is labelled per minute or per day whatever its window really is (see :mod:`.rates`).
    """
    metric, quota_id = _QUOTA_IDS[label]
    announced = delay if settings.retry_info else None
    arrival.retry_delay = announced
    body = error_bodies.quota_exceeded(
        model=spec.name,
        violations=[(metric, quota_id, limit)],
        delay=announced,
        show_limit=settings.quota_value,
    )
    return Refusal(body)


def _overload(settings: EmulatorSettings, rng: random.Random, arrival: Arrival) -> Refusal:
    low, high = settings.overload_delay
    # Drawn even when not sent, so hiding RetryInfo does not shift the random sequence.
    delay = rng.uniform(low, high) * settings.time_scale
    announced = delay if settings.retry_info else None
    arrival.retry_delay = announced
    return Refusal(error_bodies.overloaded(announced))


def _rejection(
    kind: str, spec: ModelSpec, settings: EmulatorSettings, rng: random.Random, arrival: Arrival
) -> Refusal:
    """The body of a scripted (or rate-drawn) rejection kind."""
    scale = settings.time_scale
    if kind == "invalid-key":
        return Refusal(error_bodies.api_key_invalid())
    if kind == "429-overload":
        return _overload(settings, rng, arrival)
    per_day = kind == "429-day"
    stated = (q.limit for q in settings.rate_quotas if q.per_day == per_day)
    if per_day:
        limit, delay = next(stated, spec.tier1_rpd), rng.uniform(3600.0, 86_400.0) * scale
    else:
        limit, delay = next(stated, spec.tier1_rpm), rng.uniform(1.0, 60.0) * scale
    return _quota_refusal(settings, spec, arrival, "day" if per_day else "minute", limit, delay)


def _wait(
    settings: EmulatorSettings,
    rng: random.Random,
    plan_kind: str | None,
    spec: ModelSpec,
    request: ImageRequest,
) -> float:
    """Seconds (scaled) before answering an admitted request.

    ``500``, ``503`` and ``blocked`` come back quickly, as front-end refusals do; ``504``,
    ``no-image``, ``image-safety``, ``truncated`` and ``drop`` after the model's usual
    latency, since the generation ran; ``slow`` after ``600 s * time_scale`` whatever
    ``latency`` says.
    """
    if plan_kind == "slow":
        return 600.0 * settings.time_scale
    if not settings.latency:
        return 0.0
    if plan_kind in _QUICK_FAILURES:
        low, high = 0.3, 2.0
    else:
        low, high = spec.latency_range(request.image_size)
    return rng.uniform(low, high) * settings.time_scale


def decide(
    settings: EmulatorSettings,
    spec: ModelSpec,
    request: ImageRequest,
    *,
    rng: random.Random,
    quotas: QuotaBook,
    faults: FaultPlan,
    stats: Stats,
    arrival: Arrival,
    key: str,
    now: float,
) -> Plan | Refusal:
    """Refuse (free tier, scripted rejection, quota) or admit, drawing all randomness.

    Must run under the emulator's lock: it reads and changes quota, fault and RNG state.
    """
    if settings.free_tier:
        stats.quota("free-tier")
        delay = rng.uniform(5.0, 60.0) * settings.time_scale
        arrival.retry_delay = delay
        body = error_bodies.quota_exceeded(model=spec.name, violations=_FREE_TIER, delay=delay)
        return Refusal(body)
    kind = faults.scripted(arrival.n)
    if kind is None:
        # No draw when the rate is zero, so turning overload off shifts no other draw.
        if settings.overload_rate > 0 and rng.random() < settings.overload_rate:
            stats.quota("overload")
            return _overload(settings, rng, arrival)
        breach = quotas.check(key, spec.name, now)
        if breach is not None:
            stats.quota(breach.label)
            return _quota_refusal(settings, spec, arrival, breach.label, breach.limit, breach.delay)
        kind = faults.by_rate(rng)
    tiered = tiers.draw(settings, rng, request.tier)
    if tiered.shed and kind is None:
        stats.quota("flex-shed")
        return Refusal(tiers.shed_body())
    if kind is not None:
        stats.fault(arrival, kind)
        if kind in REJECTION_KINDS:
            return _rejection(kind, spec, settings, rng, arrival)
    wait = _wait(settings, rng, kind, spec, request) * tiered.latency_share + tiered.queue
    error: dict[str, Any] | None = None
    if kind == "500":
        error = error_bodies.internal()
    elif kind == "503":
        error = error_bodies.unavailable(rng.randrange(len(error_bodies.UNAVAILABLE_MESSAGES)))
    elif kind in ("504", "slow"):
        error = error_bodies.deadline_exceeded()
    return Plan(
        spec=spec,
        request=request,
        kind=kind,
        wait=wait,
        admission=quotas.admit(key, spec.name, now, now + wait),
        error=error,
        response_id=response_id(rng),
        thoughts_tokens=rng.randint(120, 260) if spec.thinks else 0,
        drafts=rng.randint(1, 2) if settings.thought_images and spec.thinks else 0,
        cut_at=rng.uniform(0.2, 0.9) if kind == "truncated" else 1.0,
        tier=tiered.served,
    )


def _plate(drawn: Drawn, width: int, height: int) -> Segment | None:
    """The answer to a remove-the-text request (:mod:`.plates`): an edit's base, or the one
    image sent with the instruction, without its text (with it, scripted ``keeps-text``)."""
    request = drawn.request
    if request.edit is not None:
        base, instruction = request.edit.base, request.edit.instruction
    elif len(request.images) == 1:
        base, instruction = request.images[0], request.prompt
    else:
        return None
    if not removes_text(instruction):
        return None
    keep = drawn.kind == "keeps-text"
    mime_type = drawn.spec.mime_type
    return without_text(base, width=width, height=height, mime_type=mime_type, keep=keep)


def _reply_text(request: ImageRequest) -> str:
    if request.edit is not None:
        said = request.edit.instruction.strip().splitlines()[:1]
        return f"Here is the edited slide: {said[0]}" if said else "Here is the edited slide."
    first = next((line.strip() for line in request.prompt.splitlines() if line.strip()), "")
    if len(first) > 80:
        first = first[:79].rsplit(" ", 1)[0] + "…"
    return f"Here is the slide: {first}" if first else "Here is the slide."


def _image(
    drawn: Drawn, renderer: SlideRenderer, settings: EmulatorSettings, width: int, height: int
) -> Segment:
    """The answer's image: the edit's base stamped, or a slide; ``#k`` on the k-th repeat.

    A correction of a slide's text (:mod:`.misspelling`) is the slide redrawn, spelt right,
    unless ``misspell`` is scripted for it: then the typo stays (a correction that fails).
    """
    spec, request = drawn.spec, drawn.request
    mark = f"#{request.repeat}" if settings.vary_repeats and request.repeat > 1 else ""
    edit = request.edit
    plate = _plate(drawn, width, height)
    if plate is not None:
        return plate
    if edit is not None and corrects(edit.instruction, edit.context):
        return renderer.image(
            model=spec.name,
            width=width,
            height=height,
            mime_type=spec.mime_type,
            prompt=edit.context,
            mark=mark,
            quoted=misspelt(edit.context, rate=1.0, seed=settings.seed)
            if drawn.kind == "misspell"
            else None,
        )
    if edit is not None:
        marked = edit.marked.digest if edit.marked is not None else ""
        key = ("edit", spec.name, width, height, edit.base.digest, marked, edit.instruction, mark)
        segment = renderer.remember(
            key,
            lambda: edited(edit, width=width, height=height, mime_type=spec.mime_type, mark=mark),
        )
        if segment is not None:
            return segment
    return renderer.image(
        model=spec.name,
        width=width,
        height=height,
        mime_type=spec.mime_type,
        prompt=request.prompt,
        references=request.images,
        mark=mark,
        quoted=misspelt(
            request.prompt,
            rate=1.0 if drawn.kind == "misspell" else settings.misspell_rate,
            seed=settings.seed,
        ),
    )


def compose(drawn: Drawn, renderer: SlideRenderer, settings: EmulatorSettings) -> Answer:
    """The answer ``drawn`` gets, as JSON with placeholders (blocking: renders the image).

    The kinds that shape a 200 are honoured (``no-image``, ``image-safety``, ``blocked``);
    any other kind gets the normal answer, which the caller may cut or drop. On a Gemini 3
    model every non-thought part is signed (:mod:`.signatures`): a 64-character header,
    then filler up to ``signature_bytes`` (or the model's default).
    """
    spec, request = drawn.spec, drawn.request
    tokens = {"prompt_tokens": request.prompt_tokens, "prompt_image_tokens": request.image_tokens}
    if drawn.kind in ("no-image", "image-safety"):
        reason = "NO_IMAGE" if drawn.kind == "no-image" else "IMAGE_SAFETY"
        return no_image(spec=spec, reason=reason, response_id=drawn.response_id, **tokens)
    if drawn.kind == "blocked":
        return blocked(
            spec=spec, reason="PROHIBITED_CONTENT", response_id=drawn.response_id, **tokens
        )
    width, height = spec.pixel_size(request.aspect_ratio, request.image_size)
    image, drafts = None, []
    if request.wants_image:
        image = _image(drawn, renderer, settings, width, height)
        if drawn.drafts:
            draft = renderer.draft(
                model=spec.name, width=width, height=height, mime_type=spec.mime_type
            )
            drafts = [draft] * drawn.drafts
    chars = settings.signature_bytes
    if chars is None:
        chars = spec.signature_chars
    filler = signature(chars - HEADER_CHARS) if chars - HEADER_CHARS >= 4 else None

    def sign(kind: str, content: str | Segment) -> list[Segment]:
        digest = text_digest(content) if isinstance(content, str) else content.decoded_digest
        start = Segment(header(spec.name, kind, digest))
        return [start] if filler is None else [start, filler]

    return image_answer(
        spec=spec,
        image=image,
        image_tokens=spec.tokens(request.image_size),
        drafts=drafts,
        text=_reply_text(request) if settings.text_part and request.wants_text else None,
        sign=sign if spec.thinks else None,
        thoughts_tokens=drawn.thoughts_tokens,
        response_id=drawn.response_id,
        tier=drawn.tier if isinstance(drawn, Plan) else None,
        **tokens,
    )


def build_answer(
    plan: Plan, renderer: SlideRenderer, settings: EmulatorSettings, *, gzip: bool
) -> bytes:
    """The body of a 200 for ``plan`` (blocking: run it in a worker thread)."""
    parts = compose(plan, renderer, settings).parts()
    if plan.kind == "truncated":
        whole = plain_join(parts)
        cut = whole[: max(1, int(len(whole) * plan.cut_at))]
        return gzip_join([cut]) if gzip else cut
    return gzip_join(parts) if gzip else plain_join(parts)
