"""``nanobanana export``, as a subprocess, on decks made by real (dry) runs of the command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_testing import deck_config, files_args, run_cli
from engine_testing import write_json as write
from pptx import Presentation

from nanobanana_async.cli.export import export_after_run, export_kinds
from nanobanana_async.config.loading import load_config
from nanobanana_async.export.pptx import MISSING_PPTX

# What a run records for a slide gone from the disk, as the export names it.
GONE = "missing: slide-02.webp is not in the folder"


def env() -> dict[str, str]:
    """No Gemini settings at all: neither a dry run nor an export needs any."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI", "GOOGLE", "NANO"))}


def dry_run(tmp_path: Path, count: int = 3, **extra: Any) -> tuple[Path, Path]:
    """A deck made by ``run --emulator``: (its config, the folder it wrote)."""
    config = write(tmp_path / "slides.json", deck_config(tmp_path / "deck", count, **extra))
    done = run_cli(
        "run", str(config), "--emulator", "--emulator-time-scale", "0.001",
        *files_args(tmp_path), env=env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return config, tmp_path / "deck.dry-run"


def export(*args: str) -> tuple[int, list[str], list[str]]:
    done = run_cli("export", *args, env=env())
    return done.returncode, done.stdout.decode().splitlines(), done.stderr.decode().splitlines()


def without_pptx(*args: str) -> tuple[int, list[str], list[str]]:
    """``nanobanana export ARGS`` where python-pptx cannot be imported."""
    script = (
        "import sys\n"
        "sys.modules['pptx'] = None  # as if python-pptx were not installed\n"
        "from nanobanana_async.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "export", *args],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


def test_a_run_exports_as_pptx_and_pdf_with_the_prompts_in_the_notes(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path)

    code, out, err = export(str(deck), "--pptx", "--pdf", "--config", str(config))

    assert (code, err) == (0, [])
    assert out == [
        f"export (free): 3 slides as pictures -> {deck / 'deck.pptx'}",
        f"export (free): 3 slides as pictures -> {deck / 'deck.pdf'}",
    ]
    presentation = Presentation(str(deck / "deck.pptx"))
    assert (presentation.slide_width, presentation.slide_height) == (12_192_000, 6_858_000)
    notes = [slide.notes_slide.notes_text_frame.text for slide in presentation.slides]
    assert notes == [f"Deck slide {n}: topic number {n}" for n in (1, 2, 3)]
    assert (deck / "deck.pdf").read_bytes().startswith(b"%PDF-")


def test_a_missing_slide_is_named_with_why(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path)
    (deck / "slide-02.webp").unlink()

    code, out, err = export(str(deck), "--config", str(config))  # no flag: PPTX and PDF

    assert (code, err) == (0, [])
    assert out == [
        f"export (free): 2 slides as pictures -> {deck / 'deck.pptx'}; skipped slide 2",
        f"export (free): 2 slides as pictures -> {deck / 'deck.pdf'}; skipped slide 2",
        f"export: skipped slide 2 ({GONE})",
    ]
    assert len(Presentation(str(deck / "deck.pptx")).slides) == 2


def test_files_named_on_the_command_line_and_the_contact_sheet(tmp_path: Path) -> None:
    _, deck = dry_run(tmp_path, 2)
    elsewhere = tmp_path / "out"
    elsewhere.mkdir()

    code, out, err = export(str(deck), "--pptx", str(elsewhere / "talk.pptx"), "--contact-sheet")

    assert (code, err) == (0, [])
    assert out == [
        f"export (free): 2 slides as pictures -> {elsewhere / 'talk.pptx'}",
        f"export (free): 2 slides -> {deck / 'contact-sheet.png'}",
    ]
    assert not (deck / "deck.pptx").exists()
    assert not (deck / "deck.pdf").exists()  # only what was asked for


def test_the_slides_take_the_configs_aspect_ratio_else_the_first_images(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path, 2, aspect_ratio="9:16")

    assert export(str(deck), "--pptx", "--config", str(config))[0] == 0
    with_config = Presentation(str(deck / "deck.pptx"))
    assert (with_config.slide_width, with_config.slide_height) == (6_858_000, 12_192_000)

    assert export(str(deck), "--pptx", str(tmp_path / "own.pptx"))[0] == 0
    from_image = Presentation(str(tmp_path / "own.pptx"))
    assert (from_image.slide_width, from_image.slide_height) == (6_858_000, 12_192_000)
    # No config: the prompts the deck's manifest recorded when its slides were made.
    assert from_image.slides[0].notes_slide.notes_text_frame.text == "Deck slide 1: topic number 1"


def notes(path: Path) -> list[str]:
    return [s.notes_slide.notes_text_frame.text for s in Presentation(str(path)).slides]


def test_an_export_without_config_keeps_the_notes_from_the_decks_manifest(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path)
    assert export(str(deck), "--pptx", "--config", str(config))[0] == 0

    code, out, err = export(str(deck), "--pptx")  # no --config: as a user re-exports

    assert (code, err) == (0, [])
    # The same deck: no copy.
    assert out == [f"export (free): 3 slides as pictures -> {deck / 'deck.pptx'}"]
    assert notes(deck / "deck.pptx") == [f"Deck slide {n}: topic number {n}" for n in (1, 2, 3)]
    assert not (deck / ".versions").exists()


def test_a_pptx_with_notes_is_never_replaced_by_one_without(tmp_path: Path) -> None:
    import orjson

    from nanobanana_async.engine.manifest import MANIFEST_NAME

    config, deck = dry_run(tmp_path)
    assert export(str(deck), "--config", str(config))[0] == 0
    before = (deck / "deck.pptx").read_bytes()
    # A manifest from before prompts were recorded: the notes can come from nowhere.
    manifest = orjson.loads((deck / MANIFEST_NAME).read_bytes())
    for record in manifest["slides"].values():
        record.pop("prompt", None)
    (deck / MANIFEST_NAME).write_bytes(orjson.dumps(manifest))

    code, out, err = export(str(deck))

    assert code == 1
    # The others are written.
    assert out == [f"export (free): 3 slides as pictures -> {deck / 'deck.pdf'}"]
    assert err == [
        f"nanobanana: error: no PPTX: {deck / 'deck.pptx'} not replaced: it holds speaker "
        "notes on slides 1, 2, 3 that this export has no prompt for; give --config CONFIG "
        "with their prompts, or move it away first"
    ]
    assert (deck / "deck.pptx").read_bytes() == before


def test_a_pptx_replaced_by_another_deck_is_kept_as_a_version(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path, 2)
    assert export(str(deck), "--pptx", "--config", str(config))[0] == 0
    before = (deck / "deck.pptx").read_bytes()
    reworded = deck_config(tmp_path / "deck", 2)
    reworded["slides"][1]["prompt"] = "The second slide, reworded"
    other = write(tmp_path / "reworded.json", reworded)

    code, out, err = export(str(deck), "--pptx", "--config", str(other))

    kept = deck / ".versions" / "deck.2.pptx"
    assert (code, err) == (0, [])
    assert out == [
        f"export (free): 2 slides as pictures -> {deck / 'deck.pptx'}; "
        f"the earlier one kept as {kept}"
    ]
    assert kept.read_bytes() == before
    assert notes(deck / "deck.pptx")[1] == "The second slide, reworded"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "nowhere: not found"),
        (lambda tmp: tmp, "nothing to export in"),
    ],
    ids=["no folder", "no deck"],
)
def test_nothing_to_export_is_one_line_and_exit_2(tmp_path: Path, make: Any, message: str) -> None:
    code, out, err = export(str(make(tmp_path)))
    assert (code, out) == (2, [])
    assert len(err) == 1
    assert err[0].startswith("nanobanana: error: ")
    assert message in err[0]


def test_a_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _, deck = dry_run(tmp_path, 1)
    bad = write(tmp_path / "bad.json", {"slides": [], "output_dir": str(deck)})

    code, out, err = export(str(deck), "--config", str(bad))

    assert (code, out) == (2, [])
    assert len(err) == 1
    assert err[0].startswith("nanobanana: error: slides")
    assert not (deck / "deck.pptx").exists()


def test_a_file_that_cannot_be_written_is_exit_1_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    _, deck = dry_run(tmp_path, 1)

    code, out, err = export(str(deck), "--pptx", "--pdf", str(tmp_path / "no" / "deck.pdf"))

    assert code == 1
    assert out == [f"export (free): 1 slide as a picture -> {deck / 'deck.pptx'}"]
    assert err == [
        f"nanobanana: error: no PDF: cannot write {tmp_path / 'no' / 'deck.pdf'}: "
        "No such file or directory"
    ]


def test_pptx_asked_for_without_python_pptx_is_one_line_and_exit_2(tmp_path: Path) -> None:
    _, deck = dry_run(tmp_path, 1)

    code, out, err = without_pptx(str(deck), "--pptx", "--pdf")

    assert (code, out, err) == (2, [], [f"nanobanana: error: {MISSING_PPTX}"])
    assert not (deck / "deck.pdf").exists()  # a usage error is found before anything is written


def test_without_python_pptx_the_default_is_the_pdf_alone_and_says_why(tmp_path: Path) -> None:
    _, deck = dry_run(tmp_path, 1)

    code, out, err = without_pptx(str(deck))

    assert code == 0
    assert out == [f"export (free): 1 slide as a picture -> {deck / 'deck.pdf'}"]
    assert err == [f"nanobanana: notice: no PPTX: {MISSING_PPTX}"]


def test_export_after_run_writes_each_kind_and_never_raises(tmp_path: Path) -> None:
    config_file, deck = dry_run(tmp_path)
    (deck / "slide-02.webp").unlink()
    config = load_config(config_file, env=env())

    lines = export_after_run(deck, frozenset({"pdf", "pptx"}), config)

    assert lines == [
        f"export (free): 2 slides as pictures -> {deck / 'deck.pptx'}; skipped slide 2",
        f"export (free): 2 slides as pictures -> {deck / 'deck.pdf'}; skipped slide 2",
        f"export: skipped slide 2 ({GONE})",
    ]
    notes = [
        s.notes_slide.notes_text_frame.text for s in Presentation(str(deck / "deck.pptx")).slides
    ]
    assert notes == ["Deck slide 1: topic number 1", "Deck slide 3: topic number 3"]
    assert export_after_run(tmp_path / "nowhere", frozenset({"pdf"}), None) == [
        f"export: nothing written: {tmp_path / 'nowhere'}: not found"
    ]


def test_export_kinds_parses_run_s_export_option() -> None:
    import argparse

    assert export_kinds("pptx,pdf") == {"pptx", "pdf"}
    assert export_kinds(" PDF , contact-sheet ") == {"pdf", "contact-sheet"}
    assert export_kinds("pptx-editable") == {"pptx-editable"}
    for bad in ("pptx,docx", "", "pdf,,pptx"):
        match = "pptx, pdf, contact-sheet or pptx-editable"
        with pytest.raises(argparse.ArgumentTypeError, match=match):
            export_kinds(bad)


def test_the_reasons_line_names_five_reasons_at_most(tmp_path: Path) -> None:
    config, deck = dry_run(tmp_path, 8)
    for number in range(2, 9):
        (deck / f"slide-{number:02d}.webp").unlink()

    code, out, _ = export(str(deck), "--pdf", "--config", str(config))

    assert code == 0
    assert (
        out[0] == f"export (free): 1 slide as a picture -> {deck / 'deck.pdf'}; skipped slides 2-8"
    )
    gone = [f"slide {n} (missing: slide-0{n}.webp is not in the folder)" for n in range(2, 7)]
    assert out[1] == f"export: skipped {'; '.join(gone)}; and 2 slides more"
