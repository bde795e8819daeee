"""How a request proves who sends it: an API key, or an OAuth bearer token (Vertex AI).

The client asks its auth for the headers of each request, and for the secrets its
messages must never show. A key is one header, fixed. A bearer token comes from
``google-auth`` credentials (Application Default Credentials: ``gcloud auth
application-default login``, a service-account file, the metadata server) and expires,
about hourly: it is refreshed before a request when the credentials say it is no longer
valid (google-auth counts a token as invalid minutes before its expiry), and once more
when the service answers 401 anyway (a token revoked, or clocks that disagree). One
refresh at a time: requests that find the token stale together wait for the same one.
The token goes only in the ``Authorization`` header: never in a URL, a log or a message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import anyio

from ..errors import PermissionDenied, redact

__all__ = ["Auth", "BearerAuth", "KeyAuth"]


class Auth(Protocol):
    """What the client needs of a way to authenticate."""

    async def headers(self) -> dict[str, str]:
        """The headers that authenticate the next request."""
        ...

    async def rejected(self, sent: dict[str, str]) -> bool:
        """The service refused ``sent`` as unauthenticated: ``True`` if worth one resend."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """What no message may show."""
        ...


class KeyAuth:
    """The Gemini Developer API's key, in ``x-goog-api-key``."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "<KeyAuth ***>"

    async def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    async def rejected(self, sent: dict[str, str]) -> bool:
        return False  # a key does not go stale: a refusal is final

    def secrets(self) -> tuple[str, ...]:
        return (self._key,)


class BearerAuth:
    """An OAuth access token from ``google-auth`` credentials, refreshed before it expires.

    Args:
        credentials: ``google.auth.credentials.Credentials`` (typed loosely: the extra
            ``vertex`` may not be installed where this module is imported).
        request: google-auth's transport for the token endpoint; its default when ``None``.
        quota_project: the project billed, sent as ``x-goog-user-project`` (as the SDK does).
    """

    __slots__ = ("_credentials", "_lock", "_quota_project", "_request", "refreshes")

    def __init__(
        self,
        credentials: Any,
        *,
        request: Callable[..., Any] | None = None,
        quota_project: str = "",
    ) -> None:
        self._credentials = credentials
        self._request = request
        self._quota_project = quota_project
        self._lock = anyio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<BearerAuth refreshes={self.refreshes} valid={bool(self._credentials.valid)}>"

    async def headers(self) -> dict[str, str]:
        if not self._credentials.valid:  # no token yet, expired, or about to
            await self._refresh(None)
        found = {"authorization": f"Bearer {self._credentials.token}"}
        if self._quota_project:
            found["x-goog-user-project"] = self._quota_project
        return found

    async def rejected(self, sent: dict[str, str]) -> bool:
        await self._refresh(sent.get("authorization", "").removeprefix("Bearer "))
        return True

    def secrets(self) -> tuple[str, ...]:
        token = self._credentials.token
        return (token,) if isinstance(token, str) and token else ()

    async def _refresh(self, stale: str | None) -> None:
        """A new token, unless another request got one while this one waited.

        Raises:
            PermissionDenied: the token endpoint refused (one line, no secret in it).
        """
        async with self._lock:
            if stale is None and self._credentials.valid:
                return
            if stale is not None and self._credentials.token not in (None, stale):
                return
            try:
                await anyio.to_thread.run_sync(self._refresh_now)
            except Exception as error:  # google.auth.exceptions.RefreshError, transport
                detail = redact(
                    str(error).splitlines()[0][:200] if str(error) else "", *self.secrets()
                )
                raise PermissionDenied(
                    f"could not refresh the Google Cloud access token ({type(error).__name__}: "
                    f"{detail}); run gcloud auth application-default login again",
                    status=401,
                    reason="TOKEN_REFRESH_FAILED",
                ) from None
            self.refreshes += 1

    def _refresh_now(self) -> None:
        request = self._request
        if request is None:
            from google.auth.transport.requests import Request

            request = Request()
        self._credentials.refresh(request)
