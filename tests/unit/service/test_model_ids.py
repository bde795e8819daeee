"""Which models edit and which sign their turns: the config refuses, notices or accepts by it."""

from __future__ import annotations

import pytest

from nanobanana_async.service.model_ids import (
    EDITING_MODELS,
    IMAGE_MODELS,
    MODELS_WITHOUT_IMAGE_SIZE,
    RETIRED_MODELS,
    can_edit,
    shutdown_listed,
    signs_turns,
)


@pytest.mark.parametrize(
    ("model", "edits"),
    [
        ("gemini-3-pro-image", True),
        ("models/gemini-3.1-flash-image", True),
        ("gemini-2.5-flash-image", True),
        ("gemini-3-pro-image-preview", True),  # retired, but a proxy may serve it
        ("imagen-4.0-generate-001", False),
        ("gemini-2.5-flash", False),
        ("gemini-2.5-pro", False),
        ("gemini-3-pro-preview", False),
        ("gemini-2.0-flash-lite-001", False),
        ("gemini-2.0-flash-preview-image-generation", None),  # an image model not listed
        ("gemini-4-flash-image", None),
        ("my-proxy-model", None),
    ],
)
def test_can_edit(model: str, edits: bool | None) -> None:
    assert can_edit(model) is edits


def test_every_retired_id_and_its_replacement_edit() -> None:
    assert set(RETIRED_MODELS) | set(RETIRED_MODELS.values()) <= EDITING_MODELS


@pytest.mark.parametrize(
    ("model", "signs"),
    [
        ("gemini-3-pro-image", True),
        ("models/gemini-3.1-flash-image", True),
        ("gemini-3-pro-image-preview", True),
        ("gemini-2.5-flash-image", False),
        ("my-proxy-model", False),
    ],
)
def test_signs_turns(model: str, signs: bool) -> None:
    assert signs_turns(model) is signs


def test_the_facts_table_knows_nano_banana_2_lite_and_what_is_not_known_of_it() -> None:
    lite = IMAGE_MODELS["gemini-3.1-flash-lite-image"]
    assert can_edit(lite.name) is True  # "generation and editing", the changelog
    assert (lite.image_sizes, lite.aspect_ratios) == (None, None)  # on no Google page found
    assert {"gemini-2.5-flash-image"} == MODELS_WITHOUT_IMAGE_SIZE
    assert shutdown_listed("models/gemini-2.5-flash-image") == "2026-10-02"
    assert shutdown_listed("gemini-3.1-flash-image") is None  # 2026-10-29 is unverified
