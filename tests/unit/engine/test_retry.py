"""The retry policy as a table: error type -> how many attempts one slide makes; and the
loop of a call safe to repeat (the Batch API's), on a virtual clock: its jitter, its
deadline, a 429's announced delay."""

from __future__ import annotations

import random

import pytest

from nanobanana_async.emulator import VirtualTime
from nanobanana_async.engine.retry import RetryPolicy, call_retrying, slide_retrying
from nanobanana_async.errors import (
    ApiError,
    BadRequest,
    ImageRefused,
    InvalidApiKey,
    ModelNotFound,
    NoImageReturned,
    PermissionDenied,
    PromptBlocked,
    QuotaExhausted,
    RateLimited,
    TransientError,
    UnusableAnswer,
)

POLICY = RetryPolicy(max_transient_retries=3, max_rate_limit_retries=4, no_image_retries=1)


async def _attempts(error: ApiError, policy: RetryPolicy = POLICY) -> tuple[int, list[float]]:
    slept: list[float] = []
    retried: list[ApiError] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = 0

    async def loop() -> None:
        nonlocal attempts
        async for attempt in slide_retrying(
            policy, on_retry=retried.append, sleep=sleep, rng=random.Random(1)
        ):
            with attempt:
                attempts += 1
                raise error

    with pytest.raises(type(error)):
        await loop()
    assert len(retried) == attempts - 1
    return attempts, slept


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (TransientError("503", status=503), 4),
        (RateLimited("429", retry_delay=1.0), 5),
        (NoImageReturned("NO_IMAGE"), 2),
        (UnusableAnswer("over the cap", status=200, reason="TOO_LARGE"), 2),
        (UnusableAnswer("the image did not decode", reason="BAD_IMAGE"), 2),
        (PromptBlocked("blocked"), 1),
        (ImageRefused("IMAGE_SAFETY"), 1),
        (BadRequest("bad aspect ratio", status=400), 1),
        (InvalidApiKey("bad key", status=400), 1),
        (PermissionDenied("403", status=403), 1),
        (ModelNotFound("404"), 1),
        (QuotaExhausted("per day"), 1),
    ],
)
async def test_attempts_per_error_type(error: ApiError, attempts: int) -> None:
    made, _ = await _attempts(error)
    assert made == attempts


async def test_rate_limited_retries_do_not_sleep_on_their_own() -> None:
    _, slept = await _attempts(RateLimited("429", retry_delay=30.0))
    assert slept == [0.0] * 4


async def test_transient_backoff_grows_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(max_transient_retries=6, backoff_initial=1.0, backoff_max=8.0)
    _, slept = await _attempts(TransientError("500", status=500), policy)
    bases = [1, 2, 4, 8, 8, 8]
    assert len(slept) == len(bases)
    for delay, base in zip(slept, bases, strict=True):
        assert base * 0.5 <= delay <= base


async def test_counts_are_per_kind_and_per_slide() -> None:
    errors: list[ApiError] = [
        TransientError("500", status=500),
        RateLimited("429", retry_delay=0.0),
        TransientError("503", status=503),
        NoImageReturned("NO_IMAGE"),
        UnusableAnswer("the image did not decode", reason="BAD_IMAGE"),
    ]
    attempts = 0

    async def sleep(_: float) -> None:
        return None

    async for attempt in slide_retrying(POLICY, on_retry=lambda e: None, sleep=sleep):
        with attempt:
            attempts += 1
            if errors:
                raise errors.pop(0)
    assert attempts == 6


def test_policy_arithmetic() -> None:
    policy = RetryPolicy(backoff_initial=2.0, backoff_max=10.0)
    assert policy.backoff(1, 0.0) == 1.0
    assert policy.backoff(3, 0.999) == pytest.approx(8.0, rel=1e-3)
    assert policy.backoff(10, 0.0) == 5.0
    assert policy.scaled(0.1).backoff_max == pytest.approx(1.0)
    assert policy.scaled(0.1).call_deadline == pytest.approx(60.0)
    assert RetryPolicy.instant().backoff(5, 0.9) == 0.0
    # Flex: two retries on Flex, then the request a shed slide falls back with.
    assert POLICY.attempts_allowed() == 1 + 3 + 4 + 1 + 1 + 2 + 1


async def _call_waits(
    errors: list[ApiError], policy: RetryPolicy, *, seed: int = 1
) -> tuple[int, list[float], BaseException | None]:
    """A call failing with ``errors`` in turn (the last one for ever), on a virtual clock:
    how many tries, the waits between them, and what it raised in the end."""
    time = VirtualTime()
    waits: list[float] = []
    tries = 0
    raised: list[BaseException] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await time.sleep(seconds)

    async def call() -> None:
        nonlocal tries
        retrying = call_retrying(policy, sleep=sleep, clock=time.clock, rng=random.Random(seed))
        try:
            async for attempt in retrying:
                with attempt:
                    tries += 1
                    raise errors[min(tries, len(errors)) - 1]
        except ApiError as error:
            raised.append(error)

    await time.run(call())
    return tries, waits, raised[0] if raised else None


CALLS = RetryPolicy(backoff_initial=2.0, backoff_max=300.0, call_retries=7, call_deadline=1e9)


async def test_a_call_retries_transient_failures_with_seeded_jitter() -> None:
    tries, waits, raised = await _call_waits([TransientError("503", status=503)], CALLS)
    assert tries == 8
    assert isinstance(raised, TransientError)
    for n, wait in enumerate(waits, start=1):
        base = min(300.0, 2.0 * 2 ** (n - 1))
        assert base * 0.5 <= wait <= base
    again = await _call_waits([TransientError("503", status=503)], CALLS)
    other = await _call_waits([TransientError("503", status=503)], CALLS, seed=2)
    assert again[1] == waits  # the same seed, the same waits
    assert other[1] != waits


async def test_a_call_obeys_a_429s_announced_delay() -> None:
    errors: list[ApiError] = [
        RateLimited("429", retry_delay=37.0),
        RateLimited("429", retry_delay=None),  # no RetryInfo: the backoff
        TransientError("503", status=503),
    ]
    policy = RetryPolicy(backoff_initial=2.0, call_retries=2, call_deadline=1e9)
    _, waits, _ = await _call_waits(errors, policy)
    assert waits[0] == 37.0
    assert 2.0 <= waits[1] <= 4.0


async def test_a_call_gives_up_before_its_deadline() -> None:
    policy = RetryPolicy(backoff_initial=2.0, backoff_max=300.0, call_retries=50, call_deadline=60)
    tries, waits, raised = await _call_waits([TransientError("503", status=503)], policy)
    assert isinstance(raised, TransientError)
    assert sum(waits) <= 60.0
    assert 3 <= tries < 51  # stopped by the deadline, not the count
    # A 429 announcing a wait past the deadline: given up at once, not waited for.
    tries, waits, raised = await _call_waits([RateLimited("429", retry_delay=61.0)], policy)
    assert (tries, waits) == (1, [])
    assert isinstance(raised, RateLimited)


async def test_a_call_succeeds_once_the_failures_stop() -> None:
    time = VirtualTime()
    tries = 0

    async def call() -> None:
        nonlocal tries
        async for attempt in call_retrying(CALLS, sleep=time.sleep, clock=time.clock):
            with attempt:
                tries += 1
                if tries < 3:
                    raise TransientError("502", status=502)

    await time.run(call())
    assert tries == 3


@pytest.mark.parametrize(
    "error",
    [
        NoImageReturned("NO_IMAGE"),
        UnusableAnswer("too big", reason="TOO_LARGE"),
        QuotaExhausted("day"),
    ],
)
async def test_a_call_retries_nothing_but_transient_failures_and_429s(error: ApiError) -> None:
    tries, waits, raised = await _call_waits([error], CALLS)
    assert (tries, waits) == (1, [])
    assert raised is error
