"""What an MCP client may set in a deck's config: where the key goes is the server's say.

The agent behind a client fills ``start_deck``'s config from text it was given, and that
text may be written to send the key elsewhere. So a config that arrives through MCP (an
object, or a ``config_path``) may not set ``base_url``, ``api_key`` or
``allow_insecure_http``: those come from the server's own environment, as its key does.
Nor may it name a Redis ``ledger``: that server would learn when the key sends, and could
stall the runs (``"file"`` and ``"off"`` choose nothing outside the machine).
The one who starts the server may allow endpoints (``nanobanana mcp --allow-endpoint URL``,
or ``NANO_BANANA_MCP_ALLOW_ENDPOINTS``, URLs separated by commas or spaces); a config may
then name one of them as its ``base_url``, and with it set its own ``api_key`` and
``allow_insecure_http``. ``"${GEMINI_API_KEY}"`` and ``"${GOOGLE_API_KEY}"`` (the server's
own keys) and the seed design's ``"${GOOGLE_GEMINI_BASE_URL}"`` (the server's own
endpoint) are always allowed: they choose nothing the server did not.

Each refusal is one line naming the field and the server's option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["ALLOW_ENV", "Allowances"]

ALLOW_ENV = "NANO_BANANA_MCP_ALLOW_ENDPOINTS"
_OPTION = f"nanobanana mcp --allow-endpoint URL (or {ALLOW_ENV})"
_SERVER_OWN = {
    "api_key": frozenset({"${GEMINI_API_KEY}", "${GOOGLE_API_KEY}"}),
    "base_url": frozenset({"${GOOGLE_GEMINI_BASE_URL}"}),
}
_QUIET = frozenset({"file", "off"})  # ledgers an agent may choose: nothing leaves the machine
_SEPARATORS = re.compile(r"[,\s]+")


def _normal(url: str) -> str:
    """``url`` compared as a base URL: scheme and host in lower case, no trailing slash."""
    parts = urlsplit(url.strip())
    return parts._replace(
        scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), path=parts.path.rstrip("/")
    ).geturl()


def _shown(url: str) -> str:
    """``url``'s scheme, host and port: no credentials a proxy URL may hold, no path."""
    parts = urlsplit(url.strip())
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{parts.hostname or ''}{port}"


class Allowances:
    """The endpoints the server's operator lets a client's config name."""

    __slots__ = ("endpoints",)

    def __init__(self, endpoints: Iterable[str] = ()) -> None:
        self.endpoints = frozenset(_normal(url) for url in endpoints if url.strip())

    @classmethod
    def of(cls, options: Iterable[str], env: Mapping[str, str]) -> Allowances:
        """The ``--allow-endpoint`` options and the environment's list, together.

        Raises:
            ConfigError: an allowed endpoint that is not an http(s) URL with a host.
        """
        given = [*options, *_SEPARATORS.split(env.get(ALLOW_ENV, ""))]
        for url in filter(None, (url.strip() for url in given)):
            parts = urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    "--allow-endpoint",
                    "must be an http(s) URL with a host, like http://127.0.0.1:8765",
                )
        return cls(given)

    def __repr__(self) -> str:
        return f"Allowances({sorted(self.endpoints)!r})"

    def check(self, raw: Mapping[str, Any]) -> str | None:
        """Refuse a config that sets where the key goes without the operator's allowance.

        Returns:
            For a config that names an endpoint the operator allows, the notice that tells
            the agent where its key goes (a server of the user's own on this machine is
            otherwise named by no notice); else ``None``.

        Raises:
            ConfigError: the field, and the server's option that would allow it.
        """
        ledger = raw.get("ledger")
        if ledger is not None and not (isinstance(ledger, str) and ledger.strip() in _QUIET):
            # Whoever runs that server would see when the key sends, and could stall the runs.
            raise ConfigError(
                "ledger",
                'an MCP client may set it only to "file" or "off"; the server shares the '
                "quota through its own NANO_BANANA_LEDGER",
            )
        url = raw.get("base_url")
        own = isinstance(url, str) and url.strip() in _SERVER_OWN["base_url"]
        if url is not None and not own:
            if not isinstance(url, str) or _normal(url) not in self.endpoints:
                raise ConfigError(
                    "base_url",
                    "an MCP client may not set where the key goes; the server's own endpoint "
                    f"is used, and the server's operator allows others with {_OPTION}",
                )
            # An allowed endpoint: its key and its scheme are the config's to say.
            return (
                f"base_url: requests and the key go to {_shown(url)}, an endpoint the "
                "server's operator allows"
            )
        key = raw.get("api_key")
        if key is not None and not (isinstance(key, str) and key.strip() in _SERVER_OWN["api_key"]):
            raise ConfigError(
                "api_key",
                'an MCP client may set it only to "${GEMINI_API_KEY}" or "${GOOGLE_API_KEY}" '
                "(the server's own keys), or with a base_url the server's operator allows "
                f"with {_OPTION}",
            )
        if raw.get("allow_insecure_http") not in (None, False):
            raise ConfigError(
                "allow_insecure_http",
                "an MCP client may set it only with a base_url the server's operator allows "
                f"with {_OPTION}",
            )
        return None
