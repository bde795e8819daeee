"""A run leaves its deck as a deliverable: the contact sheet always, PPTX and PDF on request."""

from __future__ import annotations

from pathlib import Path

from engine_testing import deck_config, files_args, run_cli, write_json
from PIL import Image


def dry_run(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    config = write_json(tmp_path / "slides.json", deck_config(tmp_path / "deck", 3))
    done = run_cli(
        "run", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), *extra,
    )  # fmt: skip
    return done.returncode, done.stdout.decode() + done.stderr.decode(), tmp_path / "deck.dry-run"


def test_every_run_leaves_a_contact_sheet_an_agent_can_view_cheaply(tmp_path: Path) -> None:
    code, out, deck = dry_run(tmp_path)
    assert code == 0, out
    with Image.open(deck / "contact-sheet.png") as sheet:
        assert sheet.width <= 1600
        assert sheet.height <= 1600


def test_the_contact_sheet_can_be_turned_off(tmp_path: Path) -> None:
    code, out, deck = dry_run(tmp_path, "--no-contact-sheet")
    assert code == 0, out
    assert not (deck / "contact-sheet.png").exists()


def test_run_export_writes_the_pptx_and_the_pdf_after_its_line(tmp_path: Path) -> None:
    code, out, deck = dry_run(tmp_path, "--export", "pptx,pdf")
    assert code == 0, out
    assert (deck / "deck.pptx").is_file()
    assert (deck / "deck.pdf").read_bytes().startswith(b"%PDF")
    lines = out.splitlines()
    assert lines[0].startswith("done 3/3")
    assert any(line.startswith("export (free): 3 slides as pictures -> ") for line in lines[1:])


def test_an_unknown_export_kind_is_a_usage_error(tmp_path: Path) -> None:
    code, out, _ = dry_run(tmp_path, "--export", "docx")
    assert code == 2
    assert "--export" in out


def test_the_pptx_slides_have_titles_and_alt_text_a_screen_reader_reads(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.shapes.picture import Picture

    code, out, deck = dry_run(tmp_path, "--export", "pptx")
    assert code == 0, out
    titles: list[str] = []
    alts: list[str] = []
    for slide in Presentation(str(deck / "deck.pptx")).slides:
        assert slide.shapes.title is not None
        titles.append(slide.shapes.title.text_frame.text)
        (shown,) = [shape for shape in slide.shapes if isinstance(shape, Picture)]
        alts.append(*shown.element.xpath("p:nvPicPr/p:cNvPr/@descr"))
    assert titles == [f"Deck slide {n}: topic number {n}" for n in (1, 2, 3)]
    assert alts == titles  # the prompt; short enough here to be the title whole
