"""A slide's text check fields: text, check_text, fix_text, resolved or refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from config_testing import S, check_refused, deck, load

from nanobanana_async.qa import MISSING_QA, QaUnavailable, require_qa


def _qa_installed() -> bool:
    try:
        require_qa()
    except QaUnavailable:
        return False
    return True


needs_qa = pytest.mark.skipif(
    not _qa_installed(), reason="the qa extra (rapidocr, onnxruntime) is not installed"
)

REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("text a string", {}, {"text": "Q3"}, f"{S}.text", 'must be an array of strings like ["Q3'),
    ("text empty", {}, {"text": []}, f"{S}.text", "must list at least one string"),
    ("text blank", {}, {"text": ["Q3", " "]}, f"{S}.text[1]", "must hold some visible text"),
    ("text a number", {}, {"text": [3]}, f"{S}.text[0]", "must be a string, got integer"),
    ("text too long", {}, {"text": ["x" * 501]}, f"{S}.text[0]", "the limit is 500, split it"),
    ("text too many", {}, {"text": ["x"] * 21}, f"{S}.text", "has 21 strings; the limit is 20"),
    ("check_text a string", {"check_text": "yes"}, {}, "check_text", "must be true or false"),
    ("fix_text 4", {"check_text": True, "fix_text": 4}, {}, "fix_text", "must be an integer 0-3"),
    ("fix_text unchecked", {}, {"fix_text": 1}, f"{S}.fix_text", "this slide is not checked"),
    ("deck fix_text unchecked", {"fix_text": 2}, {}, "fix_text", "no slide is checked"),
    (
        "fix_text, check turned off",
        {"check_text": True},
        {"check_text": False, "fix_text": 1},
        f"{S}.fix_text",
        'set "check_text": true or give its "text", or drop fix_text',
    ),
]


@pytest.mark.parametrize(
    ("top", "slide", "where", "problem"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_with_field_and_reason(
    base: Path, top: dict[str, Any], slide: dict[str, Any], where: str, problem: str
) -> None:
    check_refused(base, top, slide, where, problem)


@needs_qa
def test_what_each_slide_checks(base: Path) -> None:
    raw = deck(
        check_text=True,
        fix_text=2,
        slides=[
            {"number": 1, "prompt": 'Title "Q3 Results", subtitle “Up 24%”'},
            {"number": 2, "prompt": 'Say "ignored"', "text": ["Our Team"], "fix_text": 1},
            {"number": 3, "prompt": 'Say "off"', "check_text": False},
            {"number": 4, "prompt": "No quotes, the company's 'Q4'"},
        ],
    )
    slides = load(raw, base).slides
    assert [(s.check_text, s.fix_text, s.expected_text) for s in slides] == [
        (True, 2, ("Q3 Results", "Up 24%")),
        (True, 1, ("Our Team",)),
        (False, 0, ()),
        (True, 2, ()),
    ]


@needs_qa
def test_a_deck_that_does_not_ask_checks_nothing_and_text_alone_asks(base: Path) -> None:
    plain = load(deck({"prompt": 'Title "Q3 Results"'}), base).slides[0]
    assert (plain.text, plain.check_text, plain.fix_text, plain.expected_text) == ((), False, 0, ())
    stated = load(deck({"text": ["Q3 Results"], "fix_text": 2}), base).slides[0]
    assert (stated.check_text, stated.fix_text, stated.expected_text) == (True, 2, ("Q3 Results",))


@pytest.mark.parametrize(
    ("top", "slide", "where"),
    [
        ({"check_text": True}, {}, "check_text"),
        ({}, {"check_text": True}, f"{S}.check_text"),
        ({}, {"text": ["Q3"]}, f"{S}.text"),
    ],
)
def test_asking_for_the_check_without_the_extra_is_one_line_naming_it(
    base: Path,
    monkeypatch: pytest.MonkeyPatch,
    top: dict[str, Any],
    slide: dict[str, Any],
    where: str,
) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)
    check_refused(base, top, slide, where, MISSING_QA)
    load(deck(), base)  # a deck that does not ask loads as before


def test_the_command_line_refuses_it_before_anything_is_sent(tmp_path: Path) -> None:
    config = tmp_path / "deck.json"
    config.write_text(
        '{"output_dir": "out", "check_text": true, "slides": [{"number": 1, "prompt": "\\"Hi\\""}]}'
    )
    script = (
        "import sys; sys.modules['rapidocr'] = None\n"
        "from nanobanana_async.cli import main\n"
        "sys.exit(main(['plan', '--config', sys.argv[1]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"nanobanana: error: check_text: {MISSING_QA}\n"
    assert not (tmp_path / "out").exists()


@needs_qa
def test_the_prompt_sent_says_the_stated_text_it_does_not_quote(base: Path) -> None:
    raw = deck(
        slides=[
            {"number": 1, "prompt": "A title slide", "text": ["Q3 Results", 'The "Best"']},
            {"number": 2, "prompt": 'Title "Q3 Results", body "Up 24%"', "text": ["Up 24%"]},
            {"number": 3, "prompt": 'Title "Q3 Results", no text stated'},
            {"number": 4, "prompt": 'Title "Q3 Results"', "text": ["Q3 Results", "Up 24%"]},
        ],
    )
    sent = [s.full_prompt for s in load(raw, base).slides]
    assert sent == [
        'A title slide\n\nThe slide\'s text must read exactly: "Q3 Results"; “The "Best"”.',
        'Title "Q3 Results", body "Up 24%"',  # quoted already: the request is unchanged
        'Title "Q3 Results", no text stated',
        'Title "Q3 Results"\n\nThe slide\'s text must read exactly: "Up 24%".',
    ]
