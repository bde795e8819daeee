"""Each quota shape, driven through ``QuotaBook`` on made-up times: who is admitted, and the
exact delay a refusal announces."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from nanobanana_async.emulator import RateQuota
from nanobanana_async.emulator.quotas import QuotaBook
from nanobanana_async.emulator.windows import until

K, M = "key", "model"
OK = "ok"


def _play(book: QuotaBook, times: list[float]) -> list[str | float]:
    """Each arrival in turn: ``"ok"`` (admitted, due at once) or the delay announced."""
    outcomes: list[str | float] = []
    for t in times:
        breach = book.check(K, M, t)
        if breach is None:
            book.admit(K, M, t, t)
            outcomes.append(OK)
        else:
            outcomes.append(round(breach.delay, 9))
    return outcomes


@pytest.mark.parametrize(
    ("quota", "arrivals"),
    [
        pytest.param(
            RateQuota("sliding", 3, 10.0),
            [(0, OK), (1, OK), (2, OK), (3, 7.0), (9.5, 0.5), (10, OK), (10.5, 0.5), (11, OK)],
            id="sliding 3/10s",
        ),
        pytest.param(
            RateQuota("sliding", 4, 5.0),
            [(0, OK), (0, OK), (0, OK), (0, OK), (0, 5.0), (4.75, 0.25), (5, OK), (5, OK)],
            id="sliding 4/5s",
        ),
        pytest.param(
            RateQuota("fixed", 2, 10.0),
            [(0, OK), (1, OK), (2, 8.0), (9.7, 0.3), (10, OK), (10, OK), (10.1, 9.9)],
            id="fixed 2/10s",
        ),
        pytest.param(
            RateQuota("fixed", 1, 60.0, phase=15.0),
            [(0, OK), (1, 14.0), (15, OK), (16, 59.0), (75, OK), (200, OK), (201, 54.0)],
            id="fixed 1/60s+15s",
        ),
        pytest.param(
            # Full at first use (3 tokens), then one token every 10 / 2 = 5 s.
            RateQuota("bucket", 2, 10.0, burst=3),
            [(0, OK), (0, OK), (0, OK), (0, 5.0), (4, 1.0), (5, OK), (5, 5.0), (9, 1.0)],
            id="bucket 2/10s,burst=3",
        ),
        pytest.param(
            # Refilled to its capacity, never beyond.
            RateQuota("bucket", 2, 10.0, burst=3),
            [(0, OK), (100, OK), (100, OK), (100, OK), (100, 5.0)],
            id="bucket refill is capped",
        ),
        pytest.param(
            RateQuota("bucket", 6, 60.0),
            [(0, OK)] * 6 + [(0, 10.0), (10, OK), (15, 5.0), (20, OK)],
            id="bucket default burst is the limit",
        ),
    ],
)
def test_shape_table(quota: RateQuota, arrivals: list[tuple[float, str | float]]) -> None:
    times = [float(t) for t, _ in arrivals]
    assert _play(QuotaBook([quota]), times) == [outcome for _, outcome in arrivals]


def test_windows_and_delays_are_time_scaled() -> None:
    quotas = [RateQuota("sliding", 1, 60.0), RateQuota("fixed", 1, 1.0, phase=0.5)]
    assert _play(QuotaBook(quotas[:1], time_scale=0.01), [0.0, 0.1, 0.6]) == [OK, 0.5, OK]
    book = QuotaBook(quotas[1:], time_scale=0.01, origin=100.0)
    assert _play(book, [100.0, 100.001, 100.005]) == [OK, 0.004, OK]


def test_fixed_windows_count_from_the_origin() -> None:
    book = QuotaBook([RateQuota("fixed", 1, 10.0)], origin=1003.0)
    # Boundaries at ..., 993, 1003, 1013: a client arriving at 1000 is 3 s from one.
    assert _play(book, [1000.0, 1001.0, 1003.0, 1004.0]) == [OK, 2.0, OK, 9.0]


def test_a_fixed_window_admits_two_limits_across_a_boundary() -> None:
    # What a sliding window forbids, and a client tuned to one may not expect.
    book = QuotaBook([RateQuota("fixed", 2, 10.0)])
    assert _play(book, [9.5, 9.6, 10.0, 10.1, 10.2]) == [OK, OK, OK, OK, 9.8]


def test_refusals_consume_nothing() -> None:
    book = QuotaBook([RateQuota("bucket", 1, 10.0)])
    assert _play(book, [0.0, *[t / 10 for t in range(1, 100)], 10.0]) == [
        OK,
        *[round(10 - t / 10, 9) for t in range(1, 100)],
        OK,
    ]


def test_several_quotas_the_first_breached_names_itself_the_latest_free_time_counts() -> None:
    short, long = RateQuota("sliding", 2, 1.0), RateQuota("fixed", 4, 60.0)
    book = QuotaBook([short, long])
    assert _play(book, [0.0, 0.0]) == [OK, OK]
    only_short = book.check(K, M, 0.5)
    assert only_short is not None
    assert (only_short.quota, only_short.delay) == (short, 0.5)
    assert _play(book, [1.0, 1.0]) == [OK, OK]
    both = book.check(K, M, 1.5)
    assert both is not None
    # The sliding quota is named (first listed), but its 0.5 s would not be enough.
    assert (both.quota, both.label, both.limit, both.delay) == (short, "minute", 2, 58.5)
    assert _play(book, [60.0, 60.0, 60.0]) == [OK, OK, 1.0]


def test_day_long_quotas_are_checked_first_and_labelled_per_day() -> None:
    minute, day = RateQuota("sliding", 1, 60.0), RateQuota("fixed", 2, 86_400.0)
    book = QuotaBook([minute, day])
    assert book.quotas == (day, minute)
    assert _play(book, [0.0, 60.0]) == [OK, OK]
    breach = book.check(K, M, 70.0)
    assert breach is not None
    assert (breach.label, breach.limit, breach.quota) == ("day", 2, day)
    assert breach.delay == 86_400.0 - 70.0


def test_concurrency_cap_with_rate_quotas() -> None:
    book = QuotaBook([RateQuota("sliding", 5, 60.0)], max_concurrent=1)
    assert book.check(K, M, 0.0) is None
    book.admit(K, M, 0.0, 10.0)
    breach = book.check(K, M, 1.0)
    assert breach is not None
    assert (breach.label, breach.limit, breach.delay, breach.quota) == ("concurrent", 1, 9.0, None)
    assert book.check(K, M, 10.0) is None


def test_release_frees_the_slot_before_it_is_due() -> None:
    book = QuotaBook(max_concurrent=1)
    admission = book.admit(K, M, 0.0, 10.0)
    assert book.check(K, M, 1.0) is not None
    book.release(admission)
    assert book.check(K, M, 1.0) is None


def test_pairs_are_separate() -> None:
    book = QuotaBook([RateQuota("fixed", 1, 60.0)])
    assert book.check("a", M, 0.0) is None
    book.admit("a", M, 0.0, 0.0)
    assert book.check("a", M, 1.0) is not None
    assert book.check("b", M, 1.0) is None
    assert book.check("a", "other-model", 1.0) is None


def test_repr_shows_live_state() -> None:
    book = QuotaBook([RateQuota("bucket", 2, 10.0, burst=3)], max_concurrent=4)
    _play(book, [0.0])
    assert repr(book) == "<QuotaBook quotas=bucket:2/10s,burst=3 max_concurrent=4 pairs=1>"
    (pair,) = book._pairs.values()
    assert "next_token_at=" in repr(pair)


def test_until_survives_rounding() -> None:
    for now, moment in [(1000.1, 1060.0), (0.1 + 0.2, 0.9), (1e9 + 0.3, 1e9 + 60.7)]:
        assert now + until(moment, now) >= moment
        assert until(moment, now) == pytest.approx(moment - now)


_QUOTAS = [
    RateQuota("sliding", 3, 0.7),
    RateQuota("fixed", 2, 0.3, phase=0.11),
    RateQuota("bucket", 3, 0.9, burst=2),
]


@hypothesis_settings(max_examples=60)
@given(
    kind=st.sampled_from(range(len(_QUOTAS))),
    gaps=st.lists(st.floats(0.0, 0.5, allow_nan=False), min_size=1, max_size=30),
    start=st.floats(0.0, 1e6, allow_nan=False),
)
def test_delays_are_exact(kind: int, gaps: list[float], start: float) -> None:
    """Sent once the announced delay has passed: admitted. A microsecond before: refused."""
    book = QuotaBook([_QUOTAS[kind]], time_scale=1.0, origin=start / 3)
    now = start
    for gap in gaps:
        now += gap
        breach = book.check(K, M, now)
        if breach is None:
            book.admit(K, M, now, now)
            continue
        assert breach.delay > 0
        early, late = copy.deepcopy(book), copy.deepcopy(book)
        assert late.check(K, M, now + breach.delay) is None
        if breach.delay > 1e-6 and now + breach.delay - 1e-6 > now:
            assert early.check(K, M, now + breach.delay - 1e-6) is not None
        assert math.isfinite(breach.delay)
