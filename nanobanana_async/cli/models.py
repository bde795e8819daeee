"""``nanobanana models``: what the endpoint serves, beside what this project knows of it.

The served list is the service's own (``models.list``, every page followed), so a model
Google added since this table was written shows up as served and unknown, and one it
turned off shows up as not served. What is known comes from the two tables with their
dates: :mod:`..service.model_ids` (sizes, retired and listed-for-shutdown ids) and
:mod:`..cost.prices` (the price of one image at the model's default size, standard and
through the Batch API). Only image models are shown unless ``--all``. Exit 0, 1 when the
service refuses or cannot be reached (one line), 2 for a missing key or a bad endpoint.
The key and the endpoint are the environment's, as a run's without a config; with the
official SDK's ``GOOGLE_GENAI_USE_VERTEXAI`` set, Vertex AI's list of Google's models
(``publishers/google/models``), with Application Default Credentials.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import anyio
import orjson

from ..config import environment
from ..cost.prices import BATCH_DISCOUNT, PRICES, PRICES_AS_OF
from ..errors import ApiError, ConfigError
from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from ..follow.summary import printable
from ..service.auth import Auth
from ..service.client import GeminiClient
from ..service.endpoint import DEFAULT_BASE_URL
from ..service.model_ids import (
    FACTS_AS_OF,
    IMAGE_MODELS,
    RETIRED_MODELS,
    RETIRED_ON,
    shutdown_listed,
)

__all__ = ["models_command"]

_PAGE_SIZE = "1000"  # the service's largest page
_MAX_PAGES = 50  # a service that pages forever is not followed forever
_TIMEOUT = 60.0
_VERTEX_LIST = ("/v1beta1/publishers/google/models", "publisherModels")


async def _served(key: str, base_url: str, auth: Auth | None = None) -> list[str]:
    """Every model id the endpoint lists, ``models/`` dropped, in its order; with a
    Vertex ``auth``, the publisher's models (no project in that path)."""
    names: list[str] = []
    token = ""
    path, field = ("models", "models") if auth is None else _VERTEX_LIST
    async with GeminiClient(api_key=key, base_url=base_url, timeout=_TIMEOUT, auth=auth) as client:
        for _ in range(_MAX_PAGES):
            params = {"pageSize": _PAGE_SIZE} | ({"pageToken": token} if token else {})
            _, raw = await client.call("GET", path, params=params)
            page = orjson.loads(raw)
            for model in page.get(field) or []:
                name = str(model.get("name", "")).rpartition("models/")[2]
                if name:
                    names.append(name)
            token = str(page.get("nextPageToken") or "")
            if not token:
                break
    return names


def _price(model: str) -> dict[str, float] | None:
    """USD for one image at the model's default size, standard and batch; ``None``: unknown."""
    prices = PRICES.get(model)
    if prices is None:
        return None
    standard = prices.image_output * prices.tokens_per_image(None) / 1e6
    return {"standard": round(standard, 4), "batch": round(standard * BATCH_DISCOUNT, 4)}


def _status(model: str) -> str:
    replacement = RETIRED_MODELS.get(model)
    if replacement is not None:
        return f"retired {RETIRED_ON}: use {replacement}"
    shutdown = shutdown_listed(model)
    if shutdown is not None:
        return f"listed for shutdown {shutdown}"
    return "current" if model in IMAGE_MODELS else "not in this table"


def _sizes(model: str) -> str | None:
    facts = IMAGE_MODELS.get(model)
    if facts is None or facts.image_sizes is None:
        return None
    return " ".join(facts.image_sizes) or "one size"


def rows(served: list[str], *, show_all: bool) -> list[dict[str, Any]]:
    """One row a model: every one served that is an image model (or all), then each model
    this project knows that is not served."""
    known = [*IMAGE_MODELS, *RETIRED_MODELS]
    names = [n for n in dict.fromkeys(served) if show_all or n in known or "image" in n]
    names += [n for n in known if n not in served]
    return [
        {
            "model": name,
            "served": name in served,
            "price": _price(name),
            "sizes": _sizes(name),
            "status": _status(name),
        }
        for name in names
    ]


def _table(found: list[dict[str, Any]]) -> list[str]:
    def price(row: Mapping[str, Any]) -> str:
        cost = row["price"]
        if cost is None:
            return "-" if row["status"].startswith("retired") else "unknown"
        return f"${cost['standard']:.3f}, batch ${cost['batch']:.3f}"

    cells = [
        (
            printable(row["model"]),
            "yes" if row["served"] else "no",
            price(row),
            row["sizes"] or ("-" if row["status"].startswith("retired") else "unknown"),
            row["status"],
        )
        for row in found
    ]
    header = ("model", "served", "an image (default size)", "sizes", "status")
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]


def models_command(*, show_all: bool, as_json: bool) -> int:
    """List the endpoint's models beside the tables; see the module's docstring."""
    env = os.environ
    auth: Auth | None = None
    try:
        backend, project, location = environment.backend({}, env)
        key, no_key = environment.api_key(None, env)
        base_url, where = environment.base_url(None, env)
        if backend == "vertex":
            from ..service.vertex import VertexTarget, bearer_auth

            auth, project = bearer_auth(project)
            key, no_key = "", None
            if base_url == DEFAULT_BASE_URL:
                base_url = VertexTarget(project, location).root
        notices = environment.endpoint_notices(
            base_url, where, allow_insecure_http=False, api_key=key
        )
    except ConfigError as error:
        print(f"nanobanana: error: {error}")
        return EXIT_USAGE
    if not key and auth is None:
        print(f"nanobanana: error: {ConfigError(*(no_key or environment.NO_KEY))}")
        return EXIT_USAGE
    try:
        served = anyio.run(_served, key or "", base_url, auth)
    except ApiError as error:
        print(f"cannot list the models: {error.message}")
        return EXIT_FAILED
    found = rows(served, show_all=show_all)
    if as_json:
        document = {"prices_as_of": PRICES_AS_OF, "facts_as_of": FACTS_AS_OF, "models": found}
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return EXIT_OK
    for notice in notices:
        print(f"nanobanana: notice: {notice}")
    print("\n".join(_table(found)))
    hidden = len(set(served)) - sum(1 for row in found if row["served"])
    more = f"; {hidden} other models served (--all lists them)" if hidden else ""
    print(f"prices as of {PRICES_AS_OF}, facts as of {FACTS_AS_OF} (docs/models.md){more}")
    return EXIT_OK
