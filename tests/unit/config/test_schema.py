"""The JSON Schema and the validator say the same thing about the config.

Field names, required fields, enums and ranges are compared directly. Then a table of
configs goes through both the validator and a small checker for the subset of JSON Schema
the schema uses: each must accept or refuse the same ones. Rules the schema cannot express
(files that must exist, duplicates, names escaping ``output_dir``, plain http to another
machine) are the validator's alone and stay out of that table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from nanobanana_async.config.loading import CONFIG_FIELDS, SLIDE_FIELDS, load_config
from nanobanana_async.config.schema import (
    ASPECT_RATIOS,
    FORMAT_SPELLINGS,
    IMAGE_SIZE_SPELLINGS,
    config_schema,
    field_lines,
)
from nanobanana_async.errors import ConfigError
from nanobanana_async.qa import QaUnavailable

SCHEMA = config_schema()
SLIDE = SCHEMA["$defs"]["slide"]
TOP = SCHEMA["properties"]
PER_SLIDE = SLIDE["properties"]


def _enum(prop: dict[str, Any]) -> set[Any]:
    return {value for value in prop["enum"] if value is not None}


def test_it_is_draft_2020_12_and_serialisable() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert orjson.loads(orjson.dumps(SCHEMA)) == SCHEMA


def test_property_names_are_the_validators_fields() -> None:
    assert set(TOP) == CONFIG_FIELDS
    assert set(PER_SLIDE) == SLIDE_FIELDS
    assert SCHEMA["additionalProperties"] is False
    assert SLIDE["additionalProperties"] is False


def test_required_fields_are_the_validators(tmp_path: Path) -> None:
    assert set(SCHEMA["required"]) == {"slides", "output_dir"}
    assert set(SLIDE["required"]) == {"number", "prompt"}
    full_slide: dict[str, Any] = {
        "number": 1,
        "prompt": "p",
        "service_tier": "priority",
        "style": "s",
        "layout": "featured",
        "output_filename": "x",
        "aspect_ratio": "1:1",
        "image_size": "1K",
        "temperature": 1,
        "seed": 1,
        "format": "png",
        "quality": 5,
        "lossless": True,
        "variants": 2,
        "edits": ["x"],
        "pick": 2,
        "text": ["Q3"],
        "check_text": True,
        "fix_text": 1,
    }
    full: dict[str, Any] = {
        "slides": [full_slide],
        "output_dir": "d",
        "model": "m",
        "format": "png",
    }
    full |= {"quality": 5, "temperature": 1, "seed": 1, "aspect_ratio": "1:1"}
    full |= {"image_size": "1K", "api_key": "k", "base_url": "https://h"}
    full |= {"concurrency": 1, "rpm": 1, "timeout": 1, "strict_model": True}
    full |= {"allow_insecure_http": True, "max_cost": 5, "consistency": "first-slide"}
    full |= {"mode": "standard", "variants": 3, "check_text": True, "fix_text": 2}
    full |= {"service_tier": "flex", "flex_fallback": "fail", "ledger": "off"}
    # style_reference needs a real file; the Vertex fields refuse an api_key (below).
    vertex = {"backend": "vertex", "project": "deck-project", "location": "global"}
    assert set(full) == CONFIG_FIELDS - {"style_reference", *vertex}
    assert _validator_accepts({k: v for k, v in full.items() if k != "api_key"} | vertex, tmp_path)
    assert set(full_slide) == SLIDE_FIELDS - {"reference_image"}  # so does this
    for name in CONFIG_FIELDS:
        raw = {k: v for k, v in full.items() if k != name}
        assert _validator_accepts(raw, tmp_path) is (name not in SCHEMA["required"]), name
    for name in full_slide:
        raw = full | {"slides": [{k: v for k, v in full_slide.items() if k != name}]}
        assert _validator_accepts(raw, tmp_path) is (name not in SLIDE["required"]), name


@pytest.mark.parametrize("props", [TOP, PER_SLIDE], ids=["top", "slide"])
def test_enums_are_the_validators(props: dict[str, Any]) -> None:
    assert _enum(props["aspect_ratio"]) == set(ASPECT_RATIOS)
    assert _enum(props["image_size"]) == set(IMAGE_SIZE_SPELLINGS)
    assert {value.lower() for value in _enum(props["format"])} == set(FORMAT_SPELLINGS)
    assert props["quality"]["minimum"] == 1
    assert props["quality"]["maximum"] == 100
    assert (props["seed"]["minimum"], props["seed"]["maximum"]) == (-(2**31), 2**31 - 1)


def test_every_property_says_its_default_and_fallbacks() -> None:
    for props in (TOP, PER_SLIDE):
        for name, prop in props.items():
            assert prop.get("description"), name
    for name, words in {
        "model": ("NANO_BANANA_MODEL", "gemini-3-pro-image"),
        "format": ("NANO_BANANA_FORMAT", "webp"),
        "quality": ("NANO_BANANA_QUALITY", "90"),
        "api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY", "${"),
        "base_url": ("GOOGLE_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com"),
        "aspect_ratio": ("16:9",),
        "image_size": ("2K",),
        "timeout": ("300",),
        "strict_model": ("false",),
        "allow_insecure_http": ("false", "127.0.0.0/8", "localhost", "::1"),
    }.items():
        for word in words:
            assert word in TOP[name]["description"], (name, word)


def test_each_call_returns_a_fresh_copy() -> None:
    config_schema()["properties"].clear()
    assert config_schema() == SCHEMA


# --- both accept or both refuse -------------------------------------------------------


def _is(kind: str, value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": number and float(value).is_integer(),
        "number": number,
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[kind]


def _schema_accepts(schema: dict[str, Any], value: Any) -> bool:
    """The subset of JSON Schema 2020-12 that :func:`config_schema` uses."""
    if "$ref" in schema:
        return _schema_accepts(SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]], value)
    if "anyOf" in schema and not any(_schema_accepts(each, value) for each in schema["anyOf"]):
        return False
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(_is(kind, value) for kind in kinds):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if _is("number", value):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            return False
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return False
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return False
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            return False
        prefix = schema.get("prefixItems", [])
        if not all(_schema_accepts(each, item) for each, item in zip(prefix, value, strict=False)):
            return False
        rest = value[len(prefix) :]
        if not all(_schema_accepts(schema.get("items", {}), item) for item in rest):
            return False
    if isinstance(value, dict):
        if any(name not in value for name in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and any(n not in props for n in value):
            return False
        return all(_schema_accepts(props[n], v) for n, v in value.items() if n in props)
    return True


def _validator_accepts(raw: dict[str, Any], base: Path) -> bool:
    try:
        load_config(raw, env={"K": "v"}, base_dir=base)
    except QaUnavailable:
        return True  # a valid deck, on a machine without the qa extra
    except ConfigError:
        return False
    return True


def _with(top: dict[str, Any] | None = None, **slide: Any) -> dict[str, Any]:
    return {"slides": [{"number": 1, "prompt": "p", **slide}], "output_dir": "d", **(top or {})}


_EDIT_CHAINS: list[Any] = [[], ["x"], ["x"] * 16, ["x"] * 17, None, "x", {}, [1], [None]]
_REGIONS: list[Any] = [
    None,
    [0, 0, 1, 1],
    [0.1, 0.05, 0.5, 0.2],
    [0.99, 0.99, 0.01, 0.01],
    [0, 0, 0.01, 0.01],
    [-0.1, 0, 0.5, 0.5],
    [0, 0, 0.005, 0.5],
    [0, 0, 0.5, 1.5],
    [0, 0, 0.5],
    [0, 0, 0.5, 0.5, 0.5],
    ["0", 0, 0.5, 0.5],
    [True, 0, 0.5, 0.5],
    "0,0,1,1",
    {},
]

AGREEMENT: list[dict[str, Any]] = [
    _with(),
    _with({"slides": []}),
    _with({"slides": {}}),
    _with({"slides": ["p"]}),
    _with({"output_dir": ""}),
    _with({"output_dir": None}),
    _with({"output_dir": "a\x00"}),
    _with({"output_dir": "${HOME}"}),
    _with({"colour": 1}),
    _with(colour=1),
    _with(number=None),
    _with(number="1"),
    _with(number=True),
    _with(number=-1),
    _with(number=1_000_000),
    _with(number=2.0),
    _with(number=2.5),
    _with(prompt=""),
    _with(prompt="   "),
    _with(prompt="x" * 30_000),
    _with(prompt="x" * 30_001),
    _with(prompt=None),
    *(_with({"model": m}) for m in ["gemini-3-pro-image", "models/x", "a/b", "", 3, None]),
    *(_with({"format": f}) for f in ["webp", "PNG", "jpeg", "gif", "", 1, None]),
    *(_with(format=f) for f in ["jpg", "JPEG", "bmp", None]),
    *(_with({"quality": q}) for q in [1, 100, 0, 101, 50.0, 50.5, True, "9", None]),
    *(_with(quality=q) for q in [1, 0, None]),
    *(_with({"temperature": t}) for t in [0, 2, 1.5, -0.1, 2.01, False, "1", None]),
    *(_with(seed=s) for s in [0, -(2**31), 2**31 - 1, 2**31, -(2**31) - 1, 1.5, None]),
    *(_with({"aspect_ratio": r}) for r in [*ASPECT_RATIOS, "7:3", "16x9", None]),
    *(_with(image_size=z) for z in [*IMAGE_SIZE_SPELLINGS, "3K", "2k ", 2, None]),
    *(_with({"concurrency": c}) for c in [1, 64, 0, 65, 2.0, True, None]),
    *(_with({"rpm": r}) for r in [0.1, 1000, 0, -1, "1", None]),
    *(_with({"timeout": t}) for t in [0.5, 0, -1, None]),
    *(_with({"api_key": k}) for k in ["AIza-x", "${K}", "$K", " $k", "a$K", 1, None]),
    *(
        _with({"api_key": k})
        for k in ["${GEMINI_API_KEY}", " ${GOOGLE_API_KEY}", "a${GEMINI_API_KEY}"]
    ),
    *(_with({"base_url": u}) for u in ["https://h", "http://127.0.0.1:8/", "$U", 1, None]),
    *(_with({"base_url": u}) for u in ["${GOOGLE_GEMINI_BASE_URL}", "https://${U}", "${U}"]),
    *(_with({"allow_insecure_http": x}) for x in [True, False, "true", 0, None]),
    _with({"base_url": "http://h/", "allow_insecure_http": True}),
    _with(allow_insecure_http=True),  # top-level only
    *(_with(style=s) for s in ["professional", "anything", 1, None]),
    *(_with(layout=x) for x in ("featured", "content", "other", 1, None)),
    *(_with(lossless=x) for x in [True, False, "true", 1, None]),
    *(_with({"strict_model": x}) for x in [True, False, "true", 0, None]),
    _with(strict_model=True),  # top-level only
    *(_with(output_filename=n) for n in ["a", "a.png", "a/b", "../a", ".a", "", None, 1]),
    *(_with(output_filename=n) for n in ["a\\b", "a:b", "x\x00", "x" * 196 + ".png"]),
    *(_with({"consistency": c}) for c in ["none", "first-slide", "First-Slide", "first", 1, None]),
    _with(consistency="first-slide"),  # top-level only
    *(_with({"style_reference": r}) for r in ["", 1, None]),  # a real file: test_loading
    _with(style_reference="brand.png"),  # top-level only
    *(_with({"variants": v}) for v in [1, 4, 0, 5, 2.0, 2.5, True, "2", None]),
    *(_with(variants=v) for v in [1, 4, 0, 5, None]),
    *(_with(variants=4, pick=p) for p in [1, 4, 0, 5, 1.5, "1", None]),
    _with(pick=1),
    _with({"pick": 1}),  # slide only
    _with({"edits": ["x"]}),  # slide only
    *(_with(edits=e) for e in _EDIT_CHAINS),
    *(_with(edits=[e]) for e in ["", "  ", "x" * 30_000, "x" * 30_001, {}, {"region": None}]),
    *(_with(edits=[{"instruction": i}]) for i in ["x", "", " ", 1, None]),
    *(_with(edits=[{"instruction": "x", "colour": 1}]),),
    *(_with(edits=[{"instruction": "x", "region": r}]) for r in _REGIONS),
    *(_with({"check_text": x}) for x in [True, False, "true", 1, None]),
    *(_with(check_text=x) for x in [True, False, "yes", 0, None]),
    *(_with({"check_text": True, "fix_text": n}) for n in [0, 3, 4, -1, 1.5, "1", None]),
    *(_with(check_text=True, fix_text=n) for n in [0, 3, 4, -1, 1.5, "1", None]),
    *(_with(text=t) for t in [["Q3"], [], ["", "x"], [" "], ["x" * 500], ["x" * 501], "Q3", [1]]),
    _with(text=["x"] * 20),
    _with(text=["x"] * 21),
    _with({"text": ["x"]}),  # slide only
]


@pytest.mark.parametrize("raw", AGREEMENT)
def test_schema_and_validator_agree(raw: dict[str, Any], base: Path) -> None:
    assert _schema_accepts(SCHEMA, raw) is _validator_accepts(raw, base)


@pytest.mark.parametrize(
    ("region", "inside"),
    [([0.5, 0, 0.6, 0.5], False), ([0, 0.7, 0.5, 0.31], False), ([0.7, 0.6, 0.3, 0.4], True)],
)
def test_a_region_inside_the_image_is_the_validators_rule_and_described(
    base: Path, region: list[float], inside: bool
) -> None:
    # x + w <= 1 and y + h <= 1 relate two items: JSON Schema cannot say it.
    raw = _with(edits=[{"instruction": "x", "region": region}])
    assert _schema_accepts(SCHEMA, raw)
    assert _validator_accepts(raw, base) is inside
    assert "x + w and y + h at most 1" in PER_SLIDE["edits"]["description"]


def test_a_pick_past_the_variants_is_the_validators_rule_and_described(base: Path) -> None:
    raw = _with(variants=2, pick=3)
    assert _schema_accepts(SCHEMA, raw)
    assert not _validator_accepts(raw, base)
    assert "at most its variants" in PER_SLIDE["pick"]["description"]


def test_plain_http_to_another_machine_is_the_validators_rule_and_described(base: Path) -> None:
    plain = _with({"base_url": "http://h/"})
    assert _schema_accepts(SCHEMA, plain)
    assert not _validator_accepts(plain, base)
    assert "allow_insecure_http" in TOP["base_url"]["description"]
    assert "not Google's" in TOP["base_url"]["description"]
    assert "refused" in TOP["allow_insecure_http"]["description"]


def test_the_field_lines_name_every_field_once_and_stay_short() -> None:
    # ``schema --fields`` is what an agent reads to know which fields a deck may set at the
    # top: a field missing from it, or a top-level field listed again under the slide, misleads.
    lines = field_lines()
    named = [re.match(r"  (\w+)", line) for line in lines]
    names = [m.group(1) for m in named if m is not None]
    shared = set(TOP) & set(PER_SLIDE)
    assert sorted(names) == sorted((set(TOP) | set(PER_SLIDE)) - {"slides"})
    assert len(names) == len(set(names))
    each_slide = next(line for line in lines if line.startswith("each slide"))
    assert all(field in each_slide for field in shared)
    assert "config file's folder" in lines[0]
    # 2.5 KB with the image fields; the text check (text, check_text, fix_text) adds 0.2,
    # the service tiers (service_tier, flex_fallback) 0.2, the Vertex fields (backend,
    # project, location) 0.2, the ledger 0.07.
    assert len("\n".join(lines).encode()) <= 3250
    assert all(len(line) <= 140 for line in lines)
    by_name = {m.group(1): line for m in named if m is not None for line in [m.string]}
    assert "16:9" in by_name["aspect_ratio"]
    assert "default 16:9" in by_name["aspect_ratio"]
    assert "(required)" in by_name["output_dir"]
    assert "(required)" in by_name["prompt"]
    assert "1 to 100" in by_name["quality"]
