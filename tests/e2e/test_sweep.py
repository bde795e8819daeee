"""The seeded sweep of ``benchmarks/sweep`` runs, and what it reports holds together.

A small deck on one shape and two seeds, then a deck right after another, in process on
virtual time, so that the tool cannot rot unnoticed. Its figures are measured by
``python -m benchmarks.sweep``, never asserted here.
"""

from __future__ import annotations

from dataclasses import replace

from benchmarks.shapes import best_wall
from benchmarks.sweep import CASES, run_seed, run_sweep
from nanobanana_async.emulator import EmulatorSettings

SLIDES = 6


def test_every_seed_of_a_case_is_reported_with_sane_figures() -> None:
    sliding = next(case for case in CASES if case.key == "sliding")
    logged: list[str] = []
    result = run_sweep([sliding], [0, 1], slides=SLIDES, log=logged.append)
    [spread] = result.cases
    assert [run.seed for run in spread.runs] == [0, 1]
    for run in spread.runs:
        deck = run.deck
        counts = (deck.saved, deck.lost, deck.requests, deck.http_429, deck.inside_announced_delay)
        assert all(type(count) is int for count in counts), counts
        assert (deck.slides, deck.saved + deck.lost) == (SLIDES, SLIDES)
        assert len(run.arrivals) == deck.requests
        assert deck.saved <= len(run.arrivals)
        assert deck.efficiency is not None
        assert 0 < deck.efficiency <= 1.05
        assert deck.best_wall_s is not None
    assert spread.lowest <= spread.p10 <= spread.median <= max(spread.efficiencies)
    assert spread.worst.efficiency == spread.lowest
    figures = result.to_json()["cases"]["sliding"]
    assert (figures["seeds"], figures["worst_seed"]) == (2, spread.worst.seed)
    assert (figures["lost"], figures["inside_announced_delay"]) == (
        spread.lost,
        spread.inside_delay,
    )
    # The worst seed's arrivals are kept, to look into; the others' are not.
    kept = [run["seed"] for run in figures["runs"] if "arrivals" in run]
    assert kept == [spread.worst.seed]
    assert len(logged) == 1
    assert logged[0].strip().startswith("sliding:")


def test_a_seed_replays_its_run_and_the_deck_after_another_is_measured_alone() -> None:
    back_to_back = next(case for case in CASES if case.key == "back_to_back")
    case = replace(back_to_back, before=3)
    first, again = run_seed(case, 5, slides=SLIDES), run_seed(case, 5, slides=SLIDES)
    assert first.arrivals == again.arrivals  # render threads take no virtual time
    assert first.deck == again.deck
    # Only the second deck's requests, sent once the first deck (from 0 s) was over.
    assert first.deck.requests == len(first.arrivals)
    assert first.arrivals[0][0] > 0
    assert first.deck.saved == SLIDES


def test_the_best_schedule_ends_on_its_last_answer_not_on_the_mean() -> None:
    settings = EmulatorSettings(rpm=2, seed=0)  # two at once, then a minute
    # A burst of two answered in 10 s and 30 s: it ends at 30 s, not at the mean's 20 s.
    assert best_wall(settings, 2, 20.0, 0.0, latencies=[10.0, 30.0]) == 30.0
    # The third waits a minute and takes its own 5 s.
    assert best_wall(settings, 3, 15.0, 0.0, latencies=[10.0, 30.0, 5.0]) == 65.0
    assert best_wall(settings, 2, 20.0, 0.0) == 20.0  # no draws: the mean
