"""redact (errors.py): the key is scrubbed as a whole token, never from inside a word.

A secret too short to be a key is left alone (replacing it would mangle ordinary words and,
by where the stars land, tell the key); one of a key's length is replaced wherever it
stands, together with the run of key characters it is glued to; a ``?key=`` in a URL and
anything shaped like a Google key go whatever was configured.
"""

from __future__ import annotations

import pytest

from nanobanana_async.errors import redact

KEY = "plain-secret-9f3c27e1b5d84a06"
SHAPED = "AIzaSyAttackTests-0123456789abcdefghijk"


@pytest.mark.parametrize("short", ["k", "ke", "key", "block", "1234567"])
def test_a_secret_too_short_to_be_a_key_mangles_nothing(short: str) -> None:
    text = "prompt blocked: key rejected by the backend 1234567"
    assert redact(text, short) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"API key {KEY} is invalid", "API key *** is invalid"),
        (f"API key not valid ({KEY}).", "API key not valid (***)."),
        (f"'{KEY}', \"{KEY}\"", "'***', \"***\""),
        (f"key:{KEY}\n{KEY}", "key:***\n***"),
        (f"x-goog-api-key={KEY}; other={KEY}", "x-goog-api-key=***; other=***"),
        (KEY, "***"),
    ],
)
def test_a_key_of_real_length_is_redacted_wherever_it_stands(text: str, expected: str) -> None:
    assert redact(text, KEY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Glued to more key characters, the key is still there: the whole run goes, so
        # neither the key nor where it starts and ends can be read from what is left.
        (f"token x{KEY}y ends", "token *** ends"),
        (f"sk-{KEY}_v2 and {KEY}{KEY}", "*** and ***"),
        (f"prefix.{KEY}.suffix", "prefix.***.suffix"),  # "." is not a key character
    ],
)
def test_a_key_inside_a_longer_token_takes_the_whole_token(text: str, expected: str) -> None:
    assert redact(text, KEY) == expected


def test_the_shortest_key_is_a_key_and_one_less_is_not() -> None:
    assert redact("use abcd1234 here", "abcd1234") == "use *** here"
    assert redact("use abc1234 here", "abc1234") == "use abc1234 here"


@pytest.mark.parametrize("key", [KEY, "k", None])
def test_a_url_query_key_is_redacted(key: str | None) -> None:
    url = f"https://h/v1beta/models/m:generateContent?key={key or 'whatever'}&alt=sse"
    assert redact(f"GET {url} failed", key) == (
        "GET https://h/v1beta/models/m:generateContent?key=***&alt=sse failed"
    )
    assert redact(f"see {url.replace('?key', '?alt=json&key')}", key).endswith("&key=***&alt=sse")


def test_key_shaped_text_is_redacted_even_inside_a_word() -> None:
    assert redact(f"leaked:{SHAPED}.") == "leaked:***."
    assert redact(f"x{SHAPED}") == "x***"
    assert redact(f"{SHAPED} and {KEY}", KEY) == "*** and ***"


def test_no_secret_leaves_text_alone() -> None:
    text = "nothing to hide; prompt blocked (SAFETY)"
    assert redact(text) == text
    assert redact(text, None, "") == text


def test_a_key_echoed_in_another_case_is_redacted_too() -> None:
    assert redact(f"bad key {KEY.upper()}!", KEY) == "bad key ***!"
    assert redact(f"bad key {SHAPED.lower()}") == "bad key ***"


@pytest.mark.parametrize(
    "echo",
    [
        "".join(f"%{ord(c):02X}" for c in KEY),  # every character escaped
        "".join(f"%{ord(c):02x}" for c in KEY.upper()),  # escaped, lower-case hex, other case
        KEY.replace("-", "%2D"),  # only what a URL would escape
        KEY.replace("p", "%2570"),  # escaped twice
        KEY[:8],  # a prefix of 8 characters
        KEY[:20].upper(),  # a longer one, upper-cased
        KEY[-9:],  # a suffix
        KEY[5:15],  # a piece of the middle
        "".join(f"%{ord(c):02X}" for c in KEY[:10]),  # a prefix, escaped
        "".join(f"%{ord(c):02X}" for c in SHAPED),  # a key-shaped one, escaped, not configured
    ],
)
def test_an_echo_encoded_cut_short_or_recased_is_redacted(echo: str) -> None:
    key = None if echo.upper().startswith("%41%49") else KEY  # the shaped one needs no key
    assert redact(f"the key was {echo}; retry", key) == "the key was ***; retry"
    assert (
        redact(f"https://h/v1beta/batches/{echo}:cancel", key)
        == "https://h/v1beta/batches/***:cancel"
    )


def test_seven_characters_of_a_key_are_no_piece_of_it() -> None:
    # Under 8 characters, a piece is as likely a word as the key: left alone (see redact).
    text = f"the key was {KEY[:7]} or {KEY[-7:]}"
    assert redact(text, KEY) == text
    assert redact("prompt blocked (SAFETY) at 100%25 of quota", KEY).startswith("prompt blocked")
