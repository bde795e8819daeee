"""What counts as retryable, how often, and how long to back off (built on tenacity).

The decision is made on the error's *type* (classified once, in the protocol module); the
table of types and the backoff formula are :class:`RetryPolicy`'s. A slide's 429 gets no
wait of its own here: :class:`~nanobanana_async.engine.pacer.Pacer` holds every worker until
the time the service gave, which a per-slide wait could not do. A call safe to repeat that is
not a slide (the Batch API's looks, finds, uploads and its create) retries through
:func:`call_retrying`: the same backoff, a 429's announced delay obeyed, and a total deadline.
Sleeping and the clock go through the injected ``sleep`` and ``clock``; with
:meth:`RetryPolicy.instant` tests retry at once, never waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import anyio
import tenacity

from ..errors import (
    ApiError,
    FlexShed,
    NoImageReturned,
    RateLimited,
    TransientError,
    UnusableAnswer,
)

__all__ = ["RetryPolicy", "call_retrying", "slide_retrying"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one slide tries. Times are seconds.

    ==========================  =============================================  ================
    error                       retry?                                         wait (own)
    ==========================  =============================================  ================
    ``FlexShed``                ``flex_shed_retries`` times on Flex, then one  backoff below
                                more at standard if the slide falls back
                                (:mod:`.tiers` decides which)
    ``TransientError``          up to ``max_transient_retries`` times          backoff below
    ``RateLimited``             up to ``max_rate_limit_retries`` times         none: the pacer
                                                                               pauses everyone
    ``NoImageReturned``         ``no_image_retries`` times (one more try)      none
    ``UnusableAnswer``          ``unusable_answer_retries`` times (one more    none
                                try): over the size cap, or an image that
                                does not decode
    ``SlideError`` (others)     never: blocked prompt, refusal, bad request    -
    ``FatalApiError``           never: the engine stops the run                -
    ==========================  =============================================  ================

    Backoff for the n-th transient retry (n = 1, 2, ...), "equal jitter"::

        delay(n) = min(backoff_max, backoff_initial * 2 ** (n - 1)) * uniform(0.5, 1.0)

    so delays grow 0.5-1 s, 1-2 s, 2-4 s ... and never exceed ``backoff_max``; the random
    half keeps workers that failed together from retrying together.

    A call that is not a slide's (:func:`call_retrying`) is retried on ``TransientError``
    and ``RateLimited`` up to ``call_retries`` times with the same backoff, a 429's
    announced delay (RetryInfo) in place of it, and gives up once the next wait would end
    past ``call_deadline`` seconds after its first try.
    """

    max_transient_retries: int = 5
    flex_shed_retries: int = 2
    max_rate_limit_retries: int = 30
    no_image_retries: int = 1
    unusable_answer_retries: int = 1
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    call_retries: int = 7
    call_deadline: float = 600.0

    def backoff(self, retry_number: int, unit: float) -> float:
        """The wait before transient retry ``retry_number`` (1-based); ``unit`` in [0, 1)."""
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** (retry_number - 1))
        return base * (0.5 + 0.5 * unit)

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy with every wait multiplied by ``factor`` (emulated time)."""
        return replace(
            self,
            backoff_initial=self.backoff_initial * factor,
            backoff_max=self.backoff_max * factor,
            call_deadline=self.call_deadline * factor,
        )

    @classmethod
    def instant(cls) -> RetryPolicy:
        """No waiting at all: for tests."""
        return cls(backoff_initial=0.0, backoff_max=0.0)

    def attempts_allowed(self) -> int:
        """The most requests one slide can send under this policy."""
        return (
            1
            + self.max_transient_retries
            + self.flex_shed_retries
            + 1  # the request a shed slide falls back with
            + self.max_rate_limit_retries
            + self.no_image_retries
            + self.unusable_answer_retries
        )


def slide_retrying(
    policy: RetryPolicy,
    *,
    on_retry: Callable[[ApiError], None],
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    rng: random.Random | None = None,
    falls_back: bool = False,
) -> tenacity.AsyncRetrying:
    """A fresh tenacity loop for one slide; its counters are this slide's own.

    ``falls_back``: a slide shed past its Flex retries is sent once more, at standard (the
    run has switched its tier by then); else the last shed fails it.
    """
    limits: dict[type[ApiError], int] = {
        FlexShed: policy.flex_shed_retries + (1 if falls_back else 0),
        TransientError: policy.max_transient_retries,
        RateLimited: policy.max_rate_limit_retries,
        NoImageReturned: policy.no_image_retries,
        UnusableAnswer: policy.unusable_answer_retries,
    }
    counts = dict.fromkeys(limits, 0)
    draw = (rng or random.Random()).random

    def kind_of(error: BaseException) -> type[ApiError] | None:
        for kind in counts:
            if isinstance(error, kind):
                return kind
        return None

    def should_retry(error: BaseException) -> bool:
        kind = kind_of(error)
        if kind is None or counts[kind] >= limits[kind]:
            return False
        counts[kind] += 1
        return True

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, FlexShed):
            return policy.backoff(counts[FlexShed], draw())
        if isinstance(error, TransientError):
            return policy.backoff(counts[TransientError], draw())
        return 0.0

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ApiError):
            on_retry(error)

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(should_retry),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def call_retrying(
    policy: RetryPolicy,
    *,
    retry_on: tuple[type[ApiError], ...] = (TransientError, RateLimited),
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> tenacity.AsyncRetrying:
    """A fresh tenacity loop for one call safe to repeat (``retry_on`` its failures).

    The n-th wait is the policy's backoff(n), or the delay a 429 announced when it gave one;
    the loop stops after ``call_retries`` retries, or when the next wait would end past
    ``call_deadline`` after the first try (read on ``clock``, so a fake clock moves it).
    """
    draw = (rng or random.Random()).random
    started: list[float] = []

    def before(state: tenacity.RetryCallState) -> None:
        if not started:
            started.append(clock())

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimited) and error.retry_delay is not None:
            return error.retry_delay
        return policy.backoff(state.attempt_number, draw())

    def stop(state: tenacity.RetryCallState) -> bool:
        if state.attempt_number > policy.call_retries:
            return True
        return clock() - started[0] + state.upcoming_sleep > policy.call_deadline

    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(retry_on),
        before=before,
        wait=wait,
        stop=stop,
        sleep=sleep,
        reraise=True,
    )
