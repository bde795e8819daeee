"""expected_text: which quotations of a prompt a slide must show."""

from __future__ import annotations

import pytest

from nanobanana_async.qa import MAX_QUOTE_CHARS, expected_text


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ('Title slide: "Q3 Results"', ("Q3 Results",)),
        ("Heading “Revenue up 24%” in bold", ("Revenue up 24%",)),
        ("Überschrift „Umsatz steigt“ oben", ("Umsatz steigt",)),
        ("Nagłówek „Wyniki kwartału” u góry", ("Wyniki kwartału",)),
        ("Titre «Résultats du T3»", ("Résultats du T3",)),
        ("見出し「第3四半期の結果」と『売上』", ("第3四半期の結果", "売上")),
        ('Two: "A plan" then "B plan"', ("A plan", "B plan")),
        ('Spaces "  Q3   Results  " squeezed', ("Q3 Results",)),
        ('Said twice: "Go" and "Go"', ("Go",)),
        ("Single quotes are apostrophes: the company's 'Q3' plan", ()),
        ("Curly single ‘Q3’ too", ()),
        ('Empty "" and blank "   " quotes', ()),
        ('An unclosed "quote\nspans no line "Next"', ("Next",)),
        ("No quotes at all", ()),
    ],
)
def test_expected_text_takes_double_quotes_guillemets_and_corner_brackets(
    prompt: str, expected: tuple[str, ...]
) -> None:
    assert expected_text(prompt) == expected


def test_a_quotation_longer_than_the_bound_is_a_passage_not_slide_text() -> None:
    at_bound = "x" * MAX_QUOTE_CHARS
    assert expected_text(f'"{at_bound}" and "{at_bound}y"') == (at_bound,)
    assert MAX_QUOTE_CHARS == 100
