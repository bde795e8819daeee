"""The checks of single values: type, range, and the one line that names the field.

Private to the config package: :mod:`.loading` and its neighbours call these while
they read a deck; nothing outside the package should.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from ..errors import ConfigError
from ..service.edit_body import EditStep, Region
from .schema import (
    ASPECT_RATIOS,
    CONCURRENCY_RANGE,
    CONSISTENCY_MODES,
    FIX_TEXT_RANGE,
    FLEX_FALLBACKS,
    FORMAT_SPELLINGS,
    IMAGE_SIZE_SPELLINGS,
    MAX_COST_RANGE,
    MAX_EDITS,
    MAX_PROMPT_CHARS,
    MAX_SLIDES,
    MAX_TEXT_CHARS,
    MAX_TEXT_STRINGS,
    MIN_REGION_SIDE,
    MODEL_PATTERN,
    QUALITY_RANGE,
    RPM_RANGE,
    RUN_MODES,
    SEED_RANGE,
    SERVICE_TIERS,
    TEMPERATURE_RANGE,
    TIMEOUT_RANGE,
    VARIANTS_RANGE,
    Consistency,
    FlexFallback,
    ImageFormat,
    RunMode,
    ServiceTier,
)

__all__: list[str] = []  # private to the config package


MODEL_ID = re.compile(MODEL_PATTERN)


_QUOTE_CHARS = 40
_CLOSE = 0.6  # how alike a field name and a known one must be to suggest it


_T = TypeVar("_T")


_D = TypeVar("_D")
_Choice = TypeVar("_Choice", bound=str)


def close_to(name: object, known: str) -> bool:
    """Whether ``name`` is likely a misspelling of ``known`` (as :func:`check_known` judges)."""
    return isinstance(name, str) and bool(
        difflib.get_close_matches(name.lower(), [known], n=1, cutoff=_CLOSE)
    )


def check_known(raw: Mapping[Any, Any], known: frozenset[str], where: str) -> None:
    """Refuse the first unknown field, suggesting the known one it most likely means."""
    for name in raw:
        if not isinstance(name, str):
            raise ConfigError(where or "config", f"field names must be strings, got {name!r:.40}")
        if name not in known:
            close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=_CLOSE)
            hint = f", did you mean {close[0]!r}?" if close else ""
            # Control characters would break the one-line message: show those escaped.
            shown = _cut(name) if name.isprintable() else quote(name)
            raise ConfigError(
                f"{where}.{shown}" if where else shown,
                f"unknown field{hint} (known: {', '.join(sorted(known))})",
            )


def prompt(value: object, where: str) -> str:
    if value is None:
        raise ConfigError(where, "required: what the slide should show")
    text = string(value, where)
    if not text.strip():
        raise ConfigError(where, "must not be empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise ConfigError(
            where, f"is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}, shorten it"
        )
    return text


_STEP_FIELDS = frozenset({"instruction", "region"})
_STEP_SHAPE = '"make the title bigger" or {"instruction": "...", "region": [x, y, w, h]}'
# A sum of two fractions written to reach the edge exactly (0.7 + 0.3) may land a hair past 1.
_EDGE = 1 + 1e-9


def instruction(value: object, where: str) -> str:
    """An edit step's instruction: a string, not blank, capped like a prompt."""
    if value is None:
        raise ConfigError(where, 'required: what to change, like "make the title bigger"')
    text = string(value, where)
    if not text.strip():
        raise ConfigError(where, "must not be empty: say what to change")
    if len(text) > MAX_PROMPT_CHARS:
        raise ConfigError(
            where, f"is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}, shorten it"
        )
    return text


def region(value: object, where: str) -> Region:
    """``[x, y, w, h]``: a box inside the image, in fractions of its width and height."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        got = f"{len(value)} values" if isinstance(value, list | tuple) else json_kind(value)
        raise ConfigError(
            where,
            "must be [x, y, w, h], fractions of the image from its top left like "
            f"[0.1, 0.05, 0.5, 0.2], got {got}",
        )
    x, y, w, h = (_number(item, f"{where}[{i}]") for i, item in enumerate(value))
    if x < 0 or y < 0:
        raise ConfigError(
            where, f"x and y must be 0 or more (the top left is 0, 0), got {x:g}, {y:g}"
        )
    if w < MIN_REGION_SIDE or h < MIN_REGION_SIDE:
        raise ConfigError(
            where, f"w and h must be at least {MIN_REGION_SIDE:g} of the image, got {w:g}, {h:g}"
        )
    for name, start, size, edge in (("x", x, w, "right"), ("y", y, h, "bottom")):
        if start + size > _EDGE:
            span = "w" if name == "x" else "h"
            raise ConfigError(
                where,
                f"reaches past the image's {edge} edge ({name} + {span} = {start + size:g}); "
                f"keep {name} + {span} at most 1",
            )
    return Region(x, y, w, h)


def edits(value: object, where: str) -> tuple[EditStep, ...]:
    """A slide's edit chain: at most :data:`MAX_EDITS` steps, each text or text and region."""
    if not isinstance(value, list | tuple):
        raise ConfigError(
            where, f"must be an array of steps like [{_STEP_SHAPE}], got {json_kind(value)}"
        )
    if len(value) > MAX_EDITS:
        raise ConfigError(
            where,
            f"has {len(value)} steps; the limit is {MAX_EDITS}, fold some into the prompt",
        )
    steps: list[EditStep] = []
    for index, raw in enumerate(value):
        at = f"{where}[{index}]"
        if isinstance(raw, str):
            steps.append(EditStep(instruction(raw, at)))
        elif isinstance(raw, Mapping):
            check_known(raw, _STEP_FIELDS, at)
            steps.append(
                EditStep(
                    instruction(raw.get("instruction"), f"{at}.instruction"),
                    optional(raw, "region", f"{at}.", region, None),
                )
            )
        else:
            raise ConfigError(at, f"must be {_STEP_SHAPE}, got {json_kind(raw)}")
    return tuple(steps)


def variants(value: object, where: str) -> int:
    return integer(value, where, *VARIANTS_RANGE)


def fix_text(value: object, where: str) -> int:
    return integer(value, where, *FIX_TEXT_RANGE)


def text(value: object, where: str) -> tuple[str, ...]:
    """A slide's ``text``: 1 to :data:`MAX_TEXT_STRINGS` strings, each with visible text."""
    if not isinstance(value, list | tuple):
        raise ConfigError(
            where, f'must be an array of strings like ["Q3 Results"], got {json_kind(value)}'
        )
    if not value:
        raise ConfigError(where, 'must list at least one string like "Q3 Results", or be left out')
    if len(value) > MAX_TEXT_STRINGS:
        raise ConfigError(
            where, f"has {len(value)} strings; the limit is {MAX_TEXT_STRINGS}, keep the key ones"
        )
    strings = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, str):
            raise ConfigError(at, f"must be a string, got {json_kind(item)}")
        if not item.strip():
            raise ConfigError(at, "must hold some visible text")
        if len(item) > MAX_TEXT_CHARS:
            raise ConfigError(
                at, f"has {len(item):,} characters; the limit is {MAX_TEXT_CHARS}, split it"
            )
        strings.append(item)
    return tuple(strings)


def slide_count(count: int, where: str) -> None:
    """Refuse a deck of more than :data:`MAX_SLIDES` before any slide of it is read."""
    if count > MAX_SLIDES:
        raise ConfigError(
            where,
            f"has {count:,} slides; the limit is {MAX_SLIDES:,} a deck, split it into "
            "several configs",
        )


def image_format(value: object, where: str) -> ImageFormat:
    text = string(value, where)
    try:
        return cast(ImageFormat, FORMAT_SPELLINGS[text.lower()])
    except KeyError:
        raise ConfigError(
            where, f"must be one of webp, png, jpg (or jpeg), got {quote(text)}"
        ) from None


def quality(value: object, where: str) -> int:
    return integer(value, where, *QUALITY_RANGE)


def concurrency(value: object, where: str) -> int:
    return integer(value, where, *CONCURRENCY_RANGE)


def seed(value: object, where: str) -> int:
    return integer(value, where, *SEED_RANGE)


def aspect_ratio(value: object, where: str) -> str:
    text = string(value, where)
    if text not in ASPECT_RATIOS:
        raise ConfigError(where, f"must be one of {' '.join(ASPECT_RATIOS)}, got {quote(text)}")
    return text


def image_size(value: object, where: str) -> str:
    text = string(value, where)
    if text not in IMAGE_SIZE_SPELLINGS:
        raise ConfigError(where, f"must be one of 512 1K 2K 4K, got {quote(text)}")
    return IMAGE_SIZE_SPELLINGS[text]


def _one_of(value: object, where: str, choices: tuple[_Choice, ...]) -> _Choice:
    """``value`` if it is one of ``choices`` exactly, typed as they are."""
    text = string(value, where)
    for choice in choices:
        if text == choice:
            return choice
    raise ConfigError(where, f"must be one of {', '.join(choices)}, got {quote(text)}")


def consistency(value: object, where: str) -> Consistency:
    return _one_of(value, where, CONSISTENCY_MODES)


def mode(value: object, where: str) -> RunMode:
    return _one_of(value, where, RUN_MODES)


def service_tier(value: object, where: str) -> ServiceTier:
    return _one_of(value, where, SERVICE_TIERS)


def flex_fallback(value: object, where: str) -> FlexFallback:
    return _one_of(value, where, FLEX_FALLBACKS)


def temperature(value: object, where: str) -> float:
    number = _number(value, where)
    low, high = TEMPERATURE_RANGE
    if not low <= number <= high:
        raise ConfigError(where, f"must be a number from {low:g} to {high:g}, got {number:g}")
    return number


def optional(
    raw: Mapping[str, Any], name: str, prefix: str, parse: Callable[[object, str], _T], default: _D
) -> _T | _D:
    """``raw[name]`` parsed, or ``default`` when left out or ``null`` (null means "not set")."""
    value = raw.get(name)
    return default if value is None else parse(value, prefix + name)


def string(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, f"must be a string, got {json_kind(value)}")
    return value


def boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, got {json_kind(value)}")
    return value


def _number(value: object, where: str) -> float:
    # bool is an int subclass: true is not 1 here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, f"must be a number, got {json_kind(value)}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise ConfigError(where, "is too large a number")
    if not math.isfinite(value):
        raise ConfigError(where, f"must be a finite number, got {value}")
    return float(value)


def _positive(value: object, where: str) -> float:
    number = _number(value, where)
    if number <= 0:
        raise ConfigError(where, f"must be a number greater than 0, got {number:g}")
    return number


def _between(value: object, where: str, low: float, high: float, unit: str) -> float:
    number = _positive(value, where)
    if not low <= number <= high:
        raise ConfigError(where, f"must be {low:g} to {high:g} {unit}, got {number:g}")
    return number


def rpm(value: object, where: str) -> float:
    return _between(value, where, *RPM_RANGE, "requests per minute")


def max_cost(value: object, where: str) -> float:
    return _between(value, where, *MAX_COST_RANGE, "USD")


def timeout(value: object, where: str) -> float:
    return _between(value, where, *TIMEOUT_RANGE, "seconds")


def integer(value: object, where: str, low: int, high: int) -> int:
    """An integer in ``low..high``; ``2.0`` counts, as in JSON Schema, ``true`` does not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, f"must be an integer, got {json_kind(value)}")
    span = f"{low}-{high}" if low >= 0 else f"from {low} to {high}"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(where, f"must be an integer {span}, got {_cut(repr(value))}")
        value = int(value)
    if not low <= value <= high:
        shown = _cut(str(value)) if value.bit_length() <= 64 else "a number beyond 64 bits"
        raise ConfigError(where, f"must be an integer {span}, got {shown}")
    return value


def json_kind(value: object) -> str:
    """The JSON name of ``value``'s type, for "must be X, got Y"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _cut(text: str) -> str:
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def quote(text: str) -> str:
    """``text`` quoted for a message, cut short: messages stay one readable line."""
    return repr(_cut(text))
