"""The config file's vocabulary, written once, and the JSON Schema built from it.

The accepted values and ranges live here as constants; :mod:`nanobanana_async.config.loading`
validates with these very constants, so the validator and the schema cannot disagree on an
enum or a range. The field *names* are stated twice on purpose, once by the validator (the
fields it parses) and once by the schema (the properties it describes), and a test holds
the two equal: a field added to one and forgotten in the other fails the build.

What JSON Schema cannot say is checked by the validator only, and the descriptions say it:
names that escape ``output_dir``, files that must exist (and be images), duplicate slide
numbers, plain http to another machine (the URL's host may come from a ``${VAR}``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from ..files.formats import ImageFormat
from ..service.endpoint import DEFAULT_BASE_URL
from ..service.model_ids import DEFAULT_MODEL
from .styles import PRESETS

__all__ = [
    "ASPECT_RATIOS",
    "CONCURRENCY_RANGE",
    "CONSISTENCY_MODES",
    "DEFAULT_ASPECT_RATIO",
    "DEFAULT_BASE_URL",
    "DEFAULT_FORMAT",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_QUALITY",
    "DEFAULT_TIMEOUT",
    "FIX_TEXT_RANGE",
    "FLEX_FALLBACKS",
    "FORMAT_SPELLINGS",
    "IMAGE_EXTENSIONS",
    "IMAGE_SIZE_SPELLINGS",
    "INLINE_IMAGES_ROOM",
    "MAX_COST_RANGE",
    "MAX_EDITS",
    "MAX_FILENAME_BYTES",
    "MAX_INLINE_REQUEST_BYTES",
    "MAX_PROMPT_CHARS",
    "MAX_REFERENCE_BYTES",
    "MAX_SLIDES",
    "MAX_TEXT_CHARS",
    "MAX_TEXT_STRINGS",
    "MIN_REGION_SIDE",
    "MODEL_PATTERN",
    "NUMBER_RANGE",
    "QUALITY_RANGE",
    "REFERENCE_EXTENSIONS",
    "RPM_RANGE",
    "RUN_MODES",
    "SEED_RANGE",
    "SERVICE_TIERS",
    "TEMPERATURE_RANGE",
    "TIMEOUT_RANGE",
    "VARIANTS_RANGE",
    "Consistency",
    "FlexFallback",
    "ImageFormat",
    "RunMode",
    "ServiceTier",
    "config_schema",
]

ASPECT_RATIOS = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
    "1:4", "4:1", "1:8", "8:1",
)  # fmt: skip
"""Every ratio the service knows; the last four only some models serve (the service says so)."""

# Accepted spelling -> the value used. The service rejects a lower-case "k"; users write it
# anyway, so it is fixed for them rather than refused.
IMAGE_SIZE_SPELLINGS: Mapping[str, str] = MappingProxyType(
    {"512": "512", "1K": "1K", "2K": "2K", "4K": "4K", "1k": "1K", "2k": "2K", "4k": "4K"}
)
# Formats match case-insensitively (ImageFormat has the lower-case spellings); "jpeg" is
# the upstream skill's and PIL's name for jpg.
FORMAT_SPELLINGS: Mapping[str, str] = MappingProxyType(
    {"webp": "webp", "png": "png", "jpg": "jpg", "jpeg": "jpg"}
)
# Extensions an output_filename may carry (compared lower-case), and the format each means.
IMAGE_EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {".webp": "webp", ".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}
)
REFERENCE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
# How a deck keeps one look: "first-slide" generates the first slide first and sends its
# image with every other slide.
Consistency = Literal["none", "first-slide"]
CONSISTENCY_MODES: tuple[Consistency, ...] = ("none", "first-slide")
RunMode = Literal["standard", "batch-api"]
RUN_MODES: tuple[RunMode, ...] = ("standard", "batch-api")
ServiceTier = Literal["standard", "flex", "priority"]
SERVICE_TIERS: tuple[ServiceTier, ...] = ("standard", "flex", "priority")
FlexFallback = Literal["standard", "fail"]
FLEX_FALLBACKS: tuple[FlexFallback, ...] = ("standard", "fail")

QUALITY_RANGE = (1, 100)
CONCURRENCY_RANGE = (1, 64)
# Outside these a run would hang (a rate of one request a century) or fail every request
# (a timeout shorter than any answer): refuse them as config errors instead.
RPM_RANGE = (0.1, 100_000.0)
MAX_COST_RANGE = (0.001, 1_000_000.0)  # USD
TIMEOUT_RANGE = (1.0, 3_600.0)
TEMPERATURE_RANGE = (0.0, 2.0)
SEED_RANGE = (-(2**31), 2**31 - 1)  # the service's seed is an int32
NUMBER_RANGE = (0, 999_999)
MAX_SLIDES = 10_000
"""The most slides a deck may have, and a ``--regenerate`` may name.

Far above any real deck (a talk has tens), and what the files a run keeps were sized for:
the progress snapshot, the results and the manifest of 10,000 slides are a few MB each
(their read caps say so), and their contact sheet is a grid of the smallest tiles at most
about 1600 x 15,000 px. A 150,000-slide config cost 80 s and 2 GB before a request.
"""
MAX_PROMPT_CHARS = 30_000
MAX_EDITS = 16
"""The most steps a slide's edit chain may have: each is a paid request, and a chain that
long is a new prompt."""
MIN_REGION_SIDE = 0.01
"""A region's least width and height, as a fraction of the image (1 %): a smaller box marks
nothing the model can see."""
VARIANTS_RANGE = (1, 4)
FIX_TEXT_RANGE = (0, 3)
"""Edit rounds a slide whose text missed may be sent through (each a paid request)."""
MAX_TEXT_STRINGS = 20
MAX_TEXT_CHARS = 500
"""A slide's ``text``: at most this many strings, each at most this many characters."""
"""Candidates a slide may have: each is a full-price request (the service refuses more than
one candidate per request)."""
MAX_FILENAME_BYTES = 200
# The service takes inline request data up to 20 MB per request; a reference image goes
# inline as base64 (4 bytes for every 3), beside a prompt of at most 30,000 characters
# (180 KB even if every one were escaped in JSON) and the rest of the body.
MAX_INLINE_REQUEST_BYTES = 20_000_000
INLINE_IMAGES_ROOM = MAX_INLINE_REQUEST_BYTES - 256 * 1024
"""The base64 of all the images of one request together fits in this: the rest is the body's."""
MAX_REFERENCE_BYTES = INLINE_IMAGES_ROOM * 3 // 4
"""The largest reference image file that fits in a request: about 15 MB."""
# An id as the service spells it, optionally with the REST "models/" prefix. Nothing that
# could change the request URL (no "/", "?", "#", ":", spaces) gets through.
MODEL_PATTERN = r"^(models/)?[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_IMAGE_SIZE = "2K"
DEFAULT_FORMAT = "webp"
DEFAULT_QUALITY = 90
DEFAULT_TIMEOUT = 300.0

_STRING = {"type": "string"}
# Not "$NAME" at the start: only "${NAME}" is expanded, so "$NAME" would be sent as is.
_NO_SHELL_VARIABLE = r"^(?!\s*\$(?!\{))"
# A key as written, or read from the two key variables alone: no other ${...} anywhere.
_KEY_TEXT = r"^(?:\s*\$\{(?:GEMINI_API_KEY|GOOGLE_API_KEY)\}\s*|(?!\s*\$)(?!.*\$\{)[\s\S]*)$"
# A URL as written, or the seed design's whole "${GOOGLE_GEMINI_BASE_URL}": nothing expanded.
_URL_TEXT = r"^(?:\s*\$\{GOOGLE_GEMINI_BASE_URL\}\s*|(?!\s*\$)(?!.*\$\{)[\s\S]*)$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also accepts ``null``, which the validator reads as "not set"."""
    out = dict(schema)
    kind = out["type"]
    out["type"] = [*kind, "null"] if isinstance(kind, list) else [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _format(description: str) -> dict[str, Any]:
    spellings = list(FORMAT_SPELLINGS)
    return {
        "type": "string",
        "enum": spellings + [s.upper() for s in spellings],
        "description": description + " Case-insensitive; jpeg means jpg.",
    }


def _shared(level: str) -> dict[str, dict[str, Any]]:
    """The image settings a slide may set for itself or inherit from the top level."""
    if level == "config":
        inherit = " A slide may override it."
        fmt_default = f"NANO_BANANA_FORMAT, else {DEFAULT_FORMAT}"
        quality_default = f"NANO_BANANA_QUALITY, else {DEFAULT_QUALITY}"
        ratio_default, size_default = DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_SIZE
        temperature_default = seed_default = "none (the model's own)"
        variants_default = "1"
        check_default, fix_default = "false", "0"
    else:
        inherit = ""
        fmt_default = "the output_filename's extension, else the top-level format"
        quality_default = ratio_default = size_default = "the top-level value"
        temperature_default = seed_default = variants_default = "the top-level value"
        check_default = "the top-level value, else true when the slide states text"
        fix_default = "the top-level value"
    return {
        "format": {
            "type": "string",
            "enum": [*FORMAT_SPELLINGS, *(s.upper() for s in FORMAT_SPELLINGS)],
            "description": (
                f"Image file format, case-insensitive (jpeg means jpg). "
                f"Default: {fmt_default}.{inherit}"
            ),
        },
        "quality": {
            "type": "integer",
            "minimum": QUALITY_RANGE[0],
            "maximum": QUALITY_RANGE[1],
            "description": f"Encoder quality. Default: {quality_default}.{inherit}",
        },
        "aspect_ratio": {
            "type": "string",
            "enum": list(ASPECT_RATIOS),
            "description": f"Image aspect ratio. Default: {ratio_default}.{inherit}",
        },
        "service_tier": {
            "type": "string",
            "enum": list(SERVICE_TIERS),
            "description": (
                "The service tier the request asks for: flex (half price, answers in 1 to 15 "
                "minutes, may be shed), priority (75 to 100 % more, short waits) or standard; "
                "run --tier sets it for every slide. Not with mode batch-api. "
                f"Default: standard.{inherit}"
            ),
        },
        "image_size": {
            "type": "string",
            "enum": list(IMAGE_SIZE_SPELLINGS),
            "description": (
                "Image resolution; lower-case k is upper-cased, 512 only on some models. "
                f"Default: {size_default}.{inherit}"
            ),
        },
        "temperature": {
            "type": "number",
            "minimum": TEMPERATURE_RANGE[0],
            "maximum": TEMPERATURE_RANGE[1],
            "description": f"Sampling temperature. Default: {temperature_default}.{inherit}",
        },
        "seed": {
            "type": "integer",
            "minimum": SEED_RANGE[0],
            "maximum": SEED_RANGE[1],
            "description": f"Sampling seed (32-bit). Default: {seed_default}.{inherit}",
        },
        "variants": {
            "type": "integer",
            "minimum": VARIANTS_RANGE[0],
            "maximum": VARIANTS_RANGE[1],
            "description": (
                "Candidates made of the slide, each a full-price request and each kept; "
                "pick says which one is the slide (candidate k of a seeded slide uses "
                f"seed + k - 1). Default: {variants_default}.{inherit}"
            ),
        },
        "check_text": {
            "type": "boolean",
            "description": (
                "Read the slide's image back (OCR, the qa extra) and check it shows its text: "
                "the slide's text, else the strings its prompt quotes in double quotes, "
                "guillemets or corner brackets (not single quotes). "
                f"Default: {check_default}.{inherit}"
            ),
        },
        "fix_text": {
            "type": "integer",
            "minimum": FIX_TEXT_RANGE[0],
            "maximum": FIX_TEXT_RANGE[1],
            "description": (
                "Edit rounds, each a paid request, a slide whose text missed is sent through "
                "to correct it; needs check_text or text. "
                f"Default: {fix_default}.{inherit}"
            ),
        },
    }


_INSTRUCTION: dict[str, Any] = {
    **_STRING,
    "minLength": 1,
    "maxLength": MAX_PROMPT_CHARS,
    "pattern": r"\S",
}
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1 - MIN_REGION_SIDE}
_SIDE = {"type": "number", "minimum": MIN_REGION_SIDE, "maximum": 1}
_REGION_STEP: dict[str, Any] = {
    "type": "object",
    "required": ["instruction"],
    "additionalProperties": False,
    "properties": {
        "instruction": _INSTRUCTION,
        "region": {
            "type": ["array", "null"],
            "prefixItems": [_FRACTION, _FRACTION, _SIDE, _SIDE],
            "minItems": 4,
            "maxItems": 4,
        },
    },
}


def _slide_schema() -> dict[str, Any]:
    presets = ", ".join(PRESETS)
    optional: dict[str, dict[str, Any]] = {
        "style": {
            **_STRING,
            "description": (
                f"Presets ({presets}) wrap the prompt in a fixed phrase; any other text is "
                "accepted and leaves the prompt unchanged. Default: none."
            ),
        },
        "layout": {
            **_STRING,
            "description": "Upstream skill's layout hint (featured, content); carried only.",
        },
        "output_filename": {
            **_STRING,
            "minLength": 1,
            "maxLength": MAX_FILENAME_BYTES,
            "pattern": r"^[^./\\:\u0000-\u001f\u007f][^/\\:\u0000-\u001f\u007f]*$",
            "description": (
                "Plain file name inside output_dir, at most 200 bytes of UTF-8, not hidden, "
                "no separators. A .webp/.png/.jpg/.jpeg extension sets this slide's format; "
                "without one the format's is appended. Default: slide-NN.<format>. "
                "Unique per config, compared case-insensitively."
            ),
        },
        "lossless": {
            "type": "boolean",
            "description": (
                "Lossless encoding. Default: true for preset styles saved as webp, "
                "else false. Not possible with jpg."
            ),
        },
        "reference_image": {
            **_STRING,
            "minLength": 1,
            "description": (
                "An existing .png/.jpg/.jpeg/.webp image sent with the prompt, at most "
                f"{MAX_REFERENCE_BYTES / 1e6:.1f} MB (the service takes 20 MB per request "
                "inline, base64 included); it must decode as one of those (its type is sent "
                "as decoded, whatever the name says); relative paths start at the config "
                "file's folder (the working directory for a config given inline)."
            ),
        },
        "edits": {
            "type": "array",
            "maxItems": MAX_EDITS,
            "items": {"anyOf": [_INSTRUCTION, _REGION_STEP]},
            "description": (
                f"Edit steps applied in order on the slide's image, at most {MAX_EDITS}, each "
                "a paid request that sends the previous answer back: an instruction, or "
                '{"instruction": ..., "region": [x, y, w, h]} to limit the change to a box '
                "(fractions of the image from its top left; w and h at least "
                f"{MIN_REGION_SIDE:g}; x + w and y + h at most 1). Only on a model that "
                "edits images. Default: none."
            ),
        },
        "text": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_TEXT_STRINGS,
            "items": {**_STRING, "minLength": 1, "maxLength": MAX_TEXT_CHARS, "pattern": r"\S"},
            "description": (
                "What the slide must say, exactly: each string is looked for in the image "
                "read back (case, spacing and punctuation aside), and turns check_text on. "
                "Default: none; the prompt's quotes when check_text is on."
            ),
        },
        "pick": {
            "type": "integer",
            "minimum": VARIANTS_RANGE[0],
            "maximum": VARIANTS_RANGE[1],
            "description": (
                "Which candidate is the slide (and what its edits apply to), at most its "
                "variants; nanobanana pick writes it. Default: 1."
            ),
        },
        **_shared("slide"),
    }
    return {
        "type": "object",
        "required": ["number", "prompt"],
        "additionalProperties": False,
        "properties": {
            "number": {
                "type": "integer",
                "minimum": NUMBER_RANGE[0],
                "maximum": NUMBER_RANGE[1],
                "description": "Slide number, unique in the config; names the default file.",
            },
            "prompt": {
                **_STRING,
                "minLength": 1,
                "maxLength": MAX_PROMPT_CHARS,
                "pattern": r"\S",
                "description": (
                    f"What the slide shows. Not blank, at most {MAX_PROMPT_CHARS:,} characters."
                ),
            },
            **{name: _nullable(schema) for name, schema in optional.items()},
        },
    }


def _config_schema() -> dict[str, Any]:
    optional: dict[str, dict[str, Any]] = {
        "model": {
            **_STRING,
            "pattern": MODEL_PATTERN,
            "description": (
                f"Model id. Default: NANO_BANANA_MODEL, else {DEFAULT_MODEL}. On Google's "
                "endpoint a retired id is replaced by its successor, with a notice."
            ),
        },
        "backend": {
            "type": "string",
            "enum": ["gemini", "vertex"],
            "description": (
                "gemini: the Gemini Developer API with an API key; vertex: Vertex AI (Gemini "
                "Enterprise Agent Platform) with Application Default Credentials (extra: "
                "vertex). Default: gemini (vertex if $GOOGLE_GENAI_USE_VERTEXAI is true)."
            ),
        },
        "project": {
            **_STRING,
            "description": "The Google Cloud project (vertex only). Default: "
            "$GOOGLE_CLOUD_PROJECT, then the credentials' own.",
        },
        "location": {
            **_STRING,
            "description": "The Vertex AI location (vertex only): global, or a region like "
            "us-central1. Default: global ($GOOGLE_CLOUD_LOCATION).",
        },
        "strict_model": {
            "type": "boolean",
            "description": (
                "Send the model id as given, even a retired one on Google's endpoint "
                "(behind any other base_url it always is). Default: false."
            ),
        },
        "api_key": {
            **_STRING,
            "pattern": _KEY_TEXT,
            "description": (
                'API key, or "${GEMINI_API_KEY}" / "${GOOGLE_API_KEY}" to read it from that '
                "environment variable (preferred to a key in the file); no other ${VAR} is "
                "read, and a shell-style $VAR is refused. "
                "Default: GEMINI_API_KEY, else GOOGLE_API_KEY. Needed only to send: a plan, "
                "an export or a dry run on the emulator reads a config whose variable is unset."
            ),
        },
        "base_url": {
            **_STRING,
            "pattern": _URL_TEXT,
            "description": (
                "http(s) URL of the service or a proxy, written out: no ${VAR} is expanded "
                '(the whole "${GOOGLE_GEMINI_BASE_URL}" means the default), and a URL '
                "holding the key is refused. A host not Google's gets a notice (stderr and "
                "the results' notices): it receives the key and every prompt; a port of "
                "this machine gets the key only from a server of the user's own. Plain "
                "http:// to another machine is refused unless allow_insecure_http is true. "
                f"Default: GOOGLE_GEMINI_BASE_URL, else {DEFAULT_BASE_URL}."
            ),
        },
        "allow_insecure_http": {
            "type": "boolean",
            "description": (
                "Accept a plain http:// base_url to another machine, over which the key and "
                "the prompts travel unencrypted (announced with a notice). Default: false: "
                "such a URL is refused. This machine (localhost, 127.0.0.0/8, ::1) needs "
                "no opt-in."
            ),
        },
        "style_reference": {
            **_STRING,
            "minLength": 1,
            "description": (
                "An existing .png/.jpg/.jpeg/.webp image sent with every slide's prompt, so "
                "the deck keeps one look; checked as reference_image is, and a slide's own "
                "reference_image goes beside it. All the images of one request share the "
                f"{MAX_INLINE_REQUEST_BYTES / 1e6:.0f} MB the service takes inline. "
                "Default: none."
            ),
        },
        "mode": {
            "type": "string",
            "enum": list(RUN_MODES),
            "description": (
                "batch-api: the slides go to Google's Batch API as one job, at half the "
                "price, with no per-minute quota, done within 24 hours (often minutes); "
                "run --batch-api says the same. Default: standard."
            ),
        },
        "flex_fallback": {
            "type": "string",
            "enum": list(FLEX_FALLBACKS),
            "description": (
                "What a Flex request the service keeps shedding becomes, once retried on Flex "
                "a few times: standard (sent again at the standard price, named in the results "
                "and the final line) or fail (the slide fails, kind FlexShed). Default: standard."
            ),
        },
        "ledger": {
            "type": "string",
            "pattern": "^(file|off|rediss?://.+)$",
            "description": (
                "Where the quota's pacing state is shared: file (the runs of this machine; "
                "the command line's default), off (this run paces alone), or a Redis URL, "
                "redis://host:6379/0 or rediss:// (every machine pointed at it shares one "
                "quota; the redis extra). run --ledger says the same. "
                "Default: NANO_BANANA_LEDGER, else file."
            ),
        },
        "consistency": {
            "type": "string",
            "enum": list(CONSISTENCY_MODES),
            "description": (
                "first-slide: the first slide of the list is generated first, and its image "
                "is sent with every other slide, once it is there; if it fails, the others "
                "are not sent. A slide whose reference changed is generated again. "
                "Default: none."
            ),
        },
        "concurrency": {
            "type": "integer",
            "minimum": CONCURRENCY_RANGE[0],
            "maximum": CONCURRENCY_RANGE[1],
            "description": "Requests in flight at once. Default: derived from rpm and latency.",
        },
        "rpm": {
            "type": "number",
            "minimum": RPM_RANGE[0],
            "maximum": RPM_RANGE[1],
            "description": "Requests per minute the quota allows. Default: unknown (adaptive).",
        },
        "max_cost": {
            "type": "number",
            "minimum": MAX_COST_RANGE[0],
            "maximum": MAX_COST_RANGE[1],
            "description": (
                "Budget of the run in USD: a plan that costs more is refused before any "
                "request, and no request is sent that would pass it. Default: none."
            ),
        },
        "timeout": {
            "type": "number",
            "minimum": TIMEOUT_RANGE[0],
            "maximum": TIMEOUT_RANGE[1],
            "description": (
                "Deadline per request, seconds: connecting, sending and receiving the whole "
                "answer (a server trickling bytes cannot hold a request open past it). "
                f"Connecting alone gives up after 15 s. Default: {DEFAULT_TIMEOUT:g}."
            ),
        },
        **_shared("config"),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "nanobanana-async batch config",
        "description": (
            "A deck of slide prompts to turn into images. Unknown fields are refused; "
            "null means not set."
        ),
        "type": "object",
        "required": ["slides", "output_dir"],
        "additionalProperties": False,
        "properties": {
            "slides": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_SLIDES,
                "items": {"$ref": "#/$defs/slide"},
                "description": (
                    f"The slides, at most {MAX_SLIDES:,}; numbers and output files must be unique."
                ),
            },
            "output_dir": {
                **_STRING,
                "minLength": 1,
                "pattern": r"^(?!.*\$\{)[^\u0000]+$",
                "description": (
                    "Folder for the images, created if missing; relative paths start at the "
                    "config file's folder (the working directory for a config given inline), "
                    "~ is the home directory, ${VAR} is not expanded."
                ),
            },
            **{name: _nullable(schema) for name, schema in optional.items()},
        },
        "$defs": {"slide": _slide_schema()},
    }


_SCHEMA = _config_schema()


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the config file; a fresh copy the caller may change."""
    return copy.deepcopy(_SCHEMA)


# Each field in a few words, for ``schema --fields``; the values and the default come from
# the schema itself, and a test holds these names equal to the schema's.
_BRIEF: Mapping[str, str] = MappingProxyType(
    {
        "output_dir": "folder of the images, created if missing",
        "model": "model id",
        "backend": "an API key, or Google Cloud",
        "project": "for vertex",
        "location": "for vertex",
        "strict_model": "send a retired model id as given",
        "api_key": 'write "${GEMINI_API_KEY}", never the key',
        "base_url": "the service or a proxy, written out",
        "allow_insecure_http": "accept plain http:// to another machine",
        "style_reference": "an image sent with every slide, for one look",
        "mode": "batch-api: half price, done within 24 hours",
        "consistency": "first-slide: its image is sent with every other slide",
        "ledger": "file, off, or redis://host/0 for machines",
        "service_tier": "flex: half price, slower; priority: dearer",
        "flex_fallback": "a shed Flex slide: made at standard, or failed",
        "concurrency": "requests in flight at once",
        "rpm": "requests per minute the quota allows",
        "max_cost": "budget in USD, refused before anything is sent",
        "timeout": "seconds per request",
        "format": "image file format",
        "quality": "encoder quality",
        "aspect_ratio": "image aspect ratio",
        "image_size": "image resolution",
        "temperature": "sampling temperature",
        "seed": "sampling seed",
        "number": "unique in the config; names the default file",
        "prompt": "what the slide shows",
        "style": "a preset wraps the prompt in a fixed phrase",
        "layout": "the upstream skill's layout hint, carried only",
        "output_filename": "a plain file name in output_dir",
        "lossless": "lossless encoding",
        "reference_image": "an image sent with this slide's prompt",
        "variants": "candidates made, each paid",
        "edits": 'steps: "text" or {"instruction", "region": [x, y, w, h]}',
        "pick": "the candidate that is the slide",
        "text": "what the slide must say (checked)",
        "check_text": "check the text read back (extra: qa)",
        "fix_text": "edits to fix text that missed",
    }
)


def _gist(name: str, schema: Mapping[str, Any]) -> str:
    """A field in a few words: what it is, its values, its default (``schema`` says the rest)."""
    parts = [_BRIEF[name]]
    values: dict[str, str] = {}
    for value in PRESETS if name == "style" else schema.get("enum", ()):
        if value is not None:
            values.setdefault(str(value).lower(), str(value))  # jpg, not also JPG
    if values:
        parts.append(" ".join(values.values()))
    elif "minimum" in schema and "maximum" in schema:
        parts.append(f"{_number(schema['minimum'])} to {_number(schema['maximum'])}")
    description = str(schema.get("description", ""))
    if (at := description.find("Default: ")) >= 0:
        default = re.split(r"[.;:](?:\s|$)", description[at + len("Default: ") :], maxsplit=1)[0]
        parts.append(f"default {default}")
    return "; ".join(parts)


def _number(value: float) -> str:
    """``1,000,000``, ``0.001``: a bound as a person writes it."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def field_lines() -> list[str]:
    """The config's fields in a few short lines, from the schema (``nanobanana schema --fields``).

    An agent asking which fields a deck may set at the top, or what a relative
    ``output_dir`` means, reads these 2 KB, not the 12 KB schema.
    """
    slide = _SCHEMA["$defs"]["slide"]
    shared = [name for name in slide["properties"] if name in _SCHEMA["properties"]]
    lines = ["top level, for every slide (relative paths start at the config file's folder):"]
    for level, properties, required in (
        (_SCHEMA, _SCHEMA["properties"], _SCHEMA["required"]),
        (slide, slide["properties"], slide["required"]),
    ):
        if level is slide:
            lines.append(f"each slide ({', '.join(shared)}: its own win):")
        for name, field_schema in properties.items():
            if name == "slides" or (level is slide and name in shared):
                continue
            mark = " (required)" if name in required else ""
            lines.append(f"  {name}{mark}: {_gist(name, field_schema)}")
    return lines
