"""The deck's config: JSON in, a checked and fully resolved :class:`DeckConfig` out.

Everything that can be known before the first request is decided here, so the engine never
meets a bad value halfway through a paid run: unknown fields, wrong types, output names
that would escape ``output_dir`` or overwrite each other, missing reference images, an
unset ``${VAR}``. The first problem found stops loading with a :class:`ConfigError` whose
message is one line, ``field: problem``, the field in JSON-path form and a slide named by
its number as well as its place (``slide 4 (slides[3]).prompt``: people count slides from 1,
the list from 0), and the fix named where there is one.

Resolution happens here too, once: per-slide values over top-level ones over environment
variables over defaults, style presets applied to prompts, default file names chosen. What
comes out is plain frozen data; nothing downstream reads the environment again. The checks
of single values are :mod:`.fields`', the environment and secrets :mod:`.environment`',
paths and file names :mod:`.paths`'.

Reference images are read here, once each, and kept as the bytes to send
(:mod:`.references`). The config file itself is read by :mod:`.config_file`, which refuses
one that is not its reader's to trust.

Secrets: messages never quote the API key, the base URL (of which only the host is named,
scrubbed of the key), or any ``${VAR}`` expansion, and ``repr(DeckConfig)`` hides the key.
Whatever else is quoted from the config is cut to about 40 characters, so a pasted
20,000-character prompt does not flood the terminal.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..ledger.address import LEDGER_ENV, LedgerChoice, parse_ledger
from ..qa.quotes import expected_text
from ..qa.reading import require_qa
from ..service.edit_body import EditStep, Region
from ..service.model_ids import (
    EDITING_MODELS,
    PARAMETERS_DEPRECATED_ON,
    RETIRED_MODELS,
    can_edit,
)
from ..service.vertex import VertexTarget
from ..wording import plural
from . import environment, fields, paths
from .config_file import MAX_CONFIG_BYTES, read_json
from .references import ReferenceImage, check_inline_total, read_reference
from .schema import (
    DEFAULT_ASPECT_RATIO,
    DEFAULT_BASE_URL,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_TIMEOUT,
    NUMBER_RANGE,
    SEED_RANGE,
    Consistency,
    FlexFallback,
    ImageFormat,
    RunMode,
    ServiceTier,
    config_schema,
)
from .styles import apply_style, preset_name

__all__ = [
    "CONFIG_FIELDS",
    "MAX_CONFIG_BYTES",
    "SLIDE_FIELDS",
    "Consistency",
    "DeckConfig",
    "EditStep",
    "FlexFallback",
    "ImageFormat",
    "Region",
    "ServiceTier",
    "SlideSpec",
    "anchored",
    "config_schema",
    "load_config",
    "slide_where",
]


CONFIG_FIELDS = frozenset(
    {
        "slides", "output_dir", "model", "format", "quality", "temperature", "seed",
        "aspect_ratio", "image_size", "api_key", "base_url", "concurrency", "rpm", "timeout",
        "strict_model", "allow_insecure_http", "max_cost", "style_reference", "consistency",
        "mode", "variants", "check_text", "fix_text", "service_tier", "flex_fallback",
        "backend", "project", "location", "ledger",
    }
)  # fmt: skip
"""Top-level fields the validator reads; anything else is refused."""
SLIDE_FIELDS = frozenset(
    {
        "number", "prompt", "style", "layout", "output_filename", "aspect_ratio", "image_size",
        "temperature", "seed", "format", "quality", "lossless", "reference_image",
        "variants", "edits", "pick", "text", "check_text", "fix_text", "service_tier",
    }
)  # fmt: skip
"""Per-slide fields the validator reads; anything else is refused."""

_INDEPENDENT: Consistency = "none"
_STANDARD: RunMode = "standard"
_FALLBACK: FlexFallback = "standard"
_TIER: ServiceTier = "standard"


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
        temperature: sampling temperature, or ``None``: read and checked, never sent
            (Google deprecated it; the config's notices say so once).
        seed: sampling seed (int32), or ``None``.
        reference_image: absolute path of an image to send with the prompt, or ``None``.
        edits: the edit chain, applied in order on the picked candidate's image.
        variants: how many candidates are made of the slide (1-4).
        pick: which candidate (1..``variants``) is the slide, and what ``edits`` apply to.
        text: what the slide must say, as stated (``text``); empty when not stated.
        check_text: whether the slide's image is read back and its text checked (its own
            ``check_text``, else the top level's, else whether it states ``text``).
        fix_text: edit rounds a slide whose text missed is sent through (0 when unchecked).
        service_tier: the service tier its requests ask for (its own, else the top level's).
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
    edits: tuple[EditStep, ...] = ()
    variants: int = 1
    pick: int = 1
    text: tuple[str, ...] = ()
    check_text: bool = False
    fix_text: int = 0
    service_tier: ServiceTier = "standard"

    @property
    def expected_text(self) -> tuple[str, ...]:
        """The strings the text check looks for: ``text``, else the prompt's quotations;
        empty when the slide is not checked (:mod:`nanobanana_async.qa.quotes` says which
        quotation marks count)."""
        if not self.check_text:
            return ()
        return self.text or expected_text(self.prompt)


@dataclass(frozen=True, slots=True, repr=False)
class DeckConfig:
    """A whole run, resolved: the slides and the engine settings.

    Attributes:
        slides: the slides in config order.
        output_dir: absolute; may not exist yet (the engine creates it).
        model: the model id to send, without a ``models/`` prefix: on Google's endpoint a
            retired id's replacement (see ``notices``), unless ``strict_model`` is set.
        api_key: the key, or ``None`` when none was found; never shown by ``repr``. What
            sends a request takes it through :meth:`require_key`.
        base_url: http(s) URL without a trailing slash.
        concurrency: requests in flight, or ``None`` to let the engine derive it.
        rpm: requests per minute the quota allows, or ``None`` when unknown.
        max_cost: the run's budget in USD, or ``None`` for none.
        timeout: read timeout per request, in seconds.
        notices: one-line messages for the user about how the config was read (a retired
            model id mapped, an endpoint other than Google's); the CLI prints them and the
            results file keeps them.
        reference_images: each reference image the config names (the slides' and the
            style reference), by path, as read and checked by :func:`load_config`: the
            bytes the requests carry. A path missing here (a config built by hand) is read
            and checked when the jobs are planned.
        style_reference: absolute path of an image sent with every slide, or ``None``.
        consistency: ``"first-slide"``: the first slide in config order is generated
            first and its image is sent with every other slide; ``"none"``: the slides are
            independent.
        mode: ``"batch-api"``: the slides go to the Batch API as one job (half price, no
            per-minute quota, hours of wait); ``"standard"``: one request per slide.
        key_problem: why ``api_key`` is ``None`` (field and problem), said only by
            :meth:`require_key`: a plan or an export of a deck sends nothing and needs no key.
        flex_fallback: what a Flex slide the service keeps shedding becomes: ``"standard"``
            (sent again at the standard tier) or ``"fail"``.
        backend: ``"gemini"`` (the Developer API, an API key) or ``"vertex"`` (Vertex AI,
            Application Default Credentials; ``api_key`` is then ``None``).
        project: the Vertex project, or ``None``: the credentials' own, read by the run.
        location: the Vertex location (``global`` unless said).
        ledger: where the quota's pacing state is shared: the config's ``ledger``, else
            ``NANO_BANANA_LEDGER``, else ``None`` (the caller's default: the command line
            shares a file on this machine, the library paces alone).
    """

    slides: tuple[SlideSpec, ...]
    output_dir: Path
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    concurrency: int | None = None
    rpm: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_cost: float | None = None
    notices: tuple[str, ...] = ()
    reference_images: Mapping[Path, ReferenceImage] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    style_reference: Path | None = None
    consistency: Consistency = "none"
    mode: RunMode = "standard"
    key_problem: environment.KeyProblem | None = field(default=None, repr=False, compare=False)
    flex_fallback: FlexFallback = "standard"
    backend: str = "gemini"
    project: str | None = None
    location: str = "global"
    ledger: LedgerChoice | None = None

    def require_key(self, hint: str = "") -> str:
        """The key, for what is about to send a request.

        Args:
            hint: the way round a missing key for this caller (``; for a dry run ...``),
                appended to the problem.

        Raises:
            ConfigError: there is none: why (a variable not set, none found), and ``hint``.
        """
        if self.api_key:
            return self.api_key
        if self.backend == "vertex":
            return ""  # a bearer token, from the credentials the run reads
        where, problem = self.key_problem or environment.NO_KEY
        raise ConfigError(where, problem + hint)

    def __repr__(self) -> str:
        # Slides are summarised (each may carry a 30,000-character prompt); the key never
        # appears, and neither do credentials a proxy URL might hold.
        parts = urlsplit(self.base_url)
        base_url = self.base_url
        if "@" in parts.netloc:
            base_url = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        return (
            f"DeckConfig(slides=<{plural(len(self.slides), 'slide')}>, "
            f"output_dir={self.output_dir!r}, "
            f"model={self.model!r}, api_key={'***' if self.api_key else None!r}, "
            f"base_url={base_url!r}, concurrency={self.concurrency!r}, rpm={self.rpm!r}, "
            f"timeout={self.timeout!r})"
        )


def anchored(raw: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``raw`` with its relative paths made absolute against ``base_dir``.

    For a config given as a mapping that is written to a file elsewhere before it is read
    (the MCP server's runs): its paths keep meaning what they meant where it was given.
    """
    return paths.anchored(raw, base_dir)


def slide_where(index: int, number: int | None) -> str:
    """How a message names a slide: ``slide 4 (slides[3])``, by its number and its place.

    By its place alone (``slides[3]``) when its number is missing or bad: that is what the
    message is about, and the place is then all there is to go by.
    """
    place = f"slides[{index}]"
    return place if number is None else f"slide {number} ({place})"


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | DeckConfig,
    *,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> DeckConfig:
    """Read, check and resolve a config.

    Args:
        source: a path to a JSON file, an already parsed mapping, or a
            :class:`DeckConfig` (returned as is, so callers can pass any of the three).
        env: where environment fallbacks and ``${VAR}`` references are read;
            ``os.environ`` by default. Tests pass a plain dict.
        base_dir: where relative ``output_dir``, ``reference_image`` and
            ``style_reference`` paths start. By default the config file's folder, as most
            tools read their config files (the upstream skill read them from the working
            directory: a notice says so when the two differ); for a mapping, the working
            directory.

    Raises:
        ConfigError: the first problem found, as one line ``field: problem``.
    """
    if isinstance(source, DeckConfig):
        return source
    moved = False
    if isinstance(source, Mapping):
        raw: Mapping[str, Any] = source
    elif isinstance(source, str | os.PathLike):
        path = Path(os.fspath(source))
        raw = read_json(path)
        if base_dir is None:
            base_dir = path.absolute().parent
            moved = base_dir.resolve() != Path.cwd().resolve()
    else:
        raise ConfigError(
            "config", f"must be a path, a mapping or a DeckConfig, got {type(source).__name__}"
        )
    base = (base_dir or Path.cwd()).resolve()
    config = _resolve(raw, os.environ if env is None else env, base)
    where = raw.get("output_dir")
    if moved and isinstance(where, str) and not Path(where).expanduser().is_absolute():
        # Read from the working directory before: say where the deck goes now.
        notice = (
            f"output_dir: {fields.quote(where)} is read from the config file's folder, "
            f"{config.output_dir}, not the working directory"
        )
        config = replace(config, notices=(*config.notices, notice))
    return config


class _Defaults(NamedTuple):
    """Top-level image settings, already resolved, that slides inherit."""

    format: ImageFormat
    quality: int
    aspect_ratio: str
    image_size: str
    temperature: float | None
    seed: int | None
    variants: int
    check_text: bool | None
    fix_text: int
    service_tier: ServiceTier


def _resolve(raw: Mapping[str, Any], env: Mapping[str, str], base_dir: Path) -> DeckConfig:
    """Check the top level, then each slide in order, so the first problem is the one shown.

    ``slides`` first: a file without them is not a deck config (another program's, named
    by mistake or by an injected ``config_path``), and naming its unknown fields would
    read its field names out (``db_password: unknown field``). Only a key that looks like
    a misspelt ``slides`` is named.
    """
    slides_raw = raw.get("slides")
    if slides_raw is None:
        fields.check_known(
            {name: None for name in raw if fields.close_to(name, "slides")}, CONFIG_FIELDS, ""
        )
        raise ConfigError("slides", 'required: a list like [{"number": 1, "prompt": "..."}]')
    if not isinstance(slides_raw, list | tuple):
        raise ConfigError("slides", f"must be an array, got {fields.json_kind(slides_raw)}")
    fields.check_known(raw, CONFIG_FIELDS, "")
    if not slides_raw:
        raise ConfigError("slides", "must not be empty; add at least one slide")
    fields.slide_count(len(slides_raw), "slides")  # before any slide is read
    if raw.get("output_dir") is None:
        raise ConfigError("output_dir", "required: the folder to write the images to")
    output_dir = paths.output_dir(raw["output_dir"], base_dir)
    model = environment.model(raw.get("model"), env)
    defaults = _Defaults(
        format=environment.top_format(raw.get("format"), env),
        quality=environment.top_quality(raw.get("quality"), env),
        aspect_ratio=fields.optional(
            raw, "aspect_ratio", "", fields.aspect_ratio, DEFAULT_ASPECT_RATIO
        ),
        image_size=fields.optional(raw, "image_size", "", fields.image_size, DEFAULT_IMAGE_SIZE),
        temperature=fields.optional(raw, "temperature", "", fields.temperature, None),
        seed=fields.optional(raw, "seed", "", fields.seed, None),
        variants=fields.optional(raw, "variants", "", fields.variants, 1),
        check_text=fields.optional(raw, "check_text", "", fields.boolean, None),
        fix_text=fields.optional(raw, "fix_text", "", fields.fix_text, 0),
        service_tier=fields.optional(raw, "service_tier", "", fields.service_tier, _TIER),
    )
    api_key, key_problem = environment.api_key(raw.get("api_key"), env)
    backend, project, location = environment.backend(raw, env)
    if backend == "vertex":
        if raw.get("api_key") is not None:
            raise ConfigError(
                "api_key",
                "Vertex AI takes no API key (it signs in with Application Default "
                'Credentials); remove api_key, or set "backend": "gemini"',
            )
        api_key, key_problem = None, None  # a GEMINI_API_KEY in the environment is not sent
    base_url, base_url_from = environment.base_url(raw.get("base_url"), env)
    if backend == "vertex" and base_url == DEFAULT_BASE_URL:
        base_url = VertexTarget(project or "", location).root
    notices = environment.endpoint_notices(
        base_url,
        base_url_from,
        allow_insecure_http=fields.optional(raw, "allow_insecure_http", "", fields.boolean, False),
        api_key=api_key,
    )
    model, model_notices = environment.current_model(
        model,
        "NANO_BANANA_MODEL" if raw.get("model") is None else "model",
        base_url,
        strict=fields.optional(raw, "strict_model", "", fields.boolean, False),
    )
    notices += model_notices
    concurrency = fields.optional(raw, "concurrency", "", fields.concurrency, None)
    rpm = fields.optional(raw, "rpm", "", fields.rpm, None)
    timeout = fields.optional(raw, "timeout", "", fields.timeout, DEFAULT_TIMEOUT)
    max_cost = fields.optional(raw, "max_cost", "", fields.max_cost, None)
    consistency = fields.optional(raw, "consistency", "", fields.consistency, _INDEPENDENT)
    mode = fields.optional(raw, "mode", "", fields.mode, _STANDARD)
    if mode == "batch-api" and backend == "vertex":
        raise ConfigError(
            "mode",
            "batch-api is not supported on Vertex AI yet (its batches read and write Cloud "
            'Storage); use "mode": "standard", or "backend": "gemini"',
        )
    if mode == "batch-api" and consistency == "first-slide":
        raise ConfigError(
            "mode",
            'batch-api does not go with "consistency": "first-slide" (the slides wait for the '
            "first one's image, a batch sends them at once); make the first slide alone first",
        )
    flex_fallback = fields.optional(raw, "flex_fallback", "", fields.flex_fallback, _FALLBACK)
    ledger = fields.optional(raw, "ledger", "", parse_ledger, None)
    if ledger is None and env.get(LEDGER_ENV, "").strip():
        ledger = parse_ledger(env[LEDGER_ENV], LEDGER_ENV)
    references: dict[Path, ReferenceImage] = {}
    style_reference = _reference(raw, "", "style_reference", base_dir, references)

    slides: list[SlideSpec] = []
    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    for index, item in enumerate(slides_raw):
        slide = _slide(item, index, defaults, base_dir, references)
        where = slide_where(index, slide.number)
        own = slide.reference_image
        if style_reference is not None and own is not None and own != style_reference:
            # Both go in one request: the service's inline limit is theirs together.
            check_inline_total(
                (references[style_reference], references[own]), f"{where}.reference_image"
            )
        if slide.number in numbers:
            # The number is what is wrong: the places name the two slides.
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
                f"{where}.output_filename",
                f"{fields.quote(slide.output_filename)} is also the file of "
                f"{slide_where(other, slides[other].number)}; "
                "give each slide its own output_filename",
            )
        names[key] = index
        slides.append(slide)
    notices += _edit_notices(model, slides)
    if any(slide.temperature is not None for slide in slides):
        notices += (
            "temperature: Google deprecated the sampling parameters (temperature, top_p, "
            f"top_k) on {PARAMETERS_DEPRECATED_ON}; it is not sent (the slides made with it "
            "are kept as they are)",
        )
    _check_text_needs(defaults, slides)
    _check_tiers(mode, slides)
    return DeckConfig(
        slides=tuple(slides),
        output_dir=output_dir,
        model=model,
        api_key=api_key,
        base_url=base_url,
        concurrency=concurrency,
        rpm=rpm,
        timeout=timeout,
        max_cost=max_cost,
        notices=notices,
        reference_images=MappingProxyType(references),
        style_reference=style_reference,
        consistency=consistency,
        mode=mode,
        key_problem=key_problem,
        flex_fallback=flex_fallback,
        backend=backend,
        project=project,
        location=location,
        ledger=ledger,
    )


def _slide(
    raw: object,
    index: int,
    defaults: _Defaults,
    base_dir: Path,
    references: dict[Path, ReferenceImage],
) -> SlideSpec:
    """One slide: its own values over the top level's, the style applied, its file named."""
    place = slide_where(index, None)
    if not isinstance(raw, Mapping):
        raise ConfigError(
            place,
            f'must be an object like {{"number": 1, "prompt": "..."}}, got {fields.json_kind(raw)}',
        )
    try:
        named: int | None = fields.integer(raw.get("number"), "", *NUMBER_RANGE)
    except ConfigError:
        named = None  # missing or bad: said below, once an unknown field has had its say
    fields.check_known(raw, SLIDE_FIELDS, slide_where(index, named))
    if raw.get("number") is None:
        raise ConfigError(f"{place}.number", "required: the slide's number, like 1")
    number = fields.integer(raw["number"], f"{place}.number", *NUMBER_RANGE)
    at = f"{slide_where(index, number)}."
    prompt = fields.prompt(raw.get("prompt"), f"{at}prompt")
    style = fields.optional(raw, "style", at, fields.string, None)
    preset = preset_name(style)
    own_format = fields.optional(raw, "format", at, fields.image_format, None)
    filename, fmt = paths.output_filename(
        raw.get("output_filename"),
        f"{at}output_filename",
        number,
        own_format or defaults.format,
        explicit_format=own_format is not None,
    )
    lossless = fields.optional(raw, "lossless", at, fields.boolean, None)
    if lossless is None:
        # Presets are flat colour and text: lossless WebP is sharper and often smaller.
        lossless = preset is not None and fmt == "webp"
    elif lossless and fmt == "jpg":
        raise ConfigError(f"{at}lossless", "jpg has no lossless mode; use png or webp, or drop it")
    variants = fields.optional(raw, "variants", at, fields.variants, defaults.variants)
    pick = fields.optional(raw, "pick", at, fields.variants, 1)
    if pick > variants:
        raise ConfigError(
            f"{at}pick",
            f"is {pick}, but the slide has {plural(variants, 'candidate')}; "
            f"pick 1 to {variants}, or raise variants",
        )
    seed = fields.optional(raw, "seed", at, fields.seed, defaults.seed)
    if seed is not None and seed + variants - 1 > SEED_RANGE[1]:
        # Candidate k is sent with seed + k - 1, an int32 on the wire.
        raise ConfigError(
            f"{at}seed",
            f"{seed} + {variants - 1} (one more a candidate) passes the 32-bit limit "
            f"{SEED_RANGE[1]:,}; lower it",
        )
    stated = fields.optional(raw, "text", at, fields.text, ())
    check_text = fields.optional(raw, "check_text", at, fields.boolean, defaults.check_text)
    if check_text is None:
        check_text = bool(stated)
    own_fix = fields.optional(raw, "fix_text", at, fields.fix_text, None)
    if own_fix and not check_text:
        raise ConfigError(
            f"{at}fix_text",
            "corrects text the check found wrong, and this slide is not checked; "
            'set "check_text": true or give its "text", or drop fix_text',
        )
    fix = (defaults.fix_text if own_fix is None else own_fix) if check_text else 0
    return SlideSpec(
        number=number,
        prompt=prompt,
        full_prompt=apply_style(prompt, style) + _stated_sentence(prompt, stated),
        style=preset or style,
        layout=fields.optional(raw, "layout", at, fields.string, None),
        output_filename=filename,
        format=fmt,
        quality=fields.optional(raw, "quality", at, fields.quality, defaults.quality),
        lossless=lossless,
        aspect_ratio=fields.optional(
            raw, "aspect_ratio", at, fields.aspect_ratio, defaults.aspect_ratio
        ),
        image_size=fields.optional(raw, "image_size", at, fields.image_size, defaults.image_size),
        temperature=fields.optional(
            raw, "temperature", at, fields.temperature, defaults.temperature
        ),
        seed=seed,
        reference_image=_reference(raw, at, "reference_image", base_dir, references),
        edits=fields.optional(raw, "edits", at, fields.edits, ()),
        variants=variants,
        pick=pick,
        text=stated,
        check_text=check_text,
        fix_text=fix,
        service_tier=fields.optional(
            raw, "service_tier", at, fields.service_tier, defaults.service_tier
        ),
    )


def _stated_sentence(prompt: str, stated: tuple[str, ...]) -> str:
    """What the prompt sent adds for a slide's ``text`` that its prompt does not quote: the
    model (the real one, or the emulator) cannot draw words it was never told. ``""`` when
    every string is quoted already, so a deck without stated text keeps its requests."""
    quoted = set(expected_text(prompt))
    unsaid = [text for text in stated if text not in quoted]
    if not unsaid:
        return ""
    said = "; ".join(f"\u201c{t}\u201d" if '"' in t else f'"{t}"' for t in unsaid)
    return f"\n\nThe slide's text must read exactly: {said}."


def _check_text_needs(defaults: _Defaults, slides: list[SlideSpec]) -> None:
    """A deck that asks for the text check needs the qa extra; a top-level ``fix_text``
    needs some slide checked. Both refused here, before anything is sent."""
    checked = [index for index, slide in enumerate(slides) if slide.check_text]
    if defaults.fix_text and not checked:
        raise ConfigError(
            "fix_text",
            "corrects text the check found wrong, and no slide is checked; "
            'set "check_text": true or give slides their "text", or drop fix_text',
        )
    if checked:
        slide = slides[checked[0]]
        where = slide_where(checked[0], slide.number)
        if defaults.check_text:
            require_qa("check_text")
        require_qa(f"{where}.text" if slide.text else f"{where}.check_text")


def _check_tiers(mode: RunMode, slides: list[SlideSpec]) -> None:
    """The Batch API has its own price and no service tier: a deck asking both is refused."""
    if mode != "batch-api":
        return
    for index, slide in enumerate(slides):
        if slide.service_tier != "standard":
            raise ConfigError(
                f"{slide_where(index, slide.number)}.service_tier",
                f"{slide.service_tier} does not go with mode batch-api (a batch is billed at "
                "its own half price); drop service_tier, or drop the mode",
            )


def _edit_notices(model: str, slides: list[SlideSpec]) -> tuple[str, ...]:
    """Refuse an edit chain on a model known not to edit; a notice for one not known at all."""
    edited = [slide for slide in slides if slide.edits]
    if not edited:
        return ()
    verdict = can_edit(model)
    if verdict is False:
        index = slides.index(edited[0])
        raise ConfigError(
            f"{slide_where(index, edited[0].number)}.edits",
            f"model {fields.quote(model)} cannot edit images; use one of "
            f"{', '.join(sorted(EDITING_MODELS - set(RETIRED_MODELS)))}, "
            "or drop the edits",
        )
    if verdict is None:
        numbers = ", ".join(str(slide.number) for slide in edited[:5])
        more = ", ..." if len(edited) > 5 else ""
        return (
            f"model: {fields.quote(model)} is not known to edit images; the edits of "
            f"{'slide' if len(edited) == 1 else 'slides'} {numbers}{more} are sent as written",
        )
    return ()


def _reference(
    raw: Mapping[str, Any],
    at: str,
    name: str,
    base_dir: Path,
    references: dict[Path, ReferenceImage],
) -> Path | None:
    """A reference image (``raw[name]``), read into ``references`` unless already read."""
    path = fields.optional(raw, name, at, lambda v, w: paths.reference_image(v, w, base_dir), None)
    if path is not None and path not in references:
        references[path] = read_reference(path, f"{at}{name}")
    return path


# --- fields ---------------------------------------------------------------------------


# --- types ----------------------------------------------------------------------------
