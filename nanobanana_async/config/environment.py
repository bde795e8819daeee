"""What comes from the environment: defaults (``NANO_BANANA_*``), the key, the endpoint
(and what it means for the key), and the model id the endpoint serves (a retired id is
mapped on Google's).

The key is looked up here and nowhere else. A config reads it from the environment only as
``"${GEMINI_API_KEY}"`` or ``"${GOOGLE_API_KEY}"``, the variables the README names: a
config is often written by an agent from text it was given, and ``"${OTHER_SECRET}"``
would send any secret of the environment as the key. Nothing else is expanded, and
``base_url`` never: a ``${...}`` there could only put the key in a URL, a log line or a
DNS query (the seed design's whole ``"${GOOGLE_GEMINI_BASE_URL}"`` reads as no base_url).
A key variable that is not set is an error that names the variable, never a value, and it
waits: only what sends a request needs a key, so a plan, an export or a dry run of the
README's own config must not fail for want of one. What is wrong in the config's text
(``$NAME`` without braces, another variable, a malformed ``${``) is said at once.

Where the key goes is said, not assumed: a base URL off Google's endpoint gets a notice
naming its host (this machine's included: a port of this machine may be another user's
server, which :mod:`..service.endpoint` checks before anything is sent), and plain
``http://`` to another machine, which would carry the key and every prompt unencrypted, is
refused unless the config sets ``"allow_insecure_http": true`` (and then noticed too). Only
the config can allow it, not an environment variable: the permission stays visible in the
deck it applies to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, redact
from ..service import endpoint
from ..service.model_ids import DEFAULT_MODEL, RETIRED_ON, replacement_for, shutdown_listed
from . import fields
from .schema import (
    DEFAULT_BASE_URL,
    DEFAULT_FORMAT,
    DEFAULT_QUALITY,
    QUALITY_RANGE,
    ImageFormat,
)

__all__: list[str] = []  # private to the config package


_KEY_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")


_BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"


_BASE_URL_REF = f"${{{_BASE_URL_ENV}}}"


_VAR_REF = re.compile(r"\$\{([^}]*)\}")


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_KEY_REFS = tuple(f"${{{name}}}" for name in _KEY_ENV)  # what an api_key may read


_SHELL_NAME = re.compile(r"\$([A-Z_][A-Z0-9_]*)\b")


_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space: every real key


def model(value: object, env: Mapping[str, str]) -> str:
    """The config's model, else ``NANO_BANANA_MODEL``, else the default; URL-safe."""
    where = "model"
    if value is not None:
        text = fields.string(value, where)
    elif env.get("NANO_BANANA_MODEL", "").strip():
        where = "NANO_BANANA_MODEL"
        text = env[where].strip()
    else:
        return DEFAULT_MODEL
    if not fields.MODEL_ID.fullmatch(text):
        raise ConfigError(
            where, f"must be a model id like {DEFAULT_MODEL!r}, got {fields.quote(text)}"
        )
    return text.removeprefix("models/")


def current_model(
    model: str, where: str, base_url: str, *, strict: bool
) -> tuple[str, tuple[str, ...]]:
    """``model``, or on Google's endpoint the id that replaced it if it is retired.

    Returns the id to use and the notices for the user: one line when an id was mapped.
    ``strict`` (``"strict_model": true``) keeps the id as given, as does any other host:
    a proxy that still serves an old id keeps working, and one that does not answers 404,
    which the client turns into a message naming the replacement.
    """
    replacement = replacement_for(model)
    # Where a retired id is sure to fail: Google's own service, and the emulator that
    # ``run --emulator`` embeds, which plays it (a dry run maps as the real run would).
    # Any other host may be a proxy that still serves the old id.
    host = urlsplit(base_url).hostname
    google = endpoint.is_google(host) or endpoint.is_embedded_emulator(host)
    shutdown = shutdown_listed(model)
    if shutdown is not None and google:
        # Listed, not known to be gone: the id is sent, and a 404 names the fix.
        return model, (
            f"{where}: Google lists {model} for shutdown on {shutdown}; "
            "if the service answers 404, use gemini-3.1-flash-image",
        )
    if replacement is None or strict or not google:
        return model, ()
    notice = (
        f"{where}: {model} was retired on {RETIRED_ON}; using {replacement} "
        '(set "strict_model": true to keep it)'
    )
    return replacement, (notice,)


def top_format(value: object, env: Mapping[str, str]) -> ImageFormat:
    """The config's format, else ``NANO_BANANA_FORMAT``, else webp."""
    if value is not None:
        return fields.image_format(value, "format")
    return fields.image_format(
        env.get("NANO_BANANA_FORMAT", "").strip() or DEFAULT_FORMAT, "NANO_BANANA_FORMAT"
    )


def top_quality(value: object, env: Mapping[str, str]) -> int:
    """The config's quality, else ``NANO_BANANA_QUALITY``, else 90."""
    if value is not None:
        return fields.quality(value, "quality")
    text = env.get("NANO_BANANA_QUALITY", "").strip()
    if not text:
        return DEFAULT_QUALITY
    if re.fullmatch(r"[+-]?\d{1,6}", text) and QUALITY_RANGE[0] <= int(text) <= QUALITY_RANGE[1]:
        return int(text)
    raise ConfigError("NANO_BANANA_QUALITY", f"must be an integer 1-100, got {fields.quote(text)}")


_TRUE = frozenset({"1", "true", "yes", "on"})
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.:-]{1,100}$")
_LOCATION = re.compile(r"^[a-z]+(?:-[a-z]+[0-9]*)*$")


def backend(raw: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str | None, str]:
    """``("gemini" | "vertex", project, location)``: the config's, else the variables the
    official SDK reads (``GOOGLE_GENAI_USE_VERTEXAI``, ``GOOGLE_CLOUD_PROJECT``,
    ``GOOGLE_CLOUD_LOCATION``). The project may be unknown here: Application Default
    Credentials may name one when the run reads them."""
    value = raw.get("backend")
    if value is None:
        flag = env.get("GOOGLE_GENAI_USE_VERTEXAI", "").strip().lower()
        name = "vertex" if flag in _TRUE else "gemini"
    else:
        name = fields.string(value, "backend")
        if name not in ("gemini", "vertex"):
            raise ConfigError(
                "backend",
                'must be "gemini" (an API key) or "vertex" (Google Cloud), '
                f"got {fields.quote(name)}",
            )
    project = _named(raw.get("project"), "project", env, "GOOGLE_CLOUD_PROJECT", _PROJECT)
    location = _named(raw.get("location"), "location", env, "GOOGLE_CLOUD_LOCATION", _LOCATION)
    if name == "gemini":
        for field_name in ("project", "location"):
            if raw.get(field_name) is not None:
                raise ConfigError(
                    field_name, 'is for "backend": "vertex" only; add it, or remove this field'
                )
    return name, project, location or "global"


def _named(
    value: object, where: str, env: Mapping[str, str], variable: str, shape: re.Pattern[str]
) -> str | None:
    if value is None:
        value, where = env.get(variable, "").strip() or None, variable
        if value is None:
            return None
    text = fields.string(value, where).strip()
    if not shape.match(text):
        raise ConfigError(where, f"is not a Google Cloud {where.split('_')[-1].lower()} id")
    return text


KeyProblem = tuple[str, str]
"""Why there is no usable key, as the field and the problem of the :class:`ConfigError` that
what sends a request raises (:meth:`~.loading.DeckConfig.require_key`)."""

NO_KEY: KeyProblem = ("api_key", "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY)")


def api_key(value: object, env: Mapping[str, str]) -> tuple[str | None, KeyProblem | None]:
    """The config's key (``"${GEMINI_API_KEY}"`` read), else ``GEMINI_API_KEY``, else
    ``GOOGLE_API_KEY``.

    Returns the key, or ``None`` and why: a problem of the environment's (a variable not
    set, a value no key has) is kept for what sends a request, which alone needs a key;
    :data:`NO_KEY` when none was found. Surrounding whitespace is dropped, as ``$(cat
    keyfile)`` leaves a newline.

    Raises:
        ConfigError: the config's own text is wrong (not a string, empty, ``$NAME``, a
            ``${...}`` other than the two key variables, or not alone, a written key with
            spaces).
    """
    if value is not None:
        where = "api_key"
        text = fields.string(value, where)
        _refuse_shell_variable(text, where)
        name = _key_variable(text.strip(), where)
        if name is not None:
            key = env.get(name, "").strip()
            if not key:
                problem = f"environment variable {name} is not set"
                return None, (where, f"{problem}; set it, or remove {where} to read {_KEY_ENV[0]}")
        elif not text.strip():
            raise ConfigError(where, 'is empty; remove it, or write "${GEMINI_API_KEY}"')
        else:
            key = text.strip()
        from_text = name is None
    else:
        found = [(name, env[name].strip()) for name in _KEY_ENV if env.get(name, "").strip()]
        if not found:
            return None, NO_KEY
        where, key = found[0]
        from_text = False
    if not _KEY_CHARS.fullmatch(key):
        # Nothing of the value is shown: a key with a typo is still mostly a key.
        problem = "has spaces, control or non-ASCII characters; no API key does"
        if from_text:
            raise ConfigError(where, problem)
        return None, (where, problem)
    return key, None


def _key_variable(text: str, where: str) -> str | None:
    """The key variable ``text`` reads (``${GEMINI_API_KEY}``), or ``None`` for a written key.

    Raises:
        ConfigError: a malformed ``${``, another variable, or a reference not alone.
    """
    if "${" not in text:
        return None
    if "${" in _VAR_REF.sub("", text):
        raise ConfigError(where, "has an unclosed ${; write ${GEMINI_API_KEY}")
    names = _VAR_REF.findall(text)
    if not all(_VAR_NAME.fullmatch(name) for name in names):
        raise ConfigError(where, "has a malformed ${...}; write ${GEMINI_API_KEY}")
    allowed = " or ".join(f'"{ref}"' for ref in _KEY_REFS)
    others = [name for name in names if name not in _KEY_ENV]
    if others:
        # The name is the config's own text, never a value: it may be said.
        raise ConfigError(
            where,
            f"${{{others[0]}}} is not read: a config reads the key only as {allowed}; "
            "put the key in one of those variables",
        )
    if text not in _KEY_REFS:
        raise ConfigError(where, f"must be {allowed} alone, or the key itself")
    return str(names[0])


def base_url(value: object, env: Mapping[str, str]) -> tuple[str, str]:
    """The config's URL, else ``GOOGLE_GEMINI_BASE_URL``, else Google's; never expanded.

    ``"${GOOGLE_GEMINI_BASE_URL}"`` as the whole value (the seed design's example config
    has it) means what leaving ``base_url`` out means: that variable, else Google's.

    Returns the URL and where it came from (``base_url`` or the variable's name).
    """
    if value is not None and fields.string(value, "base_url").strip() == _BASE_URL_REF:
        value = None  # the seed design's own spelling of "the variable, else Google's"
    if value is not None:
        where = "base_url"
        text = fields.string(value, where)
        _refuse_shell_variable(text, where)
        if "${" in text:
            raise ConfigError(
                where,
                f'${{...}} is not expanded here but as the whole "{_BASE_URL_REF}"; write the '
                "URL itself (the key goes only in the x-goog-api-key header, never in a URL)",
            )
        url = text.strip()
    else:
        where = _BASE_URL_ENV
        url = env.get(where, "").strip()
        if not url:
            return DEFAULT_BASE_URL, where
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
    return url.rstrip("/"), where


def endpoint_notices(
    url: str, where: str, *, allow_insecure_http: bool, api_key: str | None
) -> tuple[str, ...]:
    """What the user must be told about where ``url`` sends the key: one line, or none.

    Nothing for Google's endpoint over https, the embedded emulator, or a port of this
    machine where a server of the user's own listens. Any other port of this machine
    (loopback, over http or https; nobody listening yet, or no ``/proc/net`` to tell) is
    named: the key does not leave the machine, but the port may become another user's
    server, so the client sends only to one of this user's
    (:func:`~..service.endpoint.foreign_listener`).

    Raises:
        ConfigError: plain http to another machine without ``allow_insecure_http``; a URL
            holding the key (it would be in every log line and DNS query on the way).
    """
    parts = urlsplit(url)
    host = parts.hostname
    if endpoint.is_embedded_emulator(host):
        return ()  # in process, with a dry run's own stand-in key
    if redact(url, api_key) != url:
        raise ConfigError(
            where,
            "holds an API key; remove it: the key goes only in the x-goog-api-key header",
        )
    if endpoint.is_loopback(host):
        if endpoint.own_listener(url):
            return ()  # a server of the user's own listens there: the key stays with them
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        return (
            f"{where}: requests and the key go to port {port} on this machine, to a server "
            "of this user's only (not Google's endpoint)",
        )
    plain = parts.scheme.lower() == "http"
    if plain and not allow_insecure_http:
        raise ConfigError(
            where,
            f"plain http to {_shown_host(host, api_key)} would send the key unencrypted; "
            'use https, or set "allow_insecure_http": true to accept that',
        )
    facts = []
    if not endpoint.is_google(host):
        facts.append(
            f"requests and the key go to {_shown_host(host, api_key)} (not Google's endpoint)"
        )
    if plain:
        facts.append("plain http: the key travels unencrypted")
    return (f"{where}: {'; '.join(facts)}",) if facts else ()


_SHOWN_HOST_CHARS = 80


def _shown_host(host: str | None, api_key: str | None) -> str:
    """``host`` fit for a message: ASCII, one line, the key scrubbed, its end kept.

    Only the host is ever shown, never the URL (credentials, tokens in a path). Anything
    outside printable ASCII is escaped, so a right-to-left override cannot make the line
    read as another host, and a long name is cut at the front: the end names its owner.
    """
    text = redact((host or "").encode("ascii", "backslashreplace").decode("ascii"), api_key)
    if len(text) > _SHOWN_HOST_CHARS:
        text = "..." + text[-(_SHOWN_HOST_CHARS - 3) :]
    return text


def _refuse_shell_variable(text: str, where: str) -> None:
    """Refuse a ``$NAME`` written for a shell: it is not expanded, and would be sent as is.

    The name is quoted only when it is spelled as environment variables are (upper case,
    digits, ``_``): a pasted key that happens to start with ``$`` is never shown.
    """
    text = text.strip()
    if not text.startswith("$") or text.startswith("${"):
        return
    name = _SHELL_NAME.match(text)
    if name:
        raise ConfigError(
            where,
            f'${name.group(1)} is not expanded here; write "${{{name.group(1)}}}", with braces, '
            "to read the environment variable",
        )
    raise ConfigError(
        where,
        'starts with "$", which is not expanded here; write "${NAME}", with braces, '
        "to read an environment variable",
    )
