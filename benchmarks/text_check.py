"""The text check's figures: OCR time per slide, and how well misspellings are caught.

- *Cost*: :func:`~nanobanana_async.qa.read_text` on an emulator slide at 1K (1376x768)
  and 2K (2752x1536), CPU, median of ``RUNS`` reads after one warm-up, with the default
  downscale (long side 1400) and without it (``max_side=0``), so the downscale's gain and
  its accuracy are both seen.
- *Catch*: a deck of ``SLIDES`` emulator slides, each quoting a heading and a body line,
  ``misspell_rate`` 0.3: how many misspelt slides the check flags (target >= 95 %) and
  how many right ones it flags (target <= 5 %).

Real time on a shared machine: run it alone (``python -m benchmarks.text_check``).
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx2

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.misspelling import misspelt
from nanobanana_async.qa import expected_text, match_text, read_text
from nanobanana_async.service import protocol

__all__ = ["TextCheckResult", "run_text_check_scenario"]

RUNS = 5
SLIDES = 40
RATE = 0.3
SEED = 7
_KEY = "AIzaBENCH-text-check-0000000000000000000"
_HEADINGS = [
    "Quarterly Results", "Market Overview", "Product Roadmap", "Customer Growth",
    "Hiring Plan", "Regional Sales", "Pricing Strategy", "Next Steps", "Risk Review",
    "Partner Program",
]  # fmt: skip
_LINES = [
    "Revenue grew in every region", "Launch the mobile app in spring",
    "Twelve engineers across three cities", "New accounts doubled since launch",
    "Support tickets fell by a third", "Margins improved for the fourth quarter",
    "Two designers join before March", "Expansion into Brazil and Mexico",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class TextCheckResult:
    """Attributes: medians in ms (``*_full``: not downscaled), and the catch counts."""

    ms_1k: float
    ms_2k: float
    ms_2k_full: float
    ok_1k: bool
    ok_2k: bool
    ok_2k_full: bool
    slides: int
    misspelt: int
    misspelt_flagged: int
    right_flagged: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _prompt(n: int) -> str:
    heading = _HEADINGS[n % len(_HEADINGS)]
    line = _LINES[(n * 3) % len(_LINES)]
    return f'Slide {n}: heading "{heading} {2020 + n % 8}", one line "{line}".'


async def _image(client: httpx2.AsyncClient, prompt: str, model: str, size: str) -> bytes:
    body = protocol.build_request(prompt, model=model, image_size=size)
    answer = await client.post(
        f"/v1beta/models/{model}:generateContent",
        json=body,
        headers={"x-goog-api-key": _KEY},
    )
    parts = answer.json()["candidates"][0]["content"]["parts"]
    return base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))


async def _images(prompts: list[str], size: str, rate: float) -> list[bytes]:
    emulator = Emulator(EmulatorSettings(latency=False, misspell_rate=rate, seed=SEED))
    transport = httpx2.ASGITransport(app=emulator)
    async with httpx2.AsyncClient(transport=transport, base_url="http://emulator") as client:
        return [await _image(client, p, "gemini-3-pro-image", size) for p in prompts]


def _timed(image: bytes, expected: tuple[str, ...], max_side: int | None) -> tuple[float, bool]:
    options = {} if max_side is None else {"max_side": max_side}
    read_text(image, **options)  # warm-up (the first read loads the models)
    times, ok = [], True
    for _ in range(RUNS):
        started = time.perf_counter()
        read = read_text(image, **options)
        times.append((time.perf_counter() - started) * 1000)
        ok = ok and match_text(expected, read).state == "ok"
    return round(statistics.median(times)), ok


def run_text_check_scenario(log: Any = print) -> TextCheckResult:
    """Time the reads, then check the deck."""
    sample = _prompt(1)
    expected = expected_text(sample)
    one_k, two_k = (asyncio.run(_images([sample], size, 0.0))[0] for size in ("1K", "2K"))
    ms_1k, ok_1k = _timed(one_k, expected, None)
    ms_2k, ok_2k = _timed(two_k, expected, None)
    ms_2k_full, ok_2k_full = _timed(two_k, expected, 0)
    log(f"OCR ms: 1K {ms_1k} ({ok_1k}), 2K {ms_2k} ({ok_2k}), 2K full {ms_2k_full} ({ok_2k_full})")
    prompts = [_prompt(n) for n in range(SLIDES)]
    wrong = {p for p in prompts if misspelt(p, rate=RATE, seed=SEED) is not None}
    flagged_wrong = flagged_right = 0
    for prompt, image in zip(prompts, asyncio.run(_images(prompts, "1K", RATE)), strict=True):
        check = match_text(expected_text(prompt), read_text(image))
        if check.state != "ok":
            if prompt in wrong:
                flagged_wrong += 1
            else:
                flagged_right += 1
                log(f"right slide flagged: {check.to_json()}")
        elif prompt in wrong:
            log(f"misspelt slide not flagged: {misspelt(prompt, rate=RATE, seed=SEED)}")
    result = TextCheckResult(
        ms_1k=ms_1k,
        ms_2k=ms_2k,
        ms_2k_full=ms_2k_full,
        ok_1k=ok_1k,
        ok_2k=ok_2k,
        ok_2k_full=ok_2k_full,
        slides=SLIDES,
        misspelt=len(wrong),
        misspelt_flagged=flagged_wrong,
        right_flagged=flagged_right,
    )
    log(result.to_json())
    return result


if __name__ == "__main__":
    run_text_check_scenario()
