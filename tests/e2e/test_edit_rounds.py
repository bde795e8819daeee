"""Fix a slide instead of rerolling it: edit chains, undo, variants and pick, end to end.

The engine runs against the emulator in process (httpx2's ASGI transport); the emulator's
stats count what was really asked. A killed run is the command as a subprocess over HTTP.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from engine_testing import environment, read_json, start_run, wait_for, write_json
from PIL import Image, ImageChops

from nanobanana_async.config.loading import load_config
from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread
from nanobanana_async.emulator.editing import stamp_colour
from nanobanana_async.engine.manifest import Manifest
from nanobanana_async.engine.plan import plan_jobs
from nanobanana_async.engine.rerun import RunPlan, plan_run
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.errors import ConfigError
from nanobanana_async.results import DeckResult
from nanobanana_async.service.edit_body import EditStep, edit_text

KEY = "test-key-0123456789"
ENV = {"GEMINI_API_KEY": KEY}
FAST = EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0, contact_sheet=False)
MANIFEST = ".nano-banana-manifest.json"


def deck(tmp_path: Path, count: int = 10, **slides: dict[str, Any]) -> dict[str, Any]:
    """A deck of ``count`` JPEG slides; ``slides`` (``s3={...}``) adds to slide 3's entry."""
    return {
        "slides": [
            {"number": n, "prompt": f"Slide {n}: topic {n}", **slides.get(f"s{n}", {})}
            for n in range(1, count + 1)
        ],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "format": "jpg",
    }


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(EmulatorSettings(latency=False, signature_bytes=0))


async def run(emulator: Emulator, config: dict[str, Any], **kwargs: Any) -> DeckResult:
    return await generate_deck(
        config, settings=FAST, transport=httpx2.ASGITransport(app=emulator), env=ENV, **kwargs
    )


def planned(config: dict[str, Any]) -> RunPlan:
    """What a run of ``config`` would do, as ``nanobanana plan`` asks it."""
    loaded = load_config(config, env=ENV)
    return plan_run(loaded, plan_jobs(loaded), Manifest.read(loaded.output_dir))


def requests(emulator: Emulator) -> int:
    count: int = emulator.stats()["requests"]
    return count


def image(tmp_path: Path, number: int) -> bytes:
    return (tmp_path / "deck" / f"slide-{number:02d}.jpg").read_bytes()


@pytest.mark.anyio
async def test_three_edits_on_two_slides_cost_three_requests_and_undo_costs_none(
    tmp_path: Path, emulator: Emulator
) -> None:
    first = await run(emulator, deck(tmp_path))
    assert (first.completed, requests(emulator)) == (10, 10)
    plain = image(tmp_path, 3)

    two = deck(tmp_path, s3={"edits": ["make the title bigger"]}, s7={"edits": ["blue chart"]})
    assert planned(two).unit_summary() == "edit 2 (slides 3, 7)"
    result = await run(emulator, two)
    assert requests(emulator) == 12  # one request an edit, the rest kept
    after_one = image(tmp_path, 3)
    assert after_one != plain
    by_slide = {output.slide: output for output in result.outputs}
    assert (by_slide[3].edits_applied, by_slide[3].edits) == (1, 1)
    assert by_slide[3].previous is not None
    assert by_slide[3].previous.read_bytes() == plain

    three = deck(
        tmp_path,
        s3={"edits": ["make the title bigger", "add a logo"]},
        s7={"edits": ["blue chart"]},
    )
    plan = planned(three)
    assert (plan.requests, plan.unit_summary()) == (1, "edit 1 (slide 3)")
    result = await run(emulator, three)
    assert requests(emulator) == 13  # the third edit alone: the first two are reused
    assert {o.slide for o in result.outputs if not o.reused} == {3}

    assert planned(two).unit_summary() == "restore 1 (slide 3)"
    undone = await run(emulator, two)  # the last step dropped
    assert requests(emulator) == 13  # nothing asked
    assert image(tmp_path, 3) == after_one  # the earlier unit, put back
    assert {o.slide: o.edits_applied for o in undone.outputs}[3] == 1
    assert undone.cost_usd == 0

    await run(emulator, deck(tmp_path))  # every edit dropped: the first image again
    assert requests(emulator) == 13
    assert image(tmp_path, 3) == plain
    versions = sorted(p.name for p in (tmp_path / "deck" / ".versions").iterdir())
    assert len([name for name in versions if name.startswith("slide-03.")]) == 4


@pytest.mark.anyio
async def test_variants_make_one_request_each_and_a_pick_makes_none(
    tmp_path: Path, emulator: Emulator
) -> None:
    await run(emulator, deck(tmp_path, 4))
    assert requests(emulator) == 4

    result = await run(emulator, deck(tmp_path, 4, s2={"variants": 3}))
    assert requests(emulator) == 6  # candidate 1 is the slide already made: 2 more
    output = {o.slide: o for o in result.outputs}[2]
    folder = tmp_path / "deck"
    assert [p.name for p in output.candidates] == [f"slide-02.v{k}.jpg" for k in (1, 2, 3)]
    assert output.picked == 1
    assert image(tmp_path, 2) == (folder / "slide-02.v1.jpg").read_bytes()

    pick = deck(tmp_path, 4, s2={"variants": 3, "pick": 2})
    plan = planned(pick)
    assert (plan.requests, plan.unit_summary()) == (0, "restore 1 (slide 2)")
    picked = await run(emulator, pick, send=False)
    assert requests(emulator) == 6  # a pick asks for nothing
    assert image(tmp_path, 2) == (folder / "slide-02.v2.jpg").read_bytes()
    assert {o.slide: o.picked for o in picked.outputs}[2] == 2
    assert picked.errors == ()

    fresh = await run(emulator, deck(tmp_path, 4, s4={"variants": 3}))
    assert requests(emulator) == 8
    assert {o.slide: len(o.candidates) for o in fresh.outputs}[4] == 3


@pytest.mark.anyio
async def test_a_library_run_draws_the_candidates_sheet_beside_the_decks(
    tmp_path: Path, emulator: Emulator
) -> None:
    """generate_deck, not only the CLI: a slide of candidates gets its sheet after a run."""
    sheets = dataclasses.replace(FAST, contact_sheet=True)
    await generate_deck(
        deck(tmp_path, 3, s2={"variants": 2}),
        settings=sheets,
        transport=httpx2.ASGITransport(app=emulator),
        env=ENV,
    )
    folder = tmp_path / "deck"
    assert (folder / "contact-sheet.png").is_file()
    assert sorted(p.name for p in folder.glob("candidates-*.png")) == ["candidates-02.png"]


@pytest.mark.anyio
async def test_variants_on_a_new_slide_cost_one_request_each(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = await run(emulator, deck(tmp_path, 2, s1={"variants": 3}))
    assert requests(emulator) == 4
    assert result.errors == ()


@pytest.mark.anyio
async def test_a_changed_prompt_redoes_that_slides_chain_and_only_it(
    tmp_path: Path, emulator: Emulator
) -> None:
    edits = {"edits": ["bigger title", "blue chart"]}
    await run(emulator, deck(tmp_path, 5, s2=edits, s4=edits))
    assert requests(emulator) == 5 + 4
    changed = deck(tmp_path, 5, s2=edits, s4=edits | {"prompt": "Slide 4, reworded"})
    result = await run(emulator, changed)
    assert requests(emulator) == 9 + 3  # slide 4: its image and its two edits
    assert [o.slide for o in result.outputs if not o.reused] == [4]


@pytest.mark.anyio
async def test_a_failed_edit_keeps_the_last_good_image_and_says_so(
    tmp_path: Path, emulator: Emulator
) -> None:
    await run(emulator, deck(tmp_path, 2, s1={"edits": ["bigger title"]}))
    assert requests(emulator) == 3
    step_one = image(tmp_path, 1)
    emulator.script({4: "image-safety"})  # the next request: the second step
    result = await run(emulator, deck(tmp_path, 2, s1={"edits": ["bigger title", "a cat"]}))
    assert requests(emulator) == 4
    (failure,) = result.errors
    assert (failure.slide, failure.kind) == (1, "EditFailed")
    assert (failure.edits_applied, failure.edits) == (1, 2)
    assert image(tmp_path, 1) == step_one
    saved = read_json(tmp_path / "deck" / "nano-banana-results.json")
    assert saved["errors"][0]["edits_applied"] == 1

    emulator.script({})
    again = await run(emulator, deck(tmp_path, 2, s1={"edits": ["bigger title", "a cat"]}))
    assert requests(emulator) == 5  # the failed step alone
    assert again.errors == ()


@pytest.mark.anyio
async def test_a_manifest_from_before_chains_keeps_every_slide(
    tmp_path: Path, emulator: Emulator
) -> None:
    await run(emulator, deck(tmp_path, 4))
    path = tmp_path / "deck" / MANIFEST
    manifest = orjson.loads(path.read_bytes())
    for record in manifest["slides"].values():  # as written before units were kept
        record.pop("units", None)
        record.pop("candidates", None)
    path.write_bytes(orjson.dumps(manifest))
    result = await run(emulator, deck(tmp_path, 4))
    assert requests(emulator) == 4
    assert all(output.reused for output in result.outputs)

    await run(emulator, deck(tmp_path, 4, s2={"edits": ["bigger title"]}))
    assert requests(emulator) == 5  # an edit of an old deck's slide: one request


@pytest.mark.anyio
async def test_only_leaves_every_other_slide_as_it_is(tmp_path: Path, emulator: Emulator) -> None:
    await run(emulator, deck(tmp_path, 3))
    changed = deck(tmp_path, 3, s1={"prompt": "new"}, s2={"edits": ["bigger"]})
    result = await run(emulator, changed, only=frozenset({2}))
    assert requests(emulator) == 4  # slide 2's edit; slide 1's new prompt waits
    assert {o.slide for o in result.outputs if not o.reused} == {2}

    sent_nothing = await run(emulator, changed, send=False)
    assert requests(emulator) == 4
    assert [(e.slide, e.kind) for e in sent_nothing.errors] == [(1, "NotSent")]


@pytest.fixture
def service() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, signature_bytes=0))
    with serve_in_thread(emulator) as url:
        yield emulator, url


def test_a_run_killed_mid_edit_pays_nothing_twice_when_resumed(
    tmp_path: Path, service: tuple[Emulator, str]
) -> None:
    emulator, url = service
    config = write_json(tmp_path / "slides.json", deck(tmp_path, 2))
    env = environment(url)
    with start_run(config, tmp_path, env) as process:
        process.communicate(timeout=60)
    assert process.returncode == 0
    assert requests(emulator) == 2
    first_cost = read_json(tmp_path / "results.json")["deck_cost_usd"]

    edits = ["bigger title", "blue chart", "a logo"]
    write_json(config, deck(tmp_path, 2, s1={"edits": edits}))
    emulator.script({4: "slow"})  # the second step (the 4th request) never answers
    with start_run(config, tmp_path, env, "--concurrency", "1") as process:
        assert wait_for(lambda: emulator.stats()["in_flight"] == 1 and requests(emulator) == 4, 30)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert requests(emulator) == 4  # the first step was received before the kill
    emulator.script({})

    with start_run(config, tmp_path, env, "--resume") as resumed:
        _, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err.decode()
    assert requests(emulator) == 6  # steps 2 and 3; step 1 found on disk, not asked again
    results = read_json(tmp_path / "results.json")
    (output,) = [o for o in results["outputs"] if o["slide"] == 1]
    assert (output["edits_applied"], output["edits"]) == (3, 3)
    # The deck's cost counts step 1 once, at the plan's estimate (the killed run could not
    # record what it paid), beside the two steps this run paid for.
    paid = results["cost_usd"]
    assert results["deck_cost_usd"] == pytest.approx(first_cost + paid * 1.5, rel=0.05)


class Tapped:
    """The emulator, keeping the body of each ``generateContent`` request it receives."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(":generateContent"):
            await self.emulator(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def tapped() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.bodies.append(orjson.loads(b"".join(chunks)))
            return message

        await self.emulator(scope, tapped, send)


async def tapped_run(tap: Tapped, config: dict[str, Any], **kwargs: Any) -> DeckResult:
    return await generate_deck(
        config, settings=FAST, transport=httpx2.ASGITransport(app=tap), env=ENV, **kwargs
    )


@pytest.mark.anyio
async def test_an_edit_step_sends_the_last_exchange_back_with_its_model_turn(
    tmp_path: Path, emulator: Emulator
) -> None:
    tap = Tapped(emulator)
    region = {"instruction": "a cat", "region": [0.1, 0.1, 0.3, 0.3]}
    await tapped_run(tap, deck(tmp_path, 1, s1={"edits": ["bigger title", region]}))
    first, step_one, step_two = tap.bodies
    assert [c["role"] for c in step_one["contents"]] == ["user", "model", "user"]
    assert step_one["contents"][0] == first["contents"][0]  # the slide's turn, rebuilt
    model = step_one["contents"][1]["parts"]
    assert any(p.get("inlineData", {}).get("data") for p in model)  # the image, put back
    assert step_one["contents"][2]["parts"][0]["text"].startswith("bigger title.")
    # Step 2 sends step 1's exchange: its text, step 1's answer, then its own instruction
    # with the marked copy.
    assert step_two["contents"][0] == step_one["contents"][2]
    texts = [p.get("text", "") for p in step_two["contents"][2]["parts"]]
    assert "magenta rectangle" in texts[0]
    assert len(step_two["contents"][2]["parts"]) == 2  # the marked copy
    turns = sorted(p.name for p in (tmp_path / "deck" / ".turns").iterdir())
    assert len(turns) == 3
    assert oct((tmp_path / "deck" / ".turns").stat().st_mode & 0o777) == "0o700"


@pytest.mark.anyio
async def test_a_model_that_keeps_no_turn_is_edited_fresh_and_says_so_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    tap = Tapped(emulator)
    config = deck(tmp_path, 2, s1={"edits": ["bigger"]}, s2={"edits": ["smaller"]})
    config["model"] = "gemini-2.5-flash-image"
    result = await tapped_run(tap, config)
    assert result.errors == ()
    fresh = [body for body in tap.bodies if len(body["contents"][0]["parts"]) == 2]
    assert len(fresh) == 2  # the image inline, then the instruction: one user turn each
    assert all(len(body["contents"]) == 1 for body in tap.bodies)
    notices = [n for n in result.notices if "without the model's earlier turn" in n]
    assert len(notices) == 1
    assert "slides 1-2" in notices[0]


def _original(tmp_path: Path, unit: str) -> Image.Image:
    """The service's image of ``unit`` (``v1``, ``e2``) of slide 1, as kept in .originals."""
    originals = tmp_path / "deck" / ".originals"
    plain = unit == "v1"  # a slide's first image keeps the name it always had
    (path,) = [
        p
        for p in originals.iterdir()
        if f".{unit}." in p.name or (plain and p.name.count(".") == 2)
    ]
    return Image.open(path).convert("RGB")


def _difference(a: Image.Image, b: Image.Image) -> Image.Image:
    """Per pixel, the largest channel difference (L)."""
    red, green, blue = ImageChops.difference(a, b).split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour``."""
    far = _difference(image, Image.new("RGB", image.size, colour))
    return image.width * image.height - sum(far.histogram()[tolerance + 1 :])


@pytest.mark.anyio
async def test_a_step_is_made_from_the_step_before_it(tmp_path: Path, emulator: Emulator) -> None:
    steps = ["make the title bigger", "make the chart blue"]
    await run(emulator, deck(tmp_path, 1, s1={"edits": steps, "format": "png"}))
    assert emulator.stats()["edits"] == 2
    one, two = (stamp_colour(edit_text(EditStep(step))) for step in steps)
    first, second = _original(tmp_path, "e1"), _original(tmp_path, "e2")
    assert _near(first, one) > 0
    assert _near(first, two) == 0
    assert _near(second, two) > 0
    # Step 1's label is still there (step 2 draws its own frame over the border): step 2
    # was made from step 1's image.
    inner = (20, 20, first.width - 20, first.height - 20)
    assert _near(first.crop(inner), one) > 100
    assert _near(second.crop(inner), one) > 0.5 * _near(first.crop(inner), one)


@pytest.mark.anyio
async def test_a_region_edit_leaves_the_image_outside_its_box_as_it_was(
    tmp_path: Path, emulator: Emulator
) -> None:
    region = [0.5, 0.5, 0.4, 0.4]
    step = {"instruction": "draw a cat", "region": region}
    await run(emulator, deck(tmp_path, 1, s1={"edits": [step], "format": "png"}))
    base, edited = _original(tmp_path, "v1"), _original(tmp_path, "e1")
    assert base.size == edited.size
    width, height = base.size
    margin = 12
    box = (
        round(region[0] * width) - margin,
        round(region[1] * height) - margin,
        round((region[0] + region[2]) * width) + margin,
        round((region[1] + region[3]) * height) + margin,
    )
    difference = _difference(base, edited)
    inside = difference.crop(box)
    difference.paste(0, box)
    outside = width * height - inside.width * inside.height
    changed = sum(difference.histogram()[41:])
    assert changed < 0.001 * outside  # JPEG noise at most
    assert sum(inside.histogram()[41:]) > 0.01 * inside.width * inside.height  # the stamp


@pytest.mark.anyio
async def test_a_refused_signature_is_sent_again_as_a_fresh_edit(
    tmp_path: Path, emulator: Emulator
) -> None:
    await run(emulator, deck(tmp_path, 1))
    (turn,) = (tmp_path / "deck" / ".turns").iterdir()
    kept = orjson.loads(turn.read_bytes())
    for part in kept["turn"]["parts"]:
        if "thoughtSignature" in part:
            part["thoughtSignature"] = "Zm9yZ2Vk" * 8  # not the service's
    turn.write_bytes(orjson.dumps(kept))
    tap = Tapped(emulator)
    result = await tapped_run(tap, deck(tmp_path, 1, s1={"edits": ["bigger title"]}))
    assert result.errors == ()
    assert emulator.stats()["signature_refusals"] == 1
    refused, fresh = tap.bodies
    assert len(refused["contents"]) == 3
    assert len(fresh["contents"]) == 1  # the image and the instruction, one user turn
    assert any("without the model's earlier turn" in notice for notice in result.notices)
    record = orjson.loads((tmp_path / "deck" / MANIFEST).read_bytes())["slides"]["1"]
    assert [unit.get("fresh", False) for unit in record["units"].values()] == [False, True]


@pytest.mark.anyio
async def test_a_chain_through_the_batch_api_is_refused_with_nothing_sent(
    tmp_path: Path, emulator: Emulator
) -> None:
    config = deck(tmp_path, 2, s2={"edits": ["bigger"]}) | {"mode": "batch-api"}
    with pytest.raises(ConfigError, match=r"slide 2 \(slides\[1\]\)\.edits: cannot go through"):
        await run(emulator, config)
    assert requests(emulator) == 0
    assert not (tmp_path / "deck").exists()


@pytest.mark.anyio
async def test_a_step_received_and_staged_but_not_kept_is_kept_with_no_request(
    tmp_path: Path, emulator: Emulator
) -> None:
    config = deck(tmp_path, 1, s1={"edits": ["bigger title", "blue chart"]})
    await run(emulator, config)
    assert requests(emulator) == 3
    folder = tmp_path / "deck"
    (step,) = (folder / ".originals").glob("slide-01.jpg.e2.*")
    tag = step.name.removeprefix("slide-01.jpg.").rsplit(".", 1)[0]  # e2.<key16>
    staged = folder / f".slide-01.jpg.{tag}.received"
    step.rename(staged)  # as a run killed between staging it and keeping it leaves it
    (folder / "slide-01.jpg").unlink()
    plan = planned(config)
    assert [(r["unit"], r["action"]) for r in plan.unit_rows()] == [("e2", "save")]
    assert (plan.requests, plan.unit_summary()) == (0, "save 1 received (slide 1)")
    result = await run(emulator, config)
    assert requests(emulator) == 3
    assert result.errors == ()
    assert not staged.exists()
    assert step.exists()
