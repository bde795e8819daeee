"""Reading a deck's folder: the slides in order, each its image or why not.

Folders are built with real small images and a results copy as a run writes it; one test
makes the deck with the engine against the emulator, in process, and exports it.
"""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from other_user import OTHER
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.engine.retry import RetryPolicy
from nanobanana_async.engine.run import EngineSettings, generate_deck
from nanobanana_async.exits import RESULTS_COPY_NAME
from nanobanana_async.export import (
    ExportError,
    ExportReport,
    read_deck,
    write_contact_sheet,
    write_pdf,
)
from nanobanana_async.export import deck as deck_module
from nanobanana_async.export.deck import UnreadableImage, image_size, open_image, read_image_file

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root can chown to another user")


def image(path: Path, colour: tuple[int, int, int] = (200, 40, 40)) -> Path:
    Image.new("RGB", (32, 18), colour).save(path, format="PNG")
    return path


def results(folder: Path, outputs: dict[int, str], errors: dict[int, str] | None = None) -> None:
    """The results copy a run leaves, with the absolute paths it records."""
    data: dict[str, Any] = {
        "completed": len(outputs),
        "failed": len(errors or {}),
        "total": len(outputs) + len(errors or {}),
        "outputs": [
            {"slide": n, "path": str(folder / name), "size_kb": 1} for n, name in outputs.items()
        ],
        "errors": [
            {"slide": n, "error": error, "timestamp": "2026-01-16T10:30:00Z"}
            for n, error in (errors or {}).items()
        ],
        "output_dir": str(folder),
    }
    (folder / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))


def test_the_results_give_the_order_the_failures_and_the_gaps(tmp_path: Path) -> None:
    for n in (1, 2, 10):
        image(tmp_path / f"slide-{n:02d}.png")
    # Out of order, as a file edited by hand could be; slide 4 was saved, then deleted.
    results(
        tmp_path,
        {10: "slide-10.png", 2: "slide-02.png", 1: "slide-01.png", 4: "slide-04.png"},
        {3: "prompt blocked: SAFETY\nsecond line"},
    )
    deck = read_deck(tmp_path)
    assert [s.number for s in deck.slides] == [1, 2, 3, 4, 10]
    assert [s.state for s in deck.slides] == ["ok", "ok", "failed", "missing", "ok"]
    assert deck.slides[0].path == tmp_path / "slide-01.png"
    assert deck.slides[2].path is None
    assert deck.slides[2].reason == "failed: prompt blocked: SAFETY second line"  # one line
    assert deck.slides[3].reason == "missing: slide-04.png is not in the folder"
    assert [s.number for s in deck.without_image] == [3, 4]
    assert not deck.listed
    assert deck.notes == ()


def test_prompts_are_carried_for_the_speaker_notes(tmp_path: Path) -> None:
    image(tmp_path / "slide-01.png")
    results(tmp_path, {1: "slide-01.png"}, {2: "failed"})
    deck = read_deck(tmp_path, {1: "A title slide", 2: "The plan", 99: "not in the deck"})
    assert [s.prompt for s in deck.slides] == ["A title slide", "The plan"]
    assert [s.prompt for s in read_deck(tmp_path).slides] == [None, None]


def test_a_moved_deck_reads_by_name_and_nothing_outside_the_folder_is_reached(
    tmp_path: Path,
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    image(old / "slide-01.png")
    image(old / "slide-02.png")
    outside = image(tmp_path / "secret.png")
    results(old, {1: "slide-01.png", 2: "slide-02.png"})
    data = orjson.loads((old / RESULTS_COPY_NAME).read_bytes())
    data["outputs"].append({"slide": 3, "path": str(outside), "size_kb": 1})
    data["outputs"].append({"slide": 4, "path": "/", "size_kb": 1})
    (old / RESULTS_COPY_NAME).write_bytes(orjson.dumps(data))
    old.rename(new)
    deck = read_deck(new)
    assert [s.path for s in deck.slides[:2]] == [new / "slide-01.png", new / "slide-02.png"]
    assert deck.slides[2].path is None  # not tmp_path/secret.png: only new/secret.png counts
    assert deck.slides[2].reason == "missing: secret.png is not in the folder"
    assert deck.slides[3].state == "missing"
    assert deck.notes == (
        f"the results were written for {old}: the images are read by name from {new}",
    )


def test_a_symlink_or_folder_under_a_slides_name_is_not_an_image(tmp_path: Path) -> None:
    outside = image(tmp_path / "outside.png")
    folder = tmp_path / "deck"
    folder.mkdir()
    image(folder / "slide-01.png")
    (folder / "slide-02.png").symlink_to(outside)
    (folder / "slide-03.png").mkdir()
    results(folder, {1: "slide-01.png", 2: "slide-02.png", 3: "slide-03.png"})
    deck = read_deck(folder)
    assert [(s.state, s.reason) for s in deck.slides[1:]] == [
        ("missing", "missing: slide-02.png is a symlink"),
        ("missing", "missing: slide-03.png is a directory"),
    ]
    with pytest.raises(UnreadableImage, match=r"^slide-02.png is a symlink, not followed$"):
        read_image_file(folder / "slide-02.png")


def test_a_folder_without_results_is_listed_by_number_and_says_so(tmp_path: Path) -> None:
    for name in ("slide-100.png", "slide-99.webp", "slide-01.JPG", "slide-7.jpeg"):
        image(tmp_path / name)
    for name in ("cover.png", "slide-x.png", ".slide-02.png.received", "slide-03.gif"):
        image(tmp_path / name, (0, 0, 0))
    (tmp_path / "slide-04.png").symlink_to(tmp_path / "cover.png")
    deck = read_deck(tmp_path)
    assert [(s.number, s.path) for s in deck.slides] == [
        (1, tmp_path / "slide-01.JPG"),
        (7, tmp_path / "slide-7.jpeg"),
        (99, tmp_path / "slide-99.webp"),
        (100, tmp_path / "slide-100.png"),
    ]
    assert deck.listed
    assert deck.notes == (
        f"no {RESULTS_COPY_NAME} in {tmp_path}: its 4 slide-NN images are listed by number "
        "(failed slides are not known)",
    )


def test_nothing_to_export_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ExportError) as empty:
        read_deck(tmp_path)
    assert str(empty.value) == (
        f"nothing to export in {tmp_path}: no {RESULTS_COPY_NAME} and no "
        "slide-NN.webp/.png/.jpg image"
    )
    results(tmp_path, {2: "slide-02.png"}, {1: "blocked", 3: "blocked"})
    with pytest.raises(ExportError) as none_made:
        read_deck(tmp_path)
    assert str(none_made.value) == (
        f"nothing to export in {tmp_path}: none of its 3 slides has an image (2 failed, 1 missing)"
    )
    results(tmp_path, {})
    with pytest.raises(ExportError, match=r"its results list no slide$"):
        read_deck(tmp_path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", " is not valid JSON: not a results file"),
        (b"[1, 2]", " holds no JSON object: not a results file"),
        (b'{"outputs": {}}', ": 'outputs' is not a list: not a results file"),
        (
            b'{"outputs": [{"slide": "1", "path": "a.png"}]}',
            ": outputs[0] needs a slide number and a string 'path': not a results file",
        ),
        (
            b'{"errors": [{"slide": true, "error": "x"}]}',
            ": errors[0] needs a slide number and a string 'error': not a results file",
        ),
        (
            b'{"errors": [{"slide": 1000000, "error": "x"}]}',
            ": errors[0] needs a slide number and a string 'error': not a results file",
        ),
    ],
)
def test_a_results_copy_of_the_wrong_shape_is_refused_in_one_line(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    (tmp_path / RESULTS_COPY_NAME).write_bytes(content)
    with pytest.raises(ExportError) as caught:
        read_deck(tmp_path)
    assert str(caught.value) == f"{tmp_path / RESULTS_COPY_NAME}{problem}"


def test_a_results_copy_that_is_not_a_plain_file_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / RESULTS_COPY_NAME
    os.mkfifo(path)  # opened blocking, this would hang the test
    with pytest.raises(ExportError, match=r"is a FIFO, not a results file$"):
        read_deck(tmp_path)
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ExportError, match=r"is a symlink, not followed$"):
        read_deck(tmp_path)
    path.unlink()
    path.write_bytes(b"{}" + b" " * 100)
    monkeypatch.setattr(deck_module, "MAX_RESULTS_BYTES", 64)
    with pytest.raises(ExportError, match=r"is over 64 bytes: not a results file$"):
        read_deck(tmp_path)


@root_only
def test_another_users_results_copy_is_not_believed(tmp_path: Path) -> None:
    image(tmp_path / "slide-01.png")
    results(tmp_path, {1: "slide-01.png"})
    os.chown(tmp_path / RESULTS_COPY_NAME, OTHER, OTHER)
    with pytest.raises(ExportError, match=rf"belongs to another user \(uid {OTHER}\): not read$"):
        read_deck(tmp_path)


def test_a_folder_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"nope: not found$"):
        read_deck(tmp_path / "nope")
    file = image(tmp_path / "a.png")
    with pytest.raises(ExportError, match=r"a.png is a regular file, not a deck's folder$"):
        read_deck(file)


def test_image_files_are_read_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = image(tmp_path / "slide-01.png")
    with open_image(read_image_file(path), path.name) as opened:
        assert opened.size == (32, 18)
    monkeypatch.setattr(deck_module, "MAX_IMAGE_PIXELS", 32 * 18 - 1)
    with pytest.raises(UnreadableImage, match=r"^slide-01.png is 32x18, too large to read$"):
        open_image(read_image_file(path), path.name)
    monkeypatch.setattr(deck_module, "MAX_IMAGE_BYTES", 16)
    with pytest.raises(UnreadableImage, match=r"^slide-01.png is over 16 bytes$"):
        read_image_file(path)
    gif = tmp_path / "slide-02.png"
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(UnreadableImage, match=r"^slide-02.png is not a PNG, JPEG or WebP image$"):
        open_image(gif.read_bytes(), gif.name)
    fifo = tmp_path / "slide-03.png"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableImage, match=r"^slide-03.png is a FIFO$"):
        read_image_file(fifo)


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {"quality": 80}), ("RGB", {"lossless": True}), ("RGBA", {"quality": 80})],
    ids=["lossy", "lossless", "extended"],
)
def test_an_images_size_is_read_from_its_header(
    mode: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WebP's size comes from its first chunk: the same as Pillow's, and read with nothing
    past the header (the contact sheet's aspect at a run's end, without allocating the image)."""
    for width, height in [(688, 384), (1, 1), (16383, 3), (77, 101)]:
        buffer = BytesIO()
        Image.new(mode, (width, height), (10, 20, 30, 128)[: len(mode)]).save(
            buffer, format="WEBP", **options
        )
        data = buffer.getvalue()
        with open_image(data, "s.webp") as opened:
            assert image_size(data, "s.webp") == opened.size == (width, height)
        assert image_size(data[:30], "s.webp") == (width, height)  # the header alone
    buffer = BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, format="PNG")
    assert image_size(buffer.getvalue(), "s.png") == (40, 30)
    with pytest.raises(UnreadableImage, match=r"^s.webp is not a PNG, JPEG or WebP image$"):
        image_size(b"RIFF\0\0\0\0WEBPVP8 " + bytes(20), "s.webp")  # no frame's start code
    monkeypatch.setattr(deck_module, "MAX_IMAGE_PIXELS", 688 * 384 - 1)
    Image.new("RGB", (688, 384)).save(buffer := BytesIO(), format="WEBP")
    with pytest.raises(UnreadableImage, match=r"^s.webp is 688x384, too large to read$"):
        image_size(buffer.getvalue(), "s.webp")


def test_the_report_names_what_was_skipped(tmp_path: Path) -> None:
    assert ExportReport(tmp_path / "deck.pdf", (1, 2)).note is None
    one = ExportReport(tmp_path / "deck.pdf", (1,), ((2, "failed: blocked"),))
    assert one.note == "deck.pdf: skipped slide 2 (failed: blocked)"
    two = ExportReport(tmp_path / "deck.pdf", (1,), ((2, "failed: x"), (5, "missing: y")))
    assert two.note == "deck.pdf: skipped slides 2 (failed: x), 5 (missing: y)"


async def test_a_deck_made_by_a_run_exports(tmp_path: Path) -> None:
    """The engine makes the deck against the emulator; its folder exports as it is."""
    emu = Emulator(EmulatorSettings(latency=False))
    emu.script({2: "blocked"})
    config = {
        "slides": [{"number": n, "prompt": f"Slide {n}"} for n in (1, 2, 3)],
        "output_dir": str(tmp_path / "deck"),
        "image_size": "1K",
        "concurrency": 1,
    }
    result = await generate_deck(
        config,
        settings=EngineSettings(retry=RetryPolicy.instant(), progress_interval=0.0),
        transport=httpx2.ASGITransport(app=emu),
        env={"GEMINI_API_KEY": "test-key-0123456789"},
        results_file=tmp_path / "results.json",
        progress_file=tmp_path / "progress.json",
    )
    assert [e.slide for e in result.errors] == [2]
    deck = read_deck(tmp_path / "deck", {n: f"Slide {n}" for n in (1, 2, 3)})
    assert [(s.number, s.state) for s in deck.slides] == [(1, "ok"), (2, "failed"), (3, "ok")]
    assert deck.slides[1].reason.startswith("failed: ")
    sheet = write_contact_sheet(deck)
    assert sheet == tmp_path / "deck" / "contact-sheet.png"
    with Image.open(sheet) as drawn:
        assert max(drawn.size) <= 1600
    report = write_pdf(deck, tmp_path / "deck.pdf")
    assert report.slides == (1, 3)
    assert report.skipped == ((2, deck.slides[1].reason),)
    assert report.path.read_bytes().startswith(b"%PDF-")
