"""An export over an earlier PPTX: its notes never dropped, the file kept when it differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pptx import Presentation

from nanobanana_async.export.deck import Deck, read_deck
from nanobanana_async.export.pptx import PPTX_NAME, write_pptx
from nanobanana_async.export.replaced import NotesWouldBeLost

PROMPTS = {1: "A lighthouse at dusk", 2: "A harbour at dawn", 3: "A storm at sea"}


def make_deck(folder: Path, count: int, prompts: dict[int, str] | None = None) -> Deck:
    """A folder of ``count`` slide images, read as an export reads it."""
    for number in range(1, count + 1):
        Image.new("RGB", (64, 36), (60 * number, 90, 40)).save(folder / f"slide-{number:02d}.png")
    return read_deck(folder, prompts)


def notes(path: Path) -> list[str]:
    return [
        slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else ""
        for slide in Presentation(str(path)).slides
    ]


def test_an_export_without_prompts_never_replaces_one_with_notes(tmp_path: Path) -> None:
    write_pptx(make_deck(tmp_path, 3, PROMPTS))
    dest = tmp_path / PPTX_NAME
    before = dest.read_bytes()

    with pytest.raises(NotesWouldBeLost) as refused:
        write_pptx(read_deck(tmp_path))  # no prompts: every note would go

    assert refused.value.slides == (1, 2, 3)
    assert str(refused.value) == (
        f"{dest} not replaced: it holds speaker notes on slides 1, 2, 3 "
        "that this export has no prompt for"
    )
    assert dest.read_bytes() == before
    assert not (tmp_path / ".versions").exists()


def test_a_slide_no_longer_in_the_deck_is_not_a_note_lost(tmp_path: Path) -> None:
    write_pptx(make_deck(tmp_path, 3, PROMPTS))
    (tmp_path / "slide-03.png").unlink()  # slide 3 is gone from this export

    report = write_pptx(read_deck(tmp_path, {1: PROMPTS[1], 2: PROMPTS[2]}))

    assert report.slides == (1, 2)
    assert notes(report.path) == [PROMPTS[1], PROMPTS[2]]
    assert report.previous is not None  # the three-slide deck is kept
    assert notes(report.previous) == [PROMPTS[1], PROMPTS[2], PROMPTS[3]]


def test_the_same_deck_again_keeps_no_copy(tmp_path: Path) -> None:
    deck = make_deck(tmp_path, 2, PROMPTS)
    write_pptx(deck)

    again = write_pptx(deck)

    assert again.previous is None  # the same presentation: nothing to keep
    assert not (tmp_path / ".versions").exists()


def test_a_changed_deck_keeps_the_earlier_file_as_a_version(tmp_path: Path) -> None:
    write_pptx(make_deck(tmp_path, 2, PROMPTS))
    first = (tmp_path / PPTX_NAME).read_bytes()
    changed = {1: "A lighthouse at night", 2: PROMPTS[2]}

    second = write_pptx(read_deck(tmp_path, changed))
    third = write_pptx(read_deck(tmp_path, PROMPTS))

    assert second.previous == tmp_path / ".versions" / "deck.2.pptx"
    assert second.previous.read_bytes() == first
    assert third.previous == tmp_path / ".versions" / "deck.3.pptx"  # never over the 2nd
    assert notes(third.previous) == [changed[1], changed[2]]


def test_an_earlier_file_without_slide_names_is_compared_by_count(tmp_path: Path) -> None:
    """A PPTX from before the pictures were named: its notes cannot be matched by slide."""
    written = write_pptx(make_deck(tmp_path, 3, PROMPTS)).path
    presentation = Presentation(str(written))
    for slide in presentation.slides:
        for shape in slide.shapes:
            shape.name = "Picture 1"
    presentation.save(str(written))

    with pytest.raises(NotesWouldBeLost, match="notes on 3 slides where this export would have 2"):
        write_pptx(read_deck(tmp_path, {1: PROMPTS[1], 2: PROMPTS[2]}))
    report = write_pptx(read_deck(tmp_path, PROMPTS))
    assert report.previous is not None
