"""Scenario 7, the text check (issue 27): what a read costs, what it catches, what it fixes,
and what it adds to a quota-bound deck's wall time.

- *Cost*: :func:`~nanobanana_async.qa.read_text` on an emulator slide at 1K (1376x768) and
  2K (2752x1536, decoded at half scale, 1376 px), ``READS`` reads each after one warm-up (the
  first read loads the models): the median wall time and the median CPU time (process
  time: onnxruntime reads on one thread, the caller's; these reads are the caller's, not
  the readers' pool).
- *Catch and fix*: a deck of ``SLIDES`` slides, each quoting a heading and a body line,
  made by the engine (``generate_deck``, ``check_text``, ``"fix_text": FIX_ROUNDS``)
  against an emulator subprocess with no latency and ``--misspell-rate RATE``. Its first
  reads (a slide whose check is not ``ok``, or that went through fix rounds: ``fixes``)
  are the catch: how many misspelt slides are flagged (target >= 95 %), how many right
  ones (target <= 5 %); every misspelt slide must end ``ok`` (the emulator redraws a slide
  spelt right when an edit asks for the correction). Which slides are misspelt comes from
  the emulator's own rule (:func:`~nanobanana_async.emulator.misspelling.misspelt`, on the
  prompt as sent: no style is added).
- *Quota*: the deck of ``QUOTA_SLIDES`` slides at 2K against a sliding minute of
  ``QUOTA_RPM`` (``--time-scale QUOTA_SCALE``), check on and off, ``QUOTA_ROUNDS`` rounds
  (a seed each, the order swapped every other round): the wall time the user waits (the
  run waits for its last checks), on over off (target <= 1.05), and how long after the
  last image the run ended.

Real time: ``python -m benchmarks.text_check`` runs it alone, prints its tables and
updates ``latest.json``.
"""

from __future__ import annotations

import asyncio
import base64
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2

from nanobanana_async import EngineSettings, generate_deck
from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.misspelling import misspelt
from nanobanana_async.engine.progress import Progress
from nanobanana_async.qa import expected_text, match_text, read_text
from nanobanana_async.service import protocol

from .emulator_process import EmulatorProcess

__all__ = [
    "FIX_ROUNDS",
    "QUOTA_ROUNDS",
    "QUOTA_RPM",
    "QUOTA_SCALE",
    "QUOTA_SLIDES",
    "RATE",
    "SLIDES",
    "QuotaPair",
    "TextCheckResult",
    "run_text_check_scenario",
]

READS = 3
SLIDES = 40
RATE = 0.3
SEED = 7
FIX_ROUNDS = 2
QUOTA_SLIDES = 40
QUOTA_RPM = 20
# A minute lasts 30 s: the check's reads (0.4 s of CPU each, 1.3 s before DET_SIDE) keep their
# real length while the quota's window shrinks, so a smaller scale would measure a backlog
# of reads no real deck has; a larger one takes minutes per run.
QUOTA_SCALE = 0.5
QUOTA_ROUNDS = 2
_MODEL = "gemini-3-pro-image"
_KEY = "AIzaBENCH-text-check-0000000000000000000"
_RUN_TIMEOUT = 600.0
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
class QuotaPair:
    """One round of the quota-bound deck, check on and off (real seconds).

    Attributes:
        seed: the emulator's and the engine's.
        wall_on: the run's wall time with the check, from the call to its return.
        wall_off: the same without.
        tail_on: with the check, from the last image saved to the run's end (its last reads).
        tail_off: the same without (the sheet and the results).
        saved_on: slides saved with the check.
        saved_off: without.
    """

    seed: int
    wall_on: float
    wall_off: float
    tail_on: float
    tail_off: float
    saved_on: int
    saved_off: int

    @property
    def ratio(self) -> float:
        return self.wall_on / self.wall_off if self.wall_off else float("nan")


@dataclass(frozen=True, slots=True)
class TextCheckResult:
    """Attributes: the read's medians in ms (wall and CPU), the catch, the fix, the quota
    rounds."""

    ms_1k: float
    cpu_ms_1k: float
    ms_2k: float
    cpu_ms_2k: float
    ok_1k: bool
    ok_2k: bool
    slides: int
    misspelt: int
    misspelt_flagged: int
    right_flagged: int
    fix_rounds: int
    fixed: int
    still_flagged: int
    fix_requests: int
    quota: tuple[QuotaPair, ...]

    @property
    def quota_ratio(self) -> float:
        """The median, over the rounds, of wall on / wall off."""
        return statistics.median(p.ratio for p in self.quota) if self.quota else float("nan")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["quota"] = [{**asdict(p), "ratio": round(p.ratio, 3)} for p in self.quota]
        data["quota_ratio"] = round(self.quota_ratio, 3)
        return data


def _prompt(n: int) -> str:
    heading = _HEADINGS[n % len(_HEADINGS)]
    line = _LINES[(n * 3) % len(_LINES)]
    return f'Slide {n}: heading "{heading} {2020 + n % 8}", one line "{line}".'


# -- the cost of a read --------------------------------------------------------------------


async def _image(client: httpx2.AsyncClient, prompt: str, size: str) -> bytes:
    body = protocol.build_request(prompt, model=_MODEL, image_size=size)
    answer = await client.post(
        f"/v1beta/models/{_MODEL}:generateContent", json=body, headers={"x-goog-api-key": _KEY}
    )
    parts = answer.json()["candidates"][0]["content"]["parts"]
    return base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))


async def _one_image(prompt: str, size: str) -> bytes:
    emulator = Emulator(EmulatorSettings(latency=False, seed=SEED))
    transport = httpx2.ASGITransport(app=emulator)
    async with httpx2.AsyncClient(transport=transport, base_url="http://emulator") as client:
        return await _image(client, prompt, size)


def _timed(image: bytes, expected: tuple[str, ...]) -> tuple[float, float, bool]:
    """Median wall and CPU ms of ``READS`` reads, and whether every one read right."""
    read_text(image)  # warm-up: the first read of the process loads the models
    walls, cpus, ok = [], [], True
    for _ in range(READS):
        wall, cpu = time.perf_counter(), time.process_time()
        read = read_text(image)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        ok = ok and match_text(expected, read).state == "ok"
    return round(statistics.median(walls)), round(statistics.median(cpus)), ok


# -- decks through the engine --------------------------------------------------------------


def _config(folder: Path, count: int, *, size: str, check: bool, fix: int = 0) -> dict[str, Any]:
    config: dict[str, Any] = {
        "slides": [{"number": n, "prompt": _prompt(n)} for n in range(1, count + 1)],
        "output_dir": str(folder),
        "model": _MODEL,
        "image_size": size,
        "format": "jpg",
    }
    if check:
        config["check_text"] = True
    if fix:
        config["fix_text"] = fix
    return config


def _deck(
    emulator: EmulatorProcess, config: dict[str, Any], settings: EngineSettings
) -> tuple[Any, float, float]:
    """Run ``config``; its result, its wall time and when its last image was saved."""
    last = [0.0]
    started = time.perf_counter()

    def on_progress(progress: Progress) -> None:
        if progress.succeeded and progress.succeeded > last[0]:
            last[0] = progress.succeeded
            last.append(time.perf_counter() - started)

    env = {"GEMINI_API_KEY": _KEY, "GOOGLE_GEMINI_BASE_URL": emulator.base_url}
    run = generate_deck(config, progress=on_progress, settings=settings, env=env)
    result = asyncio.run(asyncio.wait_for(run, _RUN_TIMEOUT))
    wall = time.perf_counter() - started
    return result, wall, last[-1] if len(last) > 1 else wall


def _flagged(result: Any, *, at_first: bool) -> set[int]:
    """The slides whose check did not come out ``ok``; ``at_first``: at its first read,
    which a slide sent through fix rounds says (``fixes``), fixed or not."""
    found = set()
    for output in result.outputs:
        check = output.text_check or {}
        if check.get("state", "ok") != "ok" or (at_first and check.get("fixes")):
            found.add(output.slide)
    return found


def _catch_and_fix(folder: Path, log: Any) -> tuple[int, int, int, int, int, int]:
    """(misspelt, misspelt flagged, right flagged, fixed, still flagged, requests).

    One deck, ``fix_text`` on: what its first reads flagged is the catch, what is still
    flagged at the end is what the rounds did not fix.
    """
    wrong = {n for n in range(1, SLIDES + 1) if misspelt(_prompt(n), rate=RATE, seed=SEED)}
    extra = ["--misspell-rate", repr(RATE)]
    settings = EngineSettings(progress_interval=0.0, seed=SEED)
    with EmulatorProcess(latency=False, seed=SEED, extra=extra) as emulator:
        config = _config(folder / "deck", SLIDES, size="1K", check=True, fix=FIX_ROUNDS)
        result, wall, _ = _deck(emulator, config, settings)
        requests = int(emulator.settle()["requests"])
    flagged, still = _flagged(result, at_first=True), _flagged(result, at_first=False)
    for slide in sorted(flagged - wrong):
        log(f"right slide {slide} flagged: {_prompt(slide)}")
    for slide in sorted(wrong - flagged):
        log(f"misspelt slide {slide} not flagged: {_prompt(slide)}")
    log(
        f"catch: {len(flagged & wrong)}/{len(wrong)} misspelt flagged; fix_text {FIX_ROUNDS}: "
        f"{len(still)} still flagged, {requests} requests, {wall:.0f} s"
    )
    fixed = len(wrong - still) if len(result.outputs) == SLIDES else 0
    return len(wrong), len(flagged & wrong), len(flagged - wrong), fixed, len(still), requests


def _quota_round(folder: Path, round_index: int, log: Any) -> QuotaPair:
    seed = SEED + round_index
    settings = EngineSettings(time_scale=QUOTA_SCALE, progress_interval=0.0, seed=seed)
    figures: dict[bool, tuple[float, float, int]] = {}
    order = (True, False) if round_index % 2 == 0 else (False, True)
    with EmulatorProcess(rpm=QUOTA_RPM, time_scale=QUOTA_SCALE, seed=seed) as emulator:
        for check in order:
            emulator.reset()
            where = folder / f"quota-{round_index}-{'on' if check else 'off'}"
            config = _config(where, QUOTA_SLIDES, size="2K", check=check)
            result, wall, last_saved = _deck(emulator, config, settings)
            figures[check] = (wall, wall - last_saved, result.completed)
            log(f"quota round {round_index + 1}, check {'on' if check else 'off'}: {wall:.1f} s")
    (wall_on, tail_on, saved_on), (wall_off, tail_off, saved_off) = figures[True], figures[False]
    return QuotaPair(
        seed=seed,
        wall_on=round(wall_on, 2),
        wall_off=round(wall_off, 2),
        tail_on=round(tail_on, 2),
        tail_off=round(tail_off, 2),
        saved_on=saved_on,
        saved_off=saved_off,
    )


def run_text_check_scenario(log: Any = print) -> TextCheckResult:
    """Time the reads, then the decks (about five minutes on two busy cores)."""
    sample = _prompt(1)
    expected = expected_text(sample)
    one_k, two_k = (asyncio.run(_one_image(sample, size)) for size in ("1K", "2K"))
    ms_1k, cpu_1k, ok_1k = _timed(one_k, expected)
    ms_2k, cpu_2k, ok_2k = _timed(two_k, expected)
    log(f"a read: 1K {ms_1k} ms ({cpu_1k} ms CPU), 2K {ms_2k} ms ({cpu_2k} ms CPU)")
    with tempfile.TemporaryDirectory(prefix="nanobanana-bench-text-") as tmp:
        folder = Path(tmp)
        wrong, caught, right_flagged, fixed, still, requests = _catch_and_fix(folder, log)
        pairs = tuple(_quota_round(folder, r, log) for r in range(QUOTA_ROUNDS))
    return TextCheckResult(
        ms_1k=ms_1k,
        cpu_ms_1k=cpu_1k,
        ms_2k=ms_2k,
        cpu_ms_2k=cpu_2k,
        ok_1k=ok_1k,
        ok_2k=ok_2k,
        slides=SLIDES,
        misspelt=wrong,
        misspelt_flagged=caught,
        right_flagged=right_flagged,
        fix_rounds=FIX_ROUNDS,
        fixed=fixed,
        still_flagged=still,
        fix_requests=requests,
        quota=pairs,
    )


def main() -> int:
    """Run scenario 7 alone: its tables and targets, and its key of ``latest.json``."""
    from .report import RESULTS_DIR, log, text_check_tables, text_check_targets, update_json

    started = time.perf_counter()
    result = run_text_check_scenario(log)
    found = text_check_targets(result)
    path = RESULTS_DIR / "latest.json"
    update_json(path, "text_check", result.to_json(), found)
    print(text_check_tables(result, found))
    print(f"\n{path}\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
