"""The deck's config: JSON in, a checked and fully resolved :class:`BatchConfig` out.

Everything that can be known before the first request is decided here, so the engine never
meets a bad value halfway through a paid run: unknown fields, wrong types, output names
that would escape ``output_dir`` or overwrite each other, missing reference images, an
unset ``${VAR}``. The first problem found stops loading with a :class:`ConfigError` whose
message is one line, ``field: problem``, the field in JSON-path form (``slides[3].prompt``)
and the fix named where there is one.

Resolution happens here too, once: per-slide values over top-level ones over environment
variables over defaults, style presets applied to prompts, default file names chosen. What
comes out is plain frozen data; nothing downstream reads the environment again.

Secrets: messages never quote the API key, the base URL, or any ``${VAR}`` expansion, and
``repr(BatchConfig)`` hides the key. Whatever else is quoted from the config is cut to
about 40 characters, so a pasted 20,000-character prompt does not flood the terminal.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

import orjson

from ..errors import ConfigError
from ..service.model_ids import DEFAULT_MODEL
from .schema import (
    ASPECT_RATIOS,
    CONCURRENCY_RANGE,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_BASE_URL,
    DEFAULT_FORMAT,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_QUALITY,
    DEFAULT_TIMEOUT,
    FORMAT_SPELLINGS,
    IMAGE_EXTENSIONS,
    IMAGE_SIZE_SPELLINGS,
    MAX_FILENAME_BYTES,
    MAX_PROMPT_CHARS,
    MODEL_PATTERN,
    NUMBER_RANGE,
    QUALITY_RANGE,
    REFERENCE_EXTENSIONS,
    RPM_RANGE,
    SEED_RANGE,
    TEMPERATURE_RANGE,
    TIMEOUT_RANGE,
    ImageFormat,
    config_schema,
)
from .styles import apply_style, preset_name

__all__ = [
    "CONFIG_FIELDS",
    "MAX_CONFIG_BYTES",
    "SLIDE_FIELDS",
    "BatchConfig",
    "ImageFormat",
    "SlideSpec",
    "config_schema",
    "load_config",
]


CONFIG_FIELDS = frozenset(
    {
        "slides", "output_dir", "model", "format", "quality", "temperature", "seed",
        "aspect_ratio", "image_size", "api_key", "base_url", "concurrency", "rpm", "timeout",
    }
)  # fmt: skip
"""Top-level fields the validator reads; anything else is refused."""
SLIDE_FIELDS = frozenset(
    {
        "number", "prompt", "style", "layout", "output_filename", "aspect_ratio", "image_size",
        "temperature", "seed", "format", "quality", "lossless", "reference_image",
    }
)  # fmt: skip
"""Per-slide fields the validator reads; anything else is refused."""

MAX_CONFIG_BYTES = 10 * 1024 * 1024
"""A config larger than this is refused unread: it is not a deck, it is the wrong file."""

_KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
_BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"
_VAR_REF = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: every real key
_MODEL = re.compile(MODEL_PATTERN)
_QUOTE_CHARS = 40
_TOO_BIG = "configs over 10 MB are refused (is this the right file?)"
_T = TypeVar("_T")
_D = TypeVar("_D")


@dataclass(frozen=True, slots=True)
class SlideSpec:
    """One slide, resolved: every value the engine needs, nothing left to default.

    Attributes:
        number: the user's slide number (unique in the config).
        prompt: the prompt as the user wrote it.
        full_prompt: the prompt to send: wrapped by a style preset, else ``prompt``.
        style: the style as written, or the canonical preset name when it names one.
        layout: the upstream skill's layout hint, carried but not used.
        output_filename: a plain file name to create inside ``output_dir``.
        format: the file format, consistent with ``output_filename``'s extension.
        quality: encoder quality 1-100.
        lossless: encode losslessly (meaningful for webp).
        aspect_ratio: the service's ``aspectRatio``.
        image_size: the service's ``imageSize``, upper-case ``K``.
        temperature: sampling temperature, or ``None`` for the model's default.
        seed: sampling seed (int32), or ``None``.
        reference_image: absolute path of an image to send with the prompt, or ``None``.
    """

    number: int
    prompt: str
    full_prompt: str
    style: str | None
    layout: str | None
    output_filename: str
    format: ImageFormat
    quality: int
    lossless: bool
    aspect_ratio: str
    image_size: str
    temperature: float | None
    seed: int | None
    reference_image: Path | None


@dataclass(frozen=True, slots=True, repr=False)
class BatchConfig:
    """A whole run, resolved: the slides and the engine settings.

    Attributes:
        slides: the slides in config order.
        output_dir: absolute; may not exist yet (the engine creates it).
        model: the model id, without a ``models/`` prefix.
        api_key: the key, or ``None`` when none was found; never shown by ``repr``.
        base_url: http(s) URL without a trailing slash.
        concurrency: requests in flight, or ``None`` to let the engine derive it.
        rpm: requests per minute the quota allows, or ``None`` when unknown.
        timeout: read timeout per request, in seconds.
    """

    slides: tuple[SlideSpec, ...]
    output_dir: Path
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    concurrency: int | None = None
    rpm: float | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __repr__(self) -> str:
        # Slides are summarised (each may carry a 30,000-character prompt); the key never
        # appears, and neither do credentials a proxy URL might hold.
        parts = urlsplit(self.base_url)
        base_url = self.base_url
        if "@" in parts.netloc:
            base_url = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        return (
            f"BatchConfig(slides=<{len(self.slides)} slides>, output_dir={self.output_dir!r}, "
            f"model={self.model!r}, api_key={'***' if self.api_key else None!r}, "
            f"base_url={base_url!r}, concurrency={self.concurrency!r}, rpm={self.rpm!r}, "
            f"timeout={self.timeout!r})"
        )


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | BatchConfig,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> BatchConfig:
    """Read, check and resolve a config.

    Args:
        source: a path to a JSON file, an already parsed mapping, or a
            :class:`BatchConfig` (returned as is, so callers can pass any of the three).
        env: where environment fallbacks and ``${VAR}`` references are read;
            ``os.environ`` by default. Tests pass a plain dict.
        base_dir: where relative ``output_dir`` and ``reference_image`` paths start;
            the working directory by default, as the upstream skill did.

    Raises:
        ConfigError: the first problem found, as one line ``field: problem``.
    """
    if isinstance(source, BatchConfig):
        return source
    if isinstance(source, Mapping):
        raw: Mapping[str, Any] = source
    elif isinstance(source, str | os.PathLike):
        raw = _read_json(Path(os.fspath(source)))
    else:
        raise ConfigError(
            "config", f"must be a path, a mapping or a BatchConfig, got {type(source).__name__}"
        )
    return _resolve(raw, os.environ if env is None else env, (base_dir or Path.cwd()).resolve())


def _read_json(path: Path) -> Mapping[str, Any]:
    """Parse the config file, refusing what cannot be a config with a one-line reason."""
    where = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(where, "is a directory; give the path of the config JSON file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(where, f"is {_megabytes(info.st_size)}; {_TOO_BIG}")
        with path.open("rb") as handle:
            # Read one byte past the limit: st_size is 0 for pipes and devices.
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        hint = " (pass a dict, not JSON text)" if where.lstrip().startswith("{") else ""
        raise ConfigError(where, f"file not found; check the config path{hint}") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(where, f"is over {_megabytes(MAX_CONFIG_BYTES)}; {_TOO_BIG}")
    data = data.removeprefix(b"\xef\xbb\xbf")  # Windows editors add a BOM; orjson refuses it
    if not data.strip():
        raise ConfigError(where, 'is empty; a config is a JSON object like {"slides": [...]}')
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            where, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(
            where, f'must hold a JSON object {{"slides": ...}} at the top, got {_kind(parsed)}'
        )
    return parsed


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class _Defaults(NamedTuple):
    """Top-level image settings, already resolved, that slides inherit."""

    format: ImageFormat
    quality: int
    aspect_ratio: str
    image_size: str
    temperature: float | None
    seed: int | None


def _resolve(raw: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> BatchConfig:
    """Check the top level, then each slide in order, so the first problem is the one shown."""
    _check_fields(raw, CONFIG_FIELDS, "")
    slides_raw = raw.get("slides")
    if slides_raw is None:
        raise ConfigError("slides", 'required: a list like [{"number": 1, "prompt": "..."}]')
    if not isinstance(slides_raw, list | tuple):
        raise ConfigError("slides", f"must be an array, got {_kind(slides_raw)}")
    if not slides_raw:
        raise ConfigError("slides", "must not be empty; add at least one slide")
    if raw.get("output_dir") is None:
        raise ConfigError("output_dir", "required: the folder to write the images to")
    output_dir = _output_dir(raw["output_dir"], base_dir)
    model = _model(raw.get("model"), env)
    defaults = _Defaults(
        format=_top_format(raw.get("format"), env),
        quality=_top_quality(raw.get("quality"), env),
        aspect_ratio=_field(raw, "aspect_ratio", "", _aspect_ratio, DEFAULT_ASPECT_RATIO),
        image_size=_field(raw, "image_size", "", _image_size, DEFAULT_IMAGE_SIZE),
        temperature=_field(raw, "temperature", "", _temperature, None),
        seed=_field(raw, "seed", "", _seed, None),
    )
    api_key = _api_key(raw.get("api_key"), env)
    base_url = _base_url(raw.get("base_url"), env)
    concurrency = _field(raw, "concurrency", "", _concurrency, None)
    rpm = _field(raw, "rpm", "", _rpm, None)
    timeout = _field(raw, "timeout", "", _timeout, DEFAULT_TIMEOUT)

    slides: list[SlideSpec] = []
    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    for index, item in enumerate(slides_raw):
        slide = _slide(item, f"slides[{index}]", defaults, base_dir)
        if slide.number in numbers:
            raise ConfigError(
                f"slides[{index}].number",
                f"{slide.number} is also the number of slides[{numbers[slide.number]}]; "
                "slide numbers must be unique",
            )
        numbers[slide.number] = index
        # macOS and Windows file systems ignore case and normalise Unicode: compare that way.
        key = unicodedata.normalize("NFC", slide.output_filename).casefold()
        if key in names:
            other = names[key]
            raise ConfigError(
                f"slides[{index}].output_filename",
                f"{_quote(slide.output_filename)} is also the file of slides[{other}] "
                f"(slide {slides[other].number}); give each slide its own output_filename",
            )
        names[key] = index
        slides.append(slide)
    return BatchConfig(
        slides=tuple(slides),
        output_dir=output_dir,
        model=model,
        api_key=api_key,
        base_url=base_url,
        concurrency=concurrency,
        rpm=rpm,
        timeout=timeout,
    )


def _slide(raw: object, where: str, defaults: _Defaults, base_dir: Path) -> SlideSpec:
    """One slide: its own values over the top level's, the style applied, its file named."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            where, f'must be an object like {{"number": 1, "prompt": "..."}}, got {_kind(raw)}'
        )
    _check_fields(raw, SLIDE_FIELDS, where)
    at = f"{where}."
    if raw.get("number") is None:
        raise ConfigError(f"{at}number", "required: the slide's number, like 1")
    number = _int(raw["number"], f"{at}number", *NUMBER_RANGE)
    prompt = _prompt(raw.get("prompt"), f"{at}prompt")
    style = _field(raw, "style", at, _str, None)
    preset = preset_name(style)
    own_format = _field(raw, "format", at, _format, None)
    filename, fmt = _output_filename(
        raw.get("output_filename"),
        f"{at}output_filename",
        number,
        own_format or defaults.format,
        explicit_format=own_format is not None,
    )
    lossless = _field(raw, "lossless", at, _bool, None)
    if lossless is None:
        # Presets are flat colour and text: lossless WebP is sharper and often smaller.
        lossless = preset is not None and fmt == "webp"
    elif lossless and fmt == "jpg":
        raise ConfigError(f"{at}lossless", "jpg has no lossless mode; use png or webp, or drop it")
    return SlideSpec(
        number=number,
        prompt=prompt,
        full_prompt=apply_style(prompt, style),
        style=preset or style,
        layout=_field(raw, "layout", at, _str, None),
        output_filename=filename,
        format=fmt,
        quality=_field(raw, "quality", at, _quality, defaults.quality),
        lossless=lossless,
        aspect_ratio=_field(raw, "aspect_ratio", at, _aspect_ratio, defaults.aspect_ratio),
        image_size=_field(raw, "image_size", at, _image_size, defaults.image_size),
        temperature=_field(raw, "temperature", at, _temperature, defaults.temperature),
        seed=_field(raw, "seed", at, _seed, defaults.seed),
        reference_image=_field(
            raw, "reference_image", at, lambda v, w: _reference_image(v, w, base_dir), None
        ),
    )


# --- fields ---------------------------------------------------------------------------


def _check_fields(raw: Mapping[Any, Any], known: frozenset[str], where: str) -> None:
    """Refuse the first unknown field, suggesting the known one it most likely means."""
    for name in raw:
        if not isinstance(name, str):
            raise ConfigError(where or "config", f"field names must be strings, got {name!r:.40}")
        if name not in known:
            close = difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.6)
            hint = f", did you mean {close[0]!r}?" if close else ""
            # Control characters would break the one-line message: show those escaped.
            shown = _cut(name) if name.isprintable() else _quote(name)
            raise ConfigError(
                f"{where}.{shown}" if where else shown,
                f"unknown field{hint} (known: {', '.join(sorted(known))})",
            )


def _prompt(value: object, where: str) -> str:
    if value is None:
        raise ConfigError(where, "required: what the slide should show")
    text = _str(value, where)
    if not text.strip():
        raise ConfigError(where, "must not be empty")
    if len(text) > MAX_PROMPT_CHARS:
        raise ConfigError(
            where, f"is {len(text):,} characters; the limit is {MAX_PROMPT_CHARS:,}, shorten it"
        )
    return text


def _output_dir(value: object, base_dir: Path) -> Path:
    """Absolute and usable: it or its first existing ancestor must be a directory."""
    text = _str(value, "output_dir")
    if not text.strip():
        raise ConfigError("output_dir", "must not be empty; give the folder for the images")
    if "\x00" in text:
        raise ConfigError("output_dir", "must not contain a NUL character")
    if "${" in text:
        raise ConfigError("output_dir", "${VAR} is not expanded here; write the path itself")
    path = _absolute(text, base_dir, "output_dir")
    # The engine creates what is missing; what exists on the way must be directories.
    for existing in (path, *path.parents):
        try:
            info = existing.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError("output_dir", f"cannot use {existing}: {exc.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            break
        if existing == path:
            raise ConfigError("output_dir", f"{path} is a file, not a directory")
        raise ConfigError("output_dir", f"{path} cannot be created: {existing} is a file")
    return path


def _reference_image(value: object, where: str, base_dir: Path) -> Path:
    """An image we can read now, rather than a failure in the middle of a paid run."""
    text = _str(value, where)
    if not text.strip() or "\x00" in text:
        raise ConfigError(where, "must be the path of an image file")
    if not text.lower().endswith(REFERENCE_EXTENSIONS):
        raise ConfigError(where, f"must be a {', '.join(REFERENCE_EXTENSIONS)} image")
    path = _absolute(text, base_dir, where)
    if not path.exists():
        raise ConfigError(where, f"file not found: {path}")
    if not path.is_file():
        raise ConfigError(where, f"{path} is not a file")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def _absolute(text: str, base_dir: Path, where: str) -> Path:
    try:
        return (base_dir / Path(text).expanduser()).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loop, unknown ~user
        raise ConfigError(where, f"cannot resolve path {_quote(text)}: {exc}") from None


def _output_filename(
    value: object, where: str, number: int, fmt: ImageFormat, *, explicit_format: bool
) -> tuple[str, ImageFormat]:
    """The file name and the format it implies; the checks keep it inside ``output_dir``."""
    if value is None:
        return f"slide-{number:02d}.{fmt}", fmt
    name = _str(value, where)
    _check_plain_name(name, where)
    _, dot, ext = name.rpartition(".")
    if not dot:
        name = f"{name}.{fmt}"
    else:
        implied = IMAGE_EXTENSIONS.get(f".{ext.lower()}")
        if implied is None:
            raise ConfigError(
                where,
                f"extension {_quote('.' + ext)} is not an image's; end it in .webp, .png, .jpg "
                "or .jpeg, or leave the extension off",
            )
        if explicit_format and implied != fmt:
            raise ConfigError(
                where, f"extension .{ext} contradicts this slide's format {fmt!r}; change one"
            )
        fmt = cast(ImageFormat, implied)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_FILENAME_BYTES:
        raise ConfigError(
            where, f"is {size} bytes in UTF-8; the limit is {MAX_FILENAME_BYTES}, shorten it"
        )
    return name, fmt


def _check_plain_name(name: str, where: str) -> None:
    """Refuse anything but one plain, visible name: the file must land in ``output_dir``.

    Refusing by shape, not by resolving and comparing prefixes, leaves no symlink or
    ``..`` trick to reason about, and keeps the rule the same on every platform.
    """
    if not name:
        raise ConfigError(where, "must not be empty; leave it out for slide-NN.<format>")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ConfigError(where, "must not contain control characters")
    if name in {".", ".."} or "/" in name or "\\" in name:
        raise ConfigError(
            where, f"{_quote(name)} is not a plain file name; no '/', '\\' or '..', "
            "the file goes straight into output_dir"
        )  # fmt: skip
    if ":" in name:
        raise ConfigError(where, "must not contain ':' (a drive or stream separator on Windows)")
    if name.startswith("."):
        raise ConfigError(where, "must not start with '.' (hidden files and our temporary files)")
    if name != name.strip() or name.endswith("."):
        raise ConfigError(where, "must not start or end with a space or end with '.'")


def _model(value: object, env: Mapping[str, str]) -> str:
    """The config's model, else ``NANO_BANANA_MODEL``, else the default; URL-safe."""
    where = "model"
    if value is not None:
        text = _str(value, where)
    elif env.get("NANO_BANANA_MODEL", "").strip():
        where = "NANO_BANANA_MODEL"
        text = env[where].strip()
    else:
        return DEFAULT_MODEL
    if not _MODEL.fullmatch(text):
        raise ConfigError(where, f"must be a model id like {DEFAULT_MODEL!r}, got {_quote(text)}")
    return text.removeprefix("models/")


def _top_format(value: object, env: Mapping[str, str]) -> ImageFormat:
    """The config's format, else ``NANO_BANANA_FORMAT``, else webp."""
    if value is not None:
        return _format(value, "format")
    return _format(
        env.get("NANO_BANANA_FORMAT", "").strip() or DEFAULT_FORMAT, "NANO_BANANA_FORMAT"
    )


def _format(value: object, where: str) -> ImageFormat:
    text = _str(value, where)
    try:
        return cast(ImageFormat, FORMAT_SPELLINGS[text.lower()])
    except KeyError:
        raise ConfigError(
            where, f"must be one of webp, png, jpg (or jpeg), got {_quote(text)}"
        ) from None


def _top_quality(value: object, env: Mapping[str, str]) -> int:
    """The config's quality, else ``NANO_BANANA_QUALITY``, else 90."""
    if value is not None:
        return _quality(value, "quality")
    text = env.get("NANO_BANANA_QUALITY", "").strip()
    if not text:
        return DEFAULT_QUALITY
    if re.fullmatch(r"[+-]?\d{1,6}", text) and QUALITY_RANGE[0] <= int(text) <= QUALITY_RANGE[1]:
        return int(text)
    raise ConfigError("NANO_BANANA_QUALITY", f"must be an integer 1-100, got {_quote(text)}")


def _quality(value: object, where: str) -> int:
    return _int(value, where, *QUALITY_RANGE)


def _concurrency(value: object, where: str) -> int:
    return _int(value, where, *CONCURRENCY_RANGE)


def _seed(value: object, where: str) -> int:
    return _int(value, where, *SEED_RANGE)


def _aspect_ratio(value: object, where: str) -> str:
    text = _str(value, where)
    if text not in ASPECT_RATIOS:
        raise ConfigError(where, f"must be one of {' '.join(ASPECT_RATIOS)}, got {_quote(text)}")
    return text


def _image_size(value: object, where: str) -> str:
    text = _str(value, where)
    if text not in IMAGE_SIZE_SPELLINGS:
        raise ConfigError(where, f"must be one of 512 1K 2K 4K, got {_quote(text)}")
    return IMAGE_SIZE_SPELLINGS[text]


def _temperature(value: object, where: str) -> float:
    number = _number(value, where)
    low, high = TEMPERATURE_RANGE
    if not low <= number <= high:
        raise ConfigError(where, f"must be a number from {low:g} to {high:g}, got {number:g}")
    return number


def _api_key(value: object, env: Mapping[str, str]) -> str | None:
    """The config's key (``${VAR}`` expanded), else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``.

    ``None`` when there is none: the engine decides whether that matters (the emulator
    needs no key). Surrounding whitespace is dropped, as ``$(cat keyfile)`` leaves a newline.
    """
    if value is not None:
        where = "api_key"
        key = _expand(_str(value, where), where, env, "to read GEMINI_API_KEY").strip()
        if not key:
            raise ConfigError(where, 'is empty; remove it, or write "${GEMINI_API_KEY}"')
    else:
        found = [(name, env[name].strip()) for name in _KEY_ENV if env.get(name, "").strip()]
        if not found:
            return None
        where, key = found[0]
    if not _KEY_CHARS.fullmatch(key):
        # Nothing of the value is shown: a key with a typo is still mostly a key.
        raise ConfigError(where, "has spaces, control or non-ASCII characters; no API key does")
    return key


def _base_url(value: object, env: Mapping[str, str]) -> str:
    """The config's URL (``${VAR}`` expanded), else ``GOOGLE_GEMINI_BASE_URL``, else Google's."""
    if value is not None:
        where = "base_url"
        url = _expand(_str(value, where), where, env, "to use the default").strip()
    else:
        where = _BASE_URL_ENV
        url = env.get(where, "").strip()
        if not url:
            return DEFAULT_BASE_URL
    # The value is never quoted: a proxy URL may carry credentials.
    problem = f"must be an http(s) URL with a host, like {DEFAULT_BASE_URL}"
    if any(char <= " " or char == "\x7f" for char in url):
        raise ConfigError(where, problem + " (it contains spaces or control characters)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port, raising ValueError when it is bad
    except ValueError:
        raise ConfigError(where, problem) from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ConfigError(where, problem)
    if "?" in url or "#" in url:
        raise ConfigError(where, problem + ", without ?query or #fragment")
    return url.rstrip("/")


def _expand(text: str, where: str, env: Mapping[str, str], fallback: str) -> str:
    """Replace each ``${NAME}`` in ``text`` by the variable's value; unset is an error."""

    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _VAR_NAME.fullmatch(name):
            raise ConfigError(where, "has a malformed ${...}; write ${NAME}, letters, digits, _")
        if not env.get(name):
            raise ConfigError(
                where,
                f"environment variable {name} is not set; set it, or remove {where} {fallback}",
            )
        return env[name]

    if "${" in _VAR_REF.sub("", text):
        raise ConfigError(where, "has an unclosed ${; write ${NAME}")
    return _VAR_REF.sub(value_of, text)


# --- types ----------------------------------------------------------------------------


def _field(
    raw: Mapping[str, Any], name: str, prefix: str, parse: Callable[[object, str], _T], default: _D
) -> _T | _D:
    """``raw[name]`` parsed, or ``default`` when left out or ``null`` (null means "not set")."""
    value = raw.get(name)
    return default if value is None else parse(value, prefix + name)


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(where, f"must be a string, got {_kind(value)}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(where, f"must be true or false, got {_kind(value)}")
    return value


def _number(value: object, where: str) -> float:
    # bool is an int subclass: true is not 1 here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, f"must be a number, got {_kind(value)}")
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


def _rpm(value: object, where: str) -> float:
    return _between(value, where, *RPM_RANGE, "requests per minute")


def _timeout(value: object, where: str) -> float:
    return _between(value, where, *TIMEOUT_RANGE, "seconds")


def _int(value: object, where: str, low: int, high: int) -> int:
    """An integer in ``low..high``; ``2.0`` counts, as in JSON Schema, ``true`` does not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, f"must be an integer, got {_kind(value)}")
    span = f"{low}-{high}" if low >= 0 else f"from {low} to {high}"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(where, f"must be an integer {span}, got {_cut(repr(value))}")
        value = int(value)
    if not low <= value <= high:
        shown = _cut(str(value)) if value.bit_length() <= 64 else "a number beyond 64 bits"
        raise ConfigError(where, f"must be an integer {span}, got {shown}")
    return value


def _kind(value: object) -> str:
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


def _quote(text: str) -> str:
    """``text`` quoted for a message, cut short: messages stay one readable line."""
    return repr(_cut(text))
