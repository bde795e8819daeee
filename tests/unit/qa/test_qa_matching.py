"""match_text and correction_instruction, on readings written out (no OCR needed)."""

from __future__ import annotations

import pytest

from nanobanana_async.qa import (
    THRESHOLD,
    Missing,
    ReadText,
    TextCheck,
    TextLine,
    correction_instruction,
    match_text,
    normalise,
)


def reading(*lines: str | tuple[str, tuple[float, float, float, float]]) -> ReadText:
    """Lines stacked down the page (or at the boxes given)."""
    made = []
    for index, line in enumerate(lines):
        if isinstance(line, tuple):
            text, box = line
        else:
            text, box = line, (0.1, 0.1 * index, 0.9, 0.1 * index + 0.08)
        made.append(TextLine(text, box, 0.99))
    return ReadText(tuple(made), 1376, 768)


@pytest.mark.parametrize(
    ("expected", "read"),
    [
        ("Q3 Results", ["Q3 Results"]),
        ("Q3 Results", ["q3 results"]),  # case
        ("Q3 Results", ["Q3  Results."]),  # spacing, punctuation
        ("Q3 Results", ["Q3Results"]),  # a space the OCR dropped
        ("Revenue up 24%", ["Revenue up 24 %"]),
        ("Café Crème", ["Cafe Creme"]),  # accents
        ("Café", ["Cafe\u0301"]),  # a decomposed accent
        ("ＱＵＡＲＴＥＲ", ["QUARTER"]),  # full-width forms (NFKC)
        ("Chicago 2010", ["Chicago 2OlO"]),  # shapes OCR cannot tell apart in sans
        ("Revenue grew in every region", ["Revenue grew in", "every region"]),  # split
        ("Our team", ["Welcome to", "Our team", "2026"]),  # among other lines
        ("Q3 Results", ["Agenda: Q3 Results and outlook"]),  # inside a longer line
        ("第3四半期の結果", ["第3四半期の結果"]),
        ("Ｑ３", ["Q3"]),
        (
            "A long closing line that the OCR may slip on once only",
            ["A long closing line that the 0CR may slip 0n once only"],
        ),
    ],
)
def test_found(expected: str, read: list[str]) -> None:
    check = match_text([expected], reading(*read))
    assert check == TextCheck("ok", (expected,))
    assert check.to_json() == {"state": "ok"}


def test_a_heading_split_in_a_column_is_joined_with_the_line_below_it() -> None:
    left_top = ("Quarterly revenue", (0.05, 0.10, 0.45, 0.18))
    right_top = ("Hiring plan", (0.55, 0.10, 0.95, 0.18))
    left_below = ("grew by a third", (0.05, 0.20, 0.45, 0.28))
    read = reading(left_top, right_top, left_below)  # reading order puts right_top between
    assert match_text(["Quarterly revenue grew by a third"], read).state == "ok"


@pytest.mark.parametrize(
    ("expected", "read", "closest", "similarity"),
    [
        ("Q3 Results", ["Q3 Resluts"], "Q3 Resluts", 0.78),  # two letters swapped
        ("Q3 Results", ["Q3 Reults"], "Q3 Reults", 0.89),  # one dropped
        ("Revenue up 24%", ["Revenue up 25%"], "Revenue up 25", 0.91),
        ("Quarterly", ["Agenda: Quartely plan"], "Quartely", 0.89),
        ("Launch the mobile app", ["Launch the moblie app"], "Launch the moblie app", 0.89),
        ("Hello", ["Nothing like it"], "ke it", 0.2),
    ],
)
def test_missing_names_the_closest_text_read(
    expected: str, read: list[str], closest: str, similarity: float
) -> None:
    check = match_text([expected], reading(*read))
    assert check.state == "missing"
    assert check.missing == (Missing(expected, closest, similarity),)
    assert check.to_json() == {
        "state": "missing",
        "missing": [{"expected": expected, "closest": closest, "similarity": similarity}],
    }
    assert TextCheck.from_json(check.to_json(), [expected]) == check


def test_one_slip_per_34_characters_is_allowed_and_no_more() -> None:
    assert THRESHOLD == 0.97
    short = " ".join(["abcd"] * 8) + " a"
    assert len(normalise(short)) == 33
    assert match_text([short], reading(short.replace("abcd", "abce", 1))).state == "missing"
    long = short + "b"
    assert len(normalise(long)) == 34
    assert match_text([long], reading(long.replace("abcd", "abce", 1))).state == "ok"


def test_only_the_strings_missing_are_named() -> None:
    check = match_text(["Q3 Results", "Revenue up 24%"], reading("Q3 Results", "Revenue up 42%"))
    assert [m.expected for m in check.missing] == ["Revenue up 24%"]


def test_nothing_read_is_unreadable_and_nothing_expected_is_ok() -> None:
    empty = ReadText((), 1376, 768)
    check = match_text(["Q3 Results"], empty)
    assert check.state == "unreadable"
    assert check.to_json() == {"state": "unreadable"}
    assert match_text([], empty).state == "ok"
    assert match_text(["..."], reading("x")).state == "ok"  # nothing left to compare


def test_the_correction_names_what_to_change_and_nothing_else() -> None:
    check = match_text(["Q3 Results", "Revenue up 24%"], reading("Q3 Resluts", "Revenue up 24%"))
    assert correction_instruction(check) == (
        "the text reads 'Q3 Resluts'; it must read 'Q3 Results'; change nothing else"
    )
    absent = match_text(["Outlook"], reading("Q3 Results"))
    assert correction_instruction(absent) == (
        "the text 'Outlook' is missing; add it: it must read 'Outlook'; change nothing else"
    )
    blank = match_text(["A", "B"], ReadText((), 10, 10))
    assert correction_instruction(blank) == (
        "the slide's text cannot be read; make it legible: it must read 'A'; "
        "it must read 'B'; change nothing else"
    )
    assert correction_instruction(match_text(["A"], reading("A"))) == ""
