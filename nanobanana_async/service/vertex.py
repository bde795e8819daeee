"""Vertex AI (Gemini Enterprise Agent Platform): where its models live, and its credentials.

The same models and the same ``generateContent`` body, under a project and a location:
``https://aiplatform.googleapis.com/v1/projects/{p}/locations/global/publishers/google/
models/{m}:generateContent`` for the ``global`` location (Google's advice against 429s, and
the SDK's default), ``https://{location}-aiplatform.googleapis.com`` for a region (as
google-genai builds them). Credentials are Application Default Credentials through
``google-auth`` (the ``vertex`` extra), read once per run; every way they can be missing
is one line naming the fix. Pay-as-you-go quotas there are shared (dynamic shared
quota): a 429 carries no ``RetryInfo`` and names no quota, which the pacer already
takes as a busy service, not as this project's limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .auth import BearerAuth

__all__ = [
    "CLOUD_PLATFORM",
    "DEFAULT_LOCATION",
    "VertexTarget",
    "bearer_auth",
    "default_credentials",
]

DEFAULT_LOCATION = "global"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True, slots=True)
class VertexTarget:
    """One project and location of Vertex AI.

    Attributes:
        project: the Google Cloud project id.
        location: ``global`` or a region (``us-central1``).
        base_url: a stand-in root (the emulator, a proxy); empty: Google's host for it.
    """

    project: str
    location: str = DEFAULT_LOCATION
    base_url: str = ""

    @property
    def root(self) -> str:
        """The scheme and host the requests go to."""
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.location == DEFAULT_LOCATION:
            return "https://aiplatform.googleapis.com"
        return f"https://{self.location}-aiplatform.googleapis.com"

    @property
    def api_path(self) -> str:
        """What stands where the Developer API has its version: ``.../models/{m}`` follows."""
        return f"v1/projects/{self.project}/locations/{self.location}/publishers/google"


def default_credentials() -> tuple[Any, str | None]:
    """Application Default Credentials and the project they name, if any.

    Raises:
        ConfigError: google-auth is not installed, or no credentials are found: one line
            naming the fix.
    """
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:
        raise ConfigError(
            "backend",
            "vertex needs google-auth: pip install 'nanobanana-async[vertex]'",
        ) from None
    try:
        credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    except DefaultCredentialsError:
        raise ConfigError(
            "backend",
            "vertex found no Google Cloud credentials: run gcloud auth application-default "
            "login, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file",
        ) from None
    return credentials, project


def bearer_auth(project: str | None) -> tuple[BearerAuth, str]:
    """The run's bearer auth and its project: ``project``, else the credentials' own.

    Raises:
        ConfigError: no credentials, or no project anywhere (one line naming the fix).
    """
    credentials, found = default_credentials()
    chosen = project or found
    if not chosen:
        raise ConfigError(
            "project",
            'vertex needs a project: set "project" in the config or GOOGLE_CLOUD_PROJECT',
        )
    quota = getattr(credentials, "quota_project_id", None) or ""
    return BearerAuth(credentials, quota_project=str(quota)), chosen
