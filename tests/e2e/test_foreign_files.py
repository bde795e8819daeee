"""A run or an export in a folder of the user's own keeps what it finds there (issue 23, 8).

``output_dir`` naming ``~/Pictures`` once overwrote a ``contact-sheet.png`` and a
``nano-banana-results.json`` of the user's with no copy. Now a file of a name this tool
writes that it did not write goes to ``.versions/`` first, said on stderr and in the
results' notices; the tool's own files in its deck's folder are replaced as before, so a
second run keeps nothing twice.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_testing import deck_config, environment, files_args, read_json, run_cli
from engine_testing import write_json as write
from PIL import Image

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread


@pytest.fixture
def url() -> Iterator[str]:
    with serve_in_thread(Emulator(EmulatorSettings(latency=False))) as served:
        yield served


def _their_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (9, 99, 199)).save(buffer, "PNG")
    return buffer.getvalue()


def _run(config: Path, tmp_path: Path, url: str) -> subprocess.CompletedProcess[bytes]:
    done: subprocess.CompletedProcess[bytes] = run_cli(
        "run", "--config", str(config), *files_args(tmp_path), env=environment(url)
    )
    assert done.returncode == 0, done.stderr
    return done


def test_a_run_in_a_folder_of_the_users_keeps_their_files_of_its_names(
    tmp_path: Path, url: str
) -> None:
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    sheet, results = _their_png(), b'{"db_password": "theirs"}\n'
    (pictures / "contact-sheet.png").write_bytes(sheet)
    (pictures / "nano-banana-results.json").write_bytes(results)
    config = write(tmp_path / "slides.json", deck_config(pictures, 2))

    done = _run(config, tmp_path, url)

    versions = pictures / ".versions"
    assert (versions / "contact-sheet.2.png").read_bytes() == sheet
    assert (versions / "nano-banana-results.2.json").read_bytes() == results
    said = (
        f"kept nano-banana-results.json as .versions/nano-banana-results.2.json and "
        f"contact-sheet.png as .versions/contact-sheet.2.png in {pictures}"
    )
    assert said in done.stderr.decode()
    assert any(said in notice for notice in read_json(tmp_path / "results.json")["notices"])
    assert read_json(pictures / "nano-banana-results.json")["completed"] == 2
    assert (pictures / "contact-sheet.png").read_bytes() != sheet

    # The deck's folder now: a rerun replaces the tool's own files and keeps nothing more.
    again = _run(config, tmp_path, url)
    assert b"kept " not in again.stderr
    assert sorted(p.name for p in versions.iterdir()) == [
        "contact-sheet.2.png",
        "nano-banana-results.2.json",
    ]


def test_an_export_keeps_a_contact_sheet_it_did_not_draw(tmp_path: Path, url: str) -> None:
    deck = tmp_path / "deck"
    _run(write(tmp_path / "slides.json", deck_config(deck, 2)), tmp_path, url)
    theirs = _their_png()
    (deck / "contact-sheet.png").write_bytes(theirs)

    done = run_cli("export", str(deck), "--contact-sheet")

    assert done.returncode == 0, done.stderr
    assert (deck / ".versions" / "contact-sheet.2.png").read_bytes() == theirs
    with Image.open(deck / "contact-sheet.png") as drawn:
        assert drawn.info.get("Software") == "nanobanana-async contact sheet"


def test_an_export_keeps_a_pdf_it_did_not_write_and_replaces_its_own(
    tmp_path: Path, url: str
) -> None:
    deck = tmp_path / "deck"
    _run(write(tmp_path / "slides.json", deck_config(deck, 2)), tmp_path, url)
    theirs = b"%PDF-1.7\n%their report\n" + b"0" * 100_000 + b"\n%%EOF\n"
    (deck / "deck.pdf").write_bytes(theirs)

    done = run_cli("export", str(deck), "--pdf")

    assert done.returncode == 0, done.stderr
    assert (deck / ".versions" / "deck.2.pdf").read_bytes() == theirs
    assert "the earlier one kept as" in done.stdout.decode()
    # Its own PDF, whatever its size, is told by its first bytes and replaced, not kept.
    again = run_cli("export", str(deck), "--pdf")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (deck / ".versions").iterdir()) == ["deck.2.pdf"]
