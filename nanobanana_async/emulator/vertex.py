"""Vertex AI's surface of the emulator: its paths, its bearer tokens, its refusals.

Vertex (now Gemini Enterprise Agent Platform) serves the same models under
``/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}``,
with an OAuth bearer token instead of an API key. The answers are the Developer API's (the
app runs the same steps); what differs is said here: a path is rewritten to the model
path the app routes, once its token is checked; ``POST /token`` is a token endpoint a
``google-auth`` credential can refresh against (any grant is granted: the emulator checks
that a token is its own and not expired, not who asked); quotas count per project; a
429 is Vertex's, with no ``RetryInfo`` and no quota detail (dynamic shared quota), or its
legacy per-minute message. Token lifetimes run on the settings' clock, scaled like every
other delay, so a test can make a token expire mid-run without waiting.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from . import error_bodies
from .asgi import Scope, header
from .catalog import MODELS
from .paging import page
from .settings import EmulatorSettings

__all__ = [
    "PROJECT_SCOPE_KEY",
    "Vertex",
    "dsq_exhausted",
    "is_listing",
    "legacy_quota_exceeded",
    "project_of",
    "publisher_models",
    "rewritten",
]

PROJECT_SCOPE_KEY = "nanobanana.vertex_project"
"""Where a checked Vertex request's project is kept in the ASGI scope (quotas count by it)."""

_PATH = re.compile(
    r"^/(v1|v1beta1)/projects/([^/:]+)/locations/([^/:]+)/publishers/google/models/([^/:]+)"
    r"(:[A-Za-z]+)?$"
)
_LIST_PATH = re.compile(r"^/(v1|v1beta1)/publishers/google/models$")
_TYPE = "type.googleapis.com/google.rpc."


def is_listing(path: str) -> bool:
    """Whether ``path`` is Vertex's ``models.list`` (the publisher's models, no project)."""
    return _LIST_PATH.match(path) is not None


def publisher_models(query: Mapping[str, list[str]]) -> dict[str, Any]:
    """``GET /v1beta1/publishers/google/models``: the catalogue as Vertex lists it, paged.

    Raises:
        Rejected: a bad ``pageSize`` or ``pageToken``.
    """
    specs, token = page(list(MODELS.values()), query, default=50, maximum=1000)
    body: dict[str, Any] = {
        "publisherModels": [
            {
                "name": f"publishers/google/models/{spec.name}",
                "versionId": "001",
                "openSourceCategory": "PROPRIETARY",
                "launchStage": "GA",
            }
            for spec in specs
        ]
    }
    if token is not None:
        body["nextPageToken"] = token
    return body


def dsq_exhausted() -> dict[str, Any]:
    """The pay-as-you-go 429 (dynamic shared quota): no RetryInfo, no quota named."""
    return error_bodies.error(
        429,
        "RESOURCE_EXHAUSTED",
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    )


def legacy_quota_exceeded(model: str) -> dict[str, Any]:
    """The older per-project, per-minute quota's 429: a quota named, still no RetryInfo."""
    return error_bodies.error(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_"
        f"per_project_per_base_model with base model: {model}. Please submit a quota "
        "increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/quotas-genai.",
    )


def _unauthenticated(message: str, reason: str) -> dict[str, Any]:
    return error_bodies.error(
        401,
        "UNAUTHENTICATED",
        message,
        {
            "@type": _TYPE + "ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "aiplatform.googleapis.com", "method": "GenerateContent"},
        },
    )


class Vertex:
    """The tokens the emulator granted, and the checks of a Vertex request.

    Args:
        settings: ``token_lifetime`` (seconds, before time scale), ``vertex_projects`` (the
            projects that exist: ``None``, any), ``vertex_disabled`` (projects whose API is
            not enabled) and ``vertex_quota`` (``"dsq"`` or ``"legacy"``: the 429 said).
    """

    __slots__ = ("_counter", "_lock", "_settings", "_tokens", "granted")

    def __init__(self, settings: EmulatorSettings) -> None:
        self._settings = settings
        self._tokens: dict[str, float] = {}  # token -> expiry, by the settings' clock
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self.granted = 0

    def __repr__(self) -> str:
        return f"<Vertex tokens={len(self._tokens)} granted={self.granted}>"

    def grant(self, form: bytes) -> dict[str, Any]:
        """``POST /token``: a fresh access token, whatever the grant (refresh, JWT)."""
        fields = parse_qs(form.decode("latin-1"))
        lifetime = self._settings.token_lifetime * self._settings.time_scale
        with self._lock:
            token = f"ya29.emulator-{next(self._counter)}-{len(fields)}"
            self._tokens[token] = self._settings.clock() + lifetime
            self.granted += 1
        # The lifetime as the clock runs it, so a client's own refresh-before-expiry is right.
        return {
            "access_token": token,
            "expires_in": max(1, round(lifetime)),
            "token_type": "Bearer",
        }

    @staticmethod
    def match(path: str) -> tuple[str, str, str, str] | None:
        """``(project, location, model, :method)`` of a Vertex path, else ``None``."""
        found = _PATH.match(path)
        if found is None:
            return None
        _, project, location, model, method = found.groups()
        return project, location, model, method or ""

    def check(
        self, scope: Scope, project: str | None, location: str = "", model: str = ""
    ) -> dict[str, Any] | None:
        """The refusal of a Vertex request, in the service's order, or ``None``.

        ``project`` is ``None`` for a call on no project (the publisher's model list).
        """
        if header(scope, b"x-goog-api-key"):
            return _unauthenticated(
                "API keys are not supported by this API. Expected OAuth2 access token or other "
                "authentication credentials that assert a principal. See "
                "https://cloud.google.com/docs/authentication",
                "CREDENTIALS_MISSING",
            )
        authorization = header(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "CREDENTIALS_MISSING",
            )
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or expiry <= self._settings.clock():
            return _unauthenticated(
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "ACCESS_TOKEN_EXPIRED" if expiry is not None else "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            )
        if project is None:
            return None
        known = self._settings.vertex_projects
        if known is not None and project not in known:
            resource = (
                f"//aiplatform.googleapis.com/projects/{project}/locations/{location}"
                f"/publishers/google/models/{model}"
            )
            return error_bodies.error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'aiplatform.endpoints.predict' denied on resource '{resource}' "
                "(or it may not exist).",
                {"@type": _TYPE + "ErrorInfo", "reason": "IAM_PERMISSION_DENIED"},
            )
        if project in self._settings.vertex_disabled:
            return error_bodies.error(
                403,
                "PERMISSION_DENIED",
                f"Vertex AI API has not been used in project {project} before or it is "
                "disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
                f"aiplatform.googleapis.com/overview?project={project} then retry.",
                {
                    "@type": _TYPE + "ErrorInfo",
                    "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "aiplatform.googleapis.com", "consumer": project},
                },
            )
        return None

    def quota_body(self, model: str) -> dict[str, Any]:
        """The 429 a Vertex caller gets in place of the Developer API's."""
        if self._settings.vertex_quota == "legacy":
            return legacy_quota_exceeded(model)
        return dsq_exhausted()


def rewritten(scope: Scope, version: str, model: str, method: str, project: str) -> Scope:
    """The scope the app routes: the model path of the same method, the project kept."""
    path = f"/v1/models/{model}{method}" if method else f"/v1/models/{model}"
    del version  # Vertex's v1 and v1beta1 answer alike here
    return {**scope, "path": path, PROJECT_SCOPE_KEY: project}


def project_of(scope: Mapping[str, Any]) -> str | None:
    """The checked Vertex project of a rewritten scope, else ``None``."""
    project = scope.get(PROJECT_SCOPE_KEY)
    return project if isinstance(project, str) else None
