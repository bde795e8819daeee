"""The retry policy as a table: error type -> how many attempts one slide makes."""

from __future__ import annotations

import random

import pytest

from nanobanana_async.engine.retry import RetryPolicy, slide_retrying
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
    assert RetryPolicy.instant().backoff(5, 0.9) == 0.0
    assert POLICY.attempts_allowed() == 1 + 3 + 4 + 1 + 1
