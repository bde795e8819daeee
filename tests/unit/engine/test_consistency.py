"""One look: the deck's style reference, and the first slide the others follow.

The engine runs in process against the emulator (httpx2's ASGI transport), which records
the digest of every image a request carries (``arrivals[i]["images"]``) and draws each as
a swatch on the slide it makes, so these tests see what was sent, with what, and when.
Latency is off, except where :class:`Together` holds answers back to see what is in
flight at once; nothing sleeps for real.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from PIL import Image

from nanobanana_async.config.schema import MAX_REFERENCE_BYTES
from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.emulator.render import swatch_boxes
from nanobanana_async.emulator.stats import image_digest
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.results import DeckResult

# Random-looking, as a real key is: a key spelt in words would have its pieces (8 characters
# in a row are scrubbed) match the same words in ordinary messages.
ENV = {"GEMINI_API_KEY": "cst-3f9a71c2e8b4d05-7qv4"}
FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0)
BRAND = (200, 30, 40)


class Together:
    """An emulator ``sleep`` that answers only once ``sizes[0]`` requests wait together.

    With sizes ``(1, 3)`` the first request is answered alone, and the next three only
    once all three are in the emulator at the same time: a client that sent them one by
    one would never be answered (the test's deadline says so).
    """

    def __init__(self, *sizes: int) -> None:
        self.sizes = list(sizes)
        self.waiting: list[asyncio.Future[None]] = []

    async def __call__(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        if self.sizes and len(self.waiting) == self.sizes[0]:
            self.sizes.pop(0)
            for waiting in self.waiting:
                waiting.set_result(None)
            self.waiting.clear()
        await future


def deck(tmp_path: Path, numbers: tuple[int, ...], **top: Any) -> dict[str, Any]:
    return {
        "slides": [{"number": n, "prompt": f"Slide {n}: topic {n}"} for n in numbers],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "consistency": "first-slide",
        **top,
    }


async def run(emulator: Emulator, config: dict[str, Any], **kwargs: Any) -> DeckResult:
    with anyio.fail_after(10):  # a deadlock fails, it does not hang the suite
        return await generate_deck(
            config,
            settings=FAST,
            transport=httpx2.ASGITransport(app=emulator),
            env=ENV,
            **kwargs,
        )


def arrivals(emulator: Emulator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emulator.stats()["arrivals"]
    return found


def original(tmp_path: Path, number: int) -> bytes:
    """The bytes the service sent for slide ``number``, as the run kept them."""
    (path,) = (tmp_path / "deck" / ".originals").glob(f"slide-{number:02d}.webp.*")
    return path.read_bytes()


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, "PNG")
    return buffer.getvalue()


def swatches(path: Path, count: int) -> list[tuple[int, ...]]:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        found = []
        for left, top, right, bottom in swatch_boxes(*rgb.size, count):
            pixel = rgb.getpixel(((left + right) // 2, (top + bottom) // 2))
            assert isinstance(pixel, tuple)
            found.append(pixel)
        return found


def near(seen: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    return all(abs(a - b) <= 16 for a, b in zip(seen, expected, strict=True))


async def test_the_others_are_sent_with_the_first_slides_bytes_together_once_it_is_done(
    tmp_path: Path,
) -> None:
    # The first slide is the first listed, whatever its number.
    emulator = Emulator(EmulatorSettings(sleep=Together(1, 3)))
    result = await run(emulator, deck(tmp_path, (7, 1, 2, 3)))
    assert (result.completed, result.failed) == (4, 0)
    first, *others = arrivals(emulator)
    assert first["images"] == []
    assert first["answered"] is not None
    leader = image_digest(original(tmp_path, 7))
    for arrival in others:
        assert arrival["images"] == [leader]  # its bytes, as the service sent them
        assert arrival["t"] >= first["answered"]  # and only after it was answered
    assert emulator.stats()["peak_concurrency"] == 3  # the three together


async def test_a_style_reference_goes_with_every_slide_and_shows_on_it(tmp_path: Path) -> None:
    (tmp_path / "brand.png").write_bytes(brand := png(BRAND))
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, (1, 2, 3), style_reference=str(tmp_path / "brand.png"))
    result = await run(emulator, config | {"consistency": "none"})
    assert result.completed == 3
    assert [a["images"] for a in arrivals(emulator)] == [[image_digest(brand)]] * 3
    for output in result.outputs:
        (swatch,) = swatches(output.path, 1)
        assert near(swatch, BRAND), swatch


async def test_with_both_the_others_carry_the_style_reference_then_the_first_slide(
    tmp_path: Path,
) -> None:
    (tmp_path / "brand.png").write_bytes(brand := png(BRAND))
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, (1, 2, 3), style_reference=str(tmp_path / "brand.png"))
    result = await run(emulator, config)
    assert result.completed == 3
    style, leader = image_digest(brand), image_digest(original(tmp_path, 1))
    assert [a["images"] for a in arrivals(emulator)] == [[style], [style, leader], [style, leader]]
    for output in result.outputs[1:]:
        near_brand, near_page = swatches(output.path, 2)  # slide 1 is mostly its page
        assert near(near_brand, BRAND), near_brand
        assert near(near_page, (248, 248, 245)), near_page


async def test_if_the_first_slide_fails_the_others_are_not_sent(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    emulator.script({1: "blocked"})  # a refusal of the prompt: not retried
    result = await run(emulator, deck(tmp_path, (1, 2, 3)))
    assert (result.completed, result.failed, result.exit_code) == (0, 3, 1)
    assert emulator.stats()["requests"] == 1
    first, *others = result.errors
    assert first.slide == 1
    assert first.kind == "PromptBlocked"
    for error in others:
        assert error.kind == "FirstSlideFailed"
        assert error.error == (
            "not sent: slide 1 failed (PromptBlocked), and every other slide is sent with its "
            "image (consistency: first-slide); a rerun makes slide 1, then this one"
        )


async def test_a_rerun_follows_the_kept_first_slide_and_pays_only_for_what_changed(
    tmp_path: Path,
) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, (1, 2, 3, 4))
    assert (await run(emulator, config)).completed == 4
    kept = image_digest(original(tmp_path, 1))
    emulator.reset()
    again = await run(emulator, config)
    assert (again.completed, emulator.stats()["requests"]) == (4, 0)  # nothing changed
    config["slides"][2]["prompt"] = "Slide 3: another topic"
    edited = await run(emulator, config)
    assert edited.completed == 4
    # Only slide 3, sent at once with slide 1 as kept (no waiting on a slide not sent).
    assert [a["images"] for a in arrivals(emulator)] == [[kept]]
    emulator.reset()
    config["slides"][0]["prompt"] = "Slide 1: a new look"
    remade = await run(emulator, config)
    assert remade.completed == 4
    log = arrivals(emulator)
    assert len(log) == 4  # a new first slide: every other slide follows the new one
    assert log[0]["images"] == []
    assert [a["images"] for a in log[1:]] == [[image_digest(original(tmp_path, 1))]] * 3
    assert image_digest(original(tmp_path, 1)) != kept


async def test_resume_follows_the_first_slide_it_keeps(tmp_path: Path) -> None:
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, (1, 2, 3))
    emulator.script({2: "blocked"})
    first = await run(emulator, config)
    assert first.completed == 2
    emulator.reset()
    resumed = await run(emulator, config, resume=True)
    assert resumed.completed == 3
    assert [a["images"] for a in arrivals(emulator)] == [[image_digest(original(tmp_path, 1))]]


@pytest.mark.parametrize("style", [False, True], ids=["fits", "style reference too big"])
async def test_a_follower_too_big_with_the_first_slides_image_is_not_sent(
    tmp_path: Path, style: bool
) -> None:
    # A style reference that fits alone, with a few hundred bytes to spare: the first
    # slide's image does not fit beside it.
    brand = tmp_path / "brand.png"
    Image.new("RGB", (4, 4), BRAND).save(brand, "PNG")
    padding = MAX_REFERENCE_BYTES - 300 - brand.stat().st_size
    with brand.open("ab") as file:  # bytes after IEND: Pillow decodes the image, the
        file.write(b"\0" * padding)  # file is as big as wanted
    assert brand.stat().st_size == MAX_REFERENCE_BYTES - 300
    emulator = Emulator(EmulatorSettings(latency=False))
    config = deck(tmp_path, (1, 2, 3))
    if style:
        config["style_reference"] = str(brand)
    result = await run(emulator, config)
    if not style:
        assert result.completed == 3
        return
    assert result.completed == 1
    assert emulator.stats()["requests"] == 1
    for error in result.errors:
        assert error.kind == "RequestTooLarge"
        assert error.error.startswith("not sent: with slide 1's image its request would carry 2")
        assert "give slide 1 a smaller image_size" in error.error
