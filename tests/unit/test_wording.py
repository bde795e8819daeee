"""Counts and slide lists, worded once: ``1 image``, ``2 images``, ``slides 1-3, 7``."""

from __future__ import annotations

import pytest

from nanobanana_async.wording import plural, slide_ranges


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 images"), (1, "1 image"), (2, "2 images"), (-1, "-1 images")]
)
def test_a_count_takes_the_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "image") == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(3, "batch", "batches") == "3 batches"
    assert plural(1, "batch", "batches") == "1 batch"


def test_slides_are_listed_as_ranges() -> None:
    assert slide_ranges([3]) == "slide 3"
    assert slide_ranges([7, 1, 2, 3]) == "slides 1-3, 7"
    assert slide_ranges(range(1, 40, 2)) == "slides 1, 3, 5, 7, 9, 11 and 14 more"
