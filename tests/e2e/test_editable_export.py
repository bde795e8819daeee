"""The editable PPTX through the CLI, as subprocesses, against the emulator over real HTTP:
text boxes over text-free plates, kept so a second export sends nothing, priced first,
held to the budget, a stubborn plate retried once then left as the picture, bad input
refused with one line; and, where LibreOffice is installed, the text rendered in place."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import engine_testing
import pytest
from engine_testing import files_args, prompts_config, run_cli

from nanobanana_async.emulator import Emulator, EmulatorSettings, serve_in_thread

KEY = "editable-test-key-abcdef"
# Two slides with text (read back on the original and on the plate, about 1.3 s a read)
# and one whose quotation is drawn alone on the page.
PROMPTS = [
    'Title slide. Heading "Quarterly Results".',
    'Team slide, heading "Our Engineering Team" and the line "Five people, two sites".',
]
EXPECTED = {1: ["Quarterly Results"], 2: ["Our Engineering Team", "Five people, two sites"]}
FOOTER = "emulated"
# Each export is a process that builds the OCR and reads every slide and plate (about
# 1.3 s a read on an idle core); under a loaded suite a test of two exports takes minutes.
pytestmark = pytest.mark.timeout(300)
EDITABLE = "pptx-editable"  # the emulator's footer, read as it is (no expected string says it)


def needs_extras() -> None:
    pytest.importorskip("pptx", reason="the pptx extra (python-pptx) is not installed")
    pytest.importorskip("rapidocr", reason="the qa extra (rapidocr, onnxruntime) is not installed")
    pytest.importorskip(
        "onnxruntime", reason="the qa extra (rapidocr, onnxruntime) is not installed"
    )


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    """An emulator of the test's own, for a script of request ordinals."""
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator(EmulatorSettings(latency=False, vary_repeats=False))
    with serve_in_thread(emulator) as base_url:
        yield emulator, base_url


@dataclass(frozen=True)
class Exported:
    """A deck made by ``run --export pptx-editable``, once for the module (each export
    reads every slide and plate with the OCR, about 1.3 s a read)."""

    emulator: Emulator
    base_url: str
    tmp_path: Path
    deck: Path
    line: str


@pytest.fixture(scope="module")
def exported(shared: tuple[Emulator, str], tmp_path_factory: pytest.TempPathFactory) -> Exported:
    needs_extras()
    emulator, base_url = shared
    tmp_path = tmp_path_factory.mktemp("exported")
    config = write_config(tmp_path)
    done = nanobanana(
        base_url,
        tmp_path,
        "run",
        str(config),
        *files_args(tmp_path),
        "--quiet",
        "--export",
        EDITABLE,
    )
    assert done.returncode == 0, done.stderr
    line = done.stdout.splitlines()[-1]
    return Exported(emulator, base_url, tmp_path, tmp_path / "deck", line)


def nanobanana(base_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = engine_testing.environment(base_url, KEY, XDG_STATE_HOME=str(tmp_path / "state"))
    return run_cli(*args, env=env, text=True, timeout=180)  # type: ignore[no-any-return]


def write_config(tmp_path: Path, **extra: object) -> Path:
    return prompts_config(tmp_path, PROMPTS, **extra)


def made_deck(base_url: str, tmp_path: Path, **extra: object) -> Path:
    config = write_config(tmp_path, **extra)
    done = nanobanana(base_url, tmp_path, "run", str(config), *files_args(tmp_path), "--quiet")
    assert done.returncode == 0, done.stderr
    return config


def one_slide_deck(base_url: str, tmp_path: Path) -> Path:
    """A deck of slide 1 alone, made by request 1: its plate is request 2, the retry 3
    (two plates could reach the emulator in either order)."""
    made_deck(base_url, tmp_path, slides=[{"number": 1, "prompt": PROMPTS[0]}])
    return tmp_path / "deck"


def read_back(path: Path) -> list[dict[str, Any]]:
    """Each slide: its pictures, and its text frames (text, box in fractions of the
    picture, hidden)."""
    from pptx import Presentation

    slides = []
    for slide in Presentation(str(path)).slides:
        pictures = [s for s in slide.shapes if s.shape_type == 13]
        assert len(pictures) == 1
        picture = pictures[0]
        frames = []
        for shape in slide.shapes:
            if not shape.has_text_frame or shape == slide.shapes.title:
                continue
            frames.append(
                {
                    "text": shape.text_frame.text,
                    "box": (
                        (shape.left - picture.left) / picture.width,
                        (shape.top - picture.top) / picture.height,
                        (shape.left + shape.width - picture.left) / picture.width,
                        (shape.top + shape.height - picture.top) / picture.height,
                    ),
                    "hidden": shape.element.nvSpPr.cNvPr.get("hidden") == "1",
                }
            )
        slides.append({"picture": picture, "frames": frames})
    return slides


def boxes_read(image: bytes) -> dict[str, tuple[float, float, float, float]]:
    from nanobanana_async.qa import read_text

    return {line.text: line.box for line in read_text(image).lines}


_READ: dict[tuple[Path, int], dict[str, tuple[float, float, float, float]]] = {}


def original_boxes(deck: Path, number: int) -> dict[str, tuple[float, float, float, float]]:
    """What the OCR reads on a slide's image, and where: read once a module."""
    key = (deck, number)
    if key not in _READ:
        _READ[key] = boxes_read((deck / f"slide-{number:02d}.webp").read_bytes())
    return _READ[key]


def test_run_export_writes_text_boxes_over_plates_where_the_slide_had_its_text(
    exported: Exported,
) -> None:
    assert exported.line.startswith("export ($"), exported.line
    assert "2 requests): 2 slides with" in exported.line
    assert exported.line.endswith(f"over text-free pictures -> {exported.deck}/deck-editable.pptx")
    slides = read_back(exported.deck / "deck-editable.pptx")
    assert len(slides) == 2
    for number, slide in enumerate(slides, 1):
        original = original_boxes(exported.deck, number)
        texts = [frame["text"] for frame in slide["frames"]]
        assert [text for text in texts if FOOTER not in text] == EXPECTED[number]
        assert not any(frame["hidden"] for frame in slide["frames"])  # the plate read clean
        for frame in slide["frames"]:
            if frame["text"] in original:
                where = original[frame["text"]]
                assert all(abs(a - b) < 0.03 for a, b in zip(frame["box"], where, strict=True))
    plate = exported.deck / ".plates" / "plate-01.png"
    assert slides[0]["picture"].image.blob == plate.read_bytes()


def test_a_second_export_sends_nothing(exported: Exported) -> None:
    requests = exported.emulator.stats()["requests"]
    again = nanobanana(
        exported.base_url, exported.tmp_path, "export", str(exported.deck), "--editable"
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("export (free): 2 slides with"), again.stdout
    assert exported.emulator.stats()["requests"] == requests


def test_the_plates_are_priced_first_and_held_to_the_budget(
    shared: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_extras()
    emulator, base_url = shared
    deck = one_slide_deck(base_url, tmp_path)
    requests = emulator.stats()["requests"]
    priced = nanobanana(base_url, tmp_path, "export", str(deck), "--editable", "--dry-run")
    assert priced.returncode == 0, priced.stderr
    assert "1 plate to make (slide 1), about $0.14; a plate that still shows" in priced.stdout
    refused = nanobanana(
        base_url, tmp_path, "export", str(deck), "--editable", "--max-cost", "0.01"
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1
    assert "over the budget of $0.01" in refused.stderr
    assert emulator.stats()["requests"] == requests
    assert not (deck / "deck-editable.pptx").exists()


def test_a_stubborn_plate_is_retried_once_then_the_slide_keeps_its_picture_named(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_extras()
    emulator, base_url = served
    deck = one_slide_deck(base_url, tmp_path)
    emulator.script({2: "keeps-text", 3: "keeps-text"})
    done = nanobanana(base_url, tmp_path, "export", str(deck), "--editable")
    assert done.returncode == 0, done.stderr
    assert "2 requests" in done.stdout
    assert "slide 1 kept its picture with the text boxes hidden" in done.stdout
    (first,) = read_back(deck / "deck-editable.pptx")
    assert [f["text"] for f in first["frames"] if FOOTER not in f["text"]] == EXPECTED[1]
    assert all(frame["hidden"] for frame in first["frames"])
    assert "Quarterly Results" in boxes_read(first["picture"].image.blob)  # the original


def test_a_plate_that_keeps_its_text_once_is_fixed_by_the_retry_which_is_kept(
    served: tuple[Emulator, str], tmp_path: Path
) -> None:
    needs_extras()
    emulator, base_url = served
    deck = one_slide_deck(base_url, tmp_path)
    emulator.script({2: "keeps-text"})
    done = nanobanana(base_url, tmp_path, "export", str(deck), "--editable")
    assert done.returncode == 0, done.stderr
    assert "2 requests" in done.stdout
    assert "hidden" not in done.stdout
    (first,) = read_back(deck / "deck-editable.pptx")
    assert not any(frame["hidden"] for frame in first["frames"])
    assert first["picture"].image.blob == (deck / ".plates" / "plate-01.png").read_bytes()
    requests = emulator.stats()["requests"]
    again = nanobanana(base_url, tmp_path, "export", str(deck), "--editable")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("export (free):"), again.stdout
    assert emulator.stats()["requests"] == requests


def test_without_the_extras_it_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "deck").mkdir()
    hide = "import sys; sys.modules['rapidocr'] = None; sys.modules['onnxruntime'] = None; "
    args = ["export", str(tmp_path / "deck"), "--editable"]
    main = f"from nanobanana_async.cli.main import main; sys.exit(main({args!r}))"
    done = subprocess.run(
        [sys.executable, "-c", hide + main], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == (
        "nanobanana: error: --editable: the editable PPTX needs python-pptx and the OCR: "
        "pip install 'nanobanana-async[pptx,qa]'\n"
    )


def test_a_folder_with_no_images_or_a_missing_slide_writes_nothing(
    exported: Exported, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = nanobanana(exported.base_url, tmp_path, "export", str(empty), "--editable")
    assert done.returncode == 2
    assert "nothing to export" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert list(empty.iterdir()) == []

    deck = tmp_path / "deck"
    shutil.copytree(
        exported.deck, deck, ignore=shutil.ignore_patterns(".plates", "deck-editable.pptx")
    )
    (deck / "slide-02.webp").unlink()
    done = nanobanana(exported.base_url, tmp_path, "export", str(deck), "--editable")
    assert done.returncode == 2
    assert "1 slide of" in done.stderr
    assert "nothing written" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (deck / "deck-editable.pptx").exists()
    assert not (deck / ".plates").exists()


def test_libreoffice_shows_the_text_where_the_slide_had_it(
    exported: Exported, tmp_path: Path
) -> None:
    soffice = shutil.which("soffice")
    pdftotext = shutil.which("pdftotext")
    if soffice is None or pdftotext is None:
        pytest.skip("LibreOffice (soffice) or poppler's pdftotext is not installed")
    deck = exported.deck
    words = rendered_words(deck / "deck-editable.pptx", tmp_path, soffice, pdftotext)
    for number, strings in EXPECTED.items():
        original = original_boxes(deck, number)
        for text in strings:
            first = text.split()[0]
            x, y = original[text][0], (original[text][1] + original[text][3]) / 2
            found = [w for w in words[number - 1] if w["word"] == first]
            assert found, (text, words[number - 1])
            assert any(abs(w["x"] - x) < 0.04 and abs(w["y"] - y) < 0.05 for w in found)


def rendered_words(
    pptx: Path, tmp_path: Path, soffice: str, pdftotext: str
) -> list[list[dict[str, Any]]]:
    """Each page's words as LibreOffice renders them: the word, its left edge and its
    vertical middle, in fractions of the page."""
    import re

    out = tmp_path / "rendered"
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(pptx),
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    html = out / "bbox.html"
    subprocess.run(
        [pdftotext, "-bbox", str(out / f"{pptx.stem}.pdf"), str(html)], check=True, timeout=60
    )
    pages: list[list[dict[str, Any]]] = []
    text = html.read_text()
    for page in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', text, re.S):
        width, height = float(page[1]), float(page[2])
        words = []
        for word in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>',
            page[3],
        ):
            words.append(
                {
                    "word": word[4],
                    "x": float(word[1]) / width,
                    "y": (float(word[2]) + float(word[3])) / 2 / height,
                }
            )
        pages.append(words)
    return pages


def test_plan_prices_the_plates_before_the_deck_is_made(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = engine_testing.environment("http://127.0.0.1:9", KEY)
    planned = subprocess.run(
        [sys.executable, "-m", "nanobanana_async", "plan", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "editable PPTX" not in planned.stdout
    priced = subprocess.run(
        [
            sys.executable,
            "-m",
            "nanobanana_async",
            "plan",
            str(config),
            "--export",
            "pptx-editable",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert priced.returncode == 0, priced.stderr
    assert "; editable PPTX: up to 2 plates, about $0." in priced.stdout
    assert not (tmp_path / "deck").exists()
