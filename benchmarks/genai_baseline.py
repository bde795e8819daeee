"""What a user would write instead of this project: the official SDK under a semaphore.

``google-genai``'s async client with :class:`~google.genai.types.HttpRetryOptions` (its own
defaults, 5 attempts, exponential jitter from 1 s up to 60 s, retrying 408, 429 and 5xx),
every slide started at once with :func:`asyncio.gather` and held to ``concurrency``
requests in flight by an :class:`asyncio.Semaphore`. It is given the same benefits as our
engine, so the comparison is about scheduling alone: the same prompts and image settings,
the last non-thought image part kept (not ``parts[0]``), and the image saved by the same
:func:`~benchmarks.deck.save_image` in a worker thread, outside the semaphore.

The SDK's delays are in seconds of real time; against an emulator whose clock runs
``time_scale`` times faster they are multiplied by the same factor (initial delay, maximum
delay and jitter, which are all durations; the exponent base and attempt count are not).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from google import genai
from google.genai import errors, types

from nanobanana_async.engine.plan import Job
from nanobanana_async.files.images import ImageDecodeError

from .deck import save_image

__all__ = ["SDK_ATTEMPTS", "run_sdk"]

SDK_ATTEMPTS = 5
# The SDK's documented defaults, in seconds.
_INITIAL_DELAY = 1.0
_MAX_DELAY = 60.0
_JITTER = 1.0


def _retry_options(time_scale: float) -> types.HttpRetryOptions:
    return types.HttpRetryOptions(
        attempts=SDK_ATTEMPTS,
        initial_delay=_INITIAL_DELAY * time_scale,
        max_delay=_MAX_DELAY * time_scale,
        jitter=_JITTER * time_scale,
    )


def _final_image(response: types.GenerateContentResponse) -> bytes | None:
    if not response.candidates:
        return None
    content = response.candidates[0].content
    parts = content.parts if content is not None and content.parts else []
    images = [p.inline_data.data for p in parts if p.inline_data and not p.thought]
    return images[-1] if images and images[-1] else None


def _config(job: Job) -> types.GenerateContentConfig:
    image: dict[str, Any] = job.body["generationConfig"].get("imageConfig", {})
    return types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(
            aspect_ratio=image.get("aspectRatio"), image_size=image.get("imageSize")
        ),
    )


async def run_sdk(
    jobs: list[Job],
    *,
    model: str,
    base_url: str,
    api_key: str,
    concurrency: int,
    time_scale: float,
) -> tuple[int, float, list[tuple[float, int]]]:
    """Generate ``jobs`` the SDK way.

    Returns:
        Images saved, wall time in seconds, and (seconds since start, images saved so far)
        after each save.
    """
    client = genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(base_url=base_url, retry_options=_retry_options(time_scale)),
    )
    semaphore = asyncio.Semaphore(concurrency)
    timeline: list[tuple[float, int]] = []
    started = time.perf_counter()

    async def one(job: Job) -> None:
        prompt: str = job.body["contents"][0]["parts"][0]["text"]
        async with semaphore:
            try:
                response = await client.aio.models.generate_content(
                    model=model, contents=prompt, config=_config(job)
                )
            except errors.APIError:
                return  # retries exhausted, or not retryable: the slide is lost
        data = _final_image(response)
        if data is None:
            return
        try:
            await asyncio.to_thread(
                save_image, data, job.dest, fmt=job.fmt, quality=job.quality, lossless=job.lossless
            )
        except ImageDecodeError:
            return
        timeline.append((time.perf_counter() - started, len(timeline) + 1))

    try:
        await asyncio.gather(*(one(job) for job in jobs))
    finally:
        await client.aio.aclose()
    return len(timeline), time.perf_counter() - started, timeline
