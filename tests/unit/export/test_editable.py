"""The editable PPTX's text boxes: which text each says, where, in what colour and
alignment, and the file python-pptx reads back (pictures, frames, hidden boxes)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from nanobanana_async.export.deck import Deck, Slide
from nanobanana_async.export.editable import (
    EditableSlide,
    TextBox,
    ink_colour,
    text_boxes,
    write_editable_pptx,
)
from nanobanana_async.qa.reading import ReadText, TextLine

INK = (200, 30, 40)
PAGE = (250, 250, 250)


def slide_image(size: tuple[int, int] = (400, 200)) -> bytes:
    image = Image.new("RGB", size, PAGE)
    ImageDraw.Draw(image).rectangle((40, 20, 200, 40), fill=INK)  # where "the heading" is
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def line(text: str, box: tuple[float, float, float, float]) -> TextLine:
    return TextLine(text, box, 0.99)


def test_a_line_says_the_expected_string_it_matches_else_what_was_read() -> None:
    read = ReadText(
        (
            line("Quartelry Resu1ts", (0.1, 0.1, 0.5, 0.2)),
            line("gemini footer", (0.05, 0.9, 0.3, 0.95)),
        ),
        400,
        200,
    )
    boxes = text_boxes(read, ["Quarterly Results"], slide_image())
    assert [(b.text, b.intended) for b in boxes] == [
        ("Quarterly Results", True),
        ("gemini footer", False),
    ]
    assert boxes[0].box == (0.1, 0.1, 0.5, 0.2)


def test_a_string_wrapped_over_two_lines_is_one_box_over_both() -> None:
    read = ReadText(
        (line("Our Engineering", (0.1, 0.1, 0.5, 0.2)), line("Team", (0.1, 0.22, 0.3, 0.3))),
        400,
        200,
    )
    (box,) = text_boxes(read, ["Our Engineering Team"], slide_image())
    assert box.text == "Our Engineering Team"
    assert box.box == (0.1, 0.1, 0.5, 0.3)


def test_the_colour_is_the_ink_and_a_middle_box_is_centred() -> None:
    image = Image.open(io.BytesIO(slide_image())).convert("RGB")
    assert ink_colour(image, (0.05, 0.05, 0.6, 0.25)) == INK
    read = ReadText(
        (line("left", (0.07, 0.1, 0.5, 0.2)), line("middle", (0.3, 0.5, 0.7, 0.6))), 400, 200
    )
    assert [b.align for b in text_boxes(read, [], slide_image())] == ["left", "center"]


def test_no_text_read_is_no_box() -> None:
    assert text_boxes(ReadText((), 400, 200), ["Anything"], slide_image()) == ()


def test_the_file_has_one_picture_and_its_frames_hidden_where_asked(tmp_path: Path) -> None:
    pptx = pytest.importorskip("pptx", reason="the pptx extra (python-pptx) is not installed")
    for number in (1, 2, 3):
        (tmp_path / f"slide-0{number}.png").write_bytes(slide_image())
    deck = Deck(
        tmp_path,
        tuple(Slide(n, tmp_path / f"slide-0{n}.png", prompt=f"Prompt {n}") for n in (1, 2, 3)),
    )
    box = TextBox("Quarterly Results", (0.1, 0.1, 0.5, 0.2), INK, "left", True)
    slides = {
        1: EditableSlide(tmp_path / "slide-01.png", (box,)),
        2: EditableSlide(tmp_path / "slide-02.png", (box,), hidden=True),
    }
    report = write_editable_pptx(deck, slides)
    assert report.path == tmp_path / "deck-editable.pptx"
    shown = pptx.Presentation(str(report.path)).slides
    frames = []
    for slide in shown:
        assert sum(shape.shape_type == 13 for shape in slide.shapes) == 1
        texts = [s for s in slide.shapes if s.has_text_frame and s != slide.shapes.title]
        frames.append([(s.text_frame.text, s.element.nvSpPr.cNvPr.get("hidden")) for s in texts])
    assert frames == [[("Quarterly Results", None)], [("Quarterly Results", "1")], []]
    assert [s.notes_slide.notes_text_frame.text for s in shown] == [
        "Prompt 1",
        "Prompt 2",
        "Prompt 3",
    ]
    picture = next(s for s in shown[0].shapes if s.shape_type == 13)
    (text,) = [s for s in shown[0].shapes if s.has_text_frame and s != shown[0].shapes.title]
    assert abs((text.left - picture.left) / picture.width - 0.1) < 0.01
    assert abs((text.top - picture.top) / picture.height - 0.1) < 0.01
    run = text.text_frame.paragraphs[0].runs[0]
    assert tuple(run.font.color.rgb) == INK
