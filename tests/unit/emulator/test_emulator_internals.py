"""The emulator's building blocks that HTTP tests cannot pin down precisely."""

from __future__ import annotations

import gzip
import zlib

import pytest

import nanobanana_async.emulator as emulator_package
from nanobanana_async.emulator import MODELS
from nanobanana_async.emulator.compression import Segment, gzip_join, plain_join
from nanobanana_async.emulator.success_bodies import signature


def test_public_names_are_sorted_and_importable() -> None:
    names = emulator_package.__all__
    # isort order, as ruff keeps it: CONSTANTS, then Classes, then functions.
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert all(hasattr(emulator_package, name) for name in names)
    assert {"Emulator", "EmulatorSettings", "serve_in_thread"} <= set(names)


@pytest.mark.parametrize(
    "parts",
    [
        [b'{"a": "', Segment(b"x" * 100_000), b'", "b": "', Segment(b"yz" * 7), b'"}'],
        [b"", Segment(b""), b"only glue"],
        [Segment(signature(40_000).data), Segment(signature(40_000).data)],
    ],
)
def test_spliced_gzip_decodes_to_the_plain_body(parts: list[bytes | Segment]) -> None:
    body = gzip_join(parts)
    assert gzip.decompress(body) == plain_join(parts)
    # The same way httpx decodes a gzip body: one member, through zlib.
    assert zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(body) == plain_join(parts)


def test_a_segment_is_deflated_once() -> None:
    segment = Segment(b"abc" * 1000)
    first = segment.deflated
    assert segment.deflated is first


def test_signatures_are_cached_base64_of_the_asked_length() -> None:
    blob = signature(1_100_000)
    assert blob is signature(1_100_000)
    assert len(blob.data) == 1_100_000
    assert set(blob.data) <= set(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )


def test_catalogue_matches_the_protocol_notes() -> None:
    pro, flash31, flash25 = (
        MODELS[name]
        for name in ("gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-2.5-flash-image")
    )
    assert pro.pixel_size("16:9", "4K") == (5504, 3072)
    assert flash31.pixel_size("16:9", "4K") == (5504, 3072)
    assert set(flash31.aspect_ratios) - set(pro.aspect_ratios) == {"1:4", "4:1", "1:8", "8:1"}
    assert flash25.image_sizes == ()
    assert flash25.pixel_size("16:9", None) == (1344, 768)
    assert [m.mime_type for m in (pro, flash31, flash25)] == ["image/jpeg"] * 2 + ["image/png"]
    assert not any(name.endswith("-preview") for name in MODELS)
