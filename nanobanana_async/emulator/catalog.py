"""What the emulator knows about each image model: enums, pixel sizes, tokens, latency.

This catalogue is deliberately independent of :mod:`nanobanana_async.service.model_ids`:
the client and the emulator state the same facts twice, from recorded real answers and the
service's documentation, so a test that runs one against the other catches either being
wrong. Where those give no figure, the choice made here is an *emulator default*, listed
beside :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "MODELS",
    "ModelSpec",
]

_BASE_ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_BANNER_ASPECTS = ("1:4", "1:8", "4:1", "8:1")

_PRO_1K: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
_BANNER_1K: dict[str, tuple[int, int]] = {
    "1:4": (512, 2064),
    "4:1": (2064, 512),
    "1:8": (352, 2928),
    "8:1": (2928, 352),
}
_FLASH_25: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# Multiplier of the 1K table per imageSize; "512" halves it.
_SCALE = {"512": 0.5, "1K": 1.0, "2K": 2.0, "4K": 4.0}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model as the emulator serves it.

    Attributes:
        name: the model id in the URL and in ``modelVersion``.
        mime_type: what the image comes back as.
        aspect_ratios: accepted ``aspectRatio`` values, sorted as the service lists them.
        image_sizes: accepted ``imageSize`` values; empty when the model takes none.
        pixels_1k: width x height per aspect ratio at 1K (or the model's only size).
        default_pixels_1k: the size answered when no aspect ratio is asked.
        image_tokens: output image tokens per ``imageSize`` (``""`` when none is taken).
        latency: seconds (low, high) of a generation per ``imageSize``, before time scale.
        signature_chars: default ``thoughtSignature`` length per signed part (0: none).
        thinks: whether the model reports ``thoughtsTokenCount`` and may send thought images.
        tier1_rpm: the usual paid tier 1 requests per minute, to word a scripted 429.
        tier1_rpd: the same per day.
        input_image_tokens: prompt tokens one inline input image counts for (the pricing
            page's figure: 560 for pro, 1120 for 3.1 flash, 258 for 2.5 flash).
        service_tier: the ``serviceTier`` its ``usageMetadata`` reports, if any.
    """

    name: str
    mime_type: str
    aspect_ratios: tuple[str, ...]
    image_sizes: tuple[str, ...]
    pixels_1k: Mapping[str, tuple[int, int]]
    default_pixels_1k: tuple[int, int]
    image_tokens: Mapping[str, int]
    latency: Mapping[str, tuple[float, float]]
    signature_chars: int
    thinks: bool
    tier1_rpm: int
    tier1_rpd: int
    input_image_tokens: int
    service_tier: str | None = field(default=None)

    @property
    def default_size(self) -> str:
        """The ``imageSize`` assumed when none is asked (``""`` for a one-size model)."""
        return "1K" if self.image_sizes else ""

    def pixel_size(self, aspect_ratio: str | None, image_size: str | None) -> tuple[int, int]:
        """Width and height of the image for an already validated request."""
        width, height = self.pixels_1k[aspect_ratio] if aspect_ratio else self.default_pixels_1k
        scale = _SCALE[image_size or "1K"] if self.image_sizes else 1.0
        return int(width * scale), int(height * scale)

    def tokens(self, image_size: str | None) -> int:
        """Output tokens billed for one image at ``image_size``."""
        return self.image_tokens[image_size or self.default_size]

    def latency_range(self, image_size: str | None) -> tuple[float, float]:
        """Seconds (low, high) one generation takes at ``image_size``, unscaled."""
        return self.latency[image_size or self.default_size]


def _ordered(*groups: tuple[str, ...]) -> tuple[str, ...]:
    # The service lists ratios by width, then height: '1:1', '1:4', ..., '16:9', '21:9'.
    ratios = {r for group in groups for r in group}
    return tuple(sorted(ratios, key=lambda r: tuple(int(x) for x in r.split(":"))))


# Emulator defaults, where recorded answers and the documentation give no figure:
# - no ``aspectRatio`` asked: gemini-3-pro-image answers 1408x768 (recorded), and so does
#   gemini-3.1-flash-image (it follows the pro table); gemini-2.5-flash-image answers
#   1024x1024 (recorded);
# - ``imageSize`` 512 on 3.1 flash is half the 1K size; 2K is x2, 4K is x4;
# - latency ranges at 2K and 4K for pro, and at 512 and 2K for 3.1 flash, are interpolated;
# - tier 1 limits other than pro's are guesses, used only to word a scripted 429 when no
#   ``--rpm``/``--rpd`` is set;
# - thought signature sizes: pro's as recorded, 3.1 flash's a guess, none for 2.5 flash;
# - gemini-3.1-flash-lite-image (Nano Banana 2 Lite, GA 2026-06-30 by the changelog): no
#   Google page gives its sizes, ratios, tokens or limits, so all of it is a default here:
#   one size, 1K (an AI gateway's page says "1K images"), the base ratios at pro's pixels,
#   3.1 flash's tokens, half its latency ("2x faster"), no thinking, no signatures.
MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        "gemini-3-pro-image": ModelSpec(
            name="gemini-3-pro-image",
            mime_type="image/jpeg",
            aspect_ratios=_ordered(_BASE_ASPECTS),
            image_sizes=("1K", "2K", "4K"),
            pixels_1k=MappingProxyType(_PRO_1K),
            default_pixels_1k=(1408, 768),
            image_tokens=MappingProxyType({"1K": 1120, "2K": 1120, "4K": 2000}),
            latency=MappingProxyType({"1K": (17.0, 29.0), "2K": (17.0, 29.0), "4K": (22.0, 40.0)}),
            signature_chars=1_100_000,
            thinks=True,
            tier1_rpm=20,
            tier1_rpd=250,
            input_image_tokens=560,
            service_tier="standard",
        ),
        "gemini-3.1-flash-image": ModelSpec(
            name="gemini-3.1-flash-image",
            mime_type="image/jpeg",
            aspect_ratios=_ordered(_BASE_ASPECTS, _BANNER_ASPECTS),
            image_sizes=("512", "1K", "2K", "4K"),
            pixels_1k=MappingProxyType({**_PRO_1K, **_BANNER_1K}),
            default_pixels_1k=(1408, 768),
            image_tokens=MappingProxyType({"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}),
            latency=MappingProxyType(
                {"512": (3.0, 10.0), "1K": (4.0, 15.0), "2K": (7.0, 30.0), "4K": (10.0, 56.0)}
            ),
            signature_chars=400_000,
            thinks=True,
            tier1_rpm=100,
            tier1_rpd=1000,
            input_image_tokens=1120,  # Vertex model page, read 2026-12-07: 1120 per input image
            service_tier="standard",
        ),
        "gemini-3.1-flash-lite-image": ModelSpec(
            name="gemini-3.1-flash-lite-image",
            mime_type="image/jpeg",
            aspect_ratios=_ordered(_BASE_ASPECTS),
            image_sizes=("1K",),
            pixels_1k=MappingProxyType(_PRO_1K),
            default_pixels_1k=(1408, 768),
            image_tokens=MappingProxyType({"1K": 1120}),
            latency=MappingProxyType({"1K": (2.0, 7.5)}),
            signature_chars=0,
            thinks=False,
            tier1_rpm=100,
            tier1_rpd=1000,
            input_image_tokens=1120,
            service_tier="standard",
        ),
        "gemini-2.5-flash-image": ModelSpec(
            name="gemini-2.5-flash-image",
            mime_type="image/png",
            aspect_ratios=_ordered(_BASE_ASPECTS),
            image_sizes=(),
            pixels_1k=MappingProxyType(_FLASH_25),
            default_pixels_1k=(1024, 1024),
            image_tokens=MappingProxyType({"": 1290}),
            latency=MappingProxyType({"": (5.6, 6.0)}),
            signature_chars=0,
            thinks=False,
            tier1_rpm=500,
            tier1_rpd=2000,
            input_image_tokens=258,
        ),
    }
)
