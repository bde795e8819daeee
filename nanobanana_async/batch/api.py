"""The Batch and Files API calls, over the same client (key, deadline, caps) as a slide's.

A create is not idempotent (two creates are two paid jobs), so nothing here retries one:
the caller records the batch's display name first and, when an answer is lost, looks the
batch up by that name (:meth:`BatchApi.find`) before it sends another. Every other call is
safe to repeat. An upload URL the service hands back is followed only on the service's own
host: the key travels with every request of the client. A batch's or file's name goes into
a URL only once :func:`~.wire.checked_name` has found it of its documented shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import orjson

from ..errors import (
    BatchNotFound,
    EndpointRedirected,
    ModelNotFound,
    PermissionDenied,
    TransientError,
)
from ..service.client import GeminiClient
from .wire import Operation, checked_name, display_name

__all__ = ["BatchApi"]

_PAGE_SIZE = "100"
# Pages of batches looked through for a display name: 100 a page, the newest first.
_MAX_PAGES = 50


class BatchApi:
    """The calls a Batch API run makes, for one model."""

    def __init__(self, client: GeminiClient, model: str, base_url: str) -> None:
        self.client = client
        self.model = model
        self._host = urlsplit(base_url).netloc

    async def _json(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, object] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, object]:
        """A call about a batch (or the list of them): its answer, a JSON object."""
        try:
            _, raw = await self.client.call(method, path, body=body, params=params)
        except ModelNotFound as missing:  # a 404 about no model: the batch's or file's name
            raise BatchNotFound(
                f"{path.split(':')[0]} not found (404)", status=404, reason="NOT_FOUND"
            ) from missing
        return _object(raw)

    async def create(self, body: dict[str, object]) -> Operation:
        """Send one create. Never retried here: see the module's docstring.

        Its 404 is about the model (``ModelNotFound``), not a batch: not ``_json``'s.
        """
        path = f"models/{self.model}:batchGenerateContent"
        _, raw = await self.client.call("POST", path, body=body, model=self.model)
        return Operation.parse(_object(raw), self.client.scrub)

    async def get(self, name: str) -> Operation:
        """The batch ``name`` (checked first: it may come from a file on disk)."""
        path = checked_name(name, "batches", self.client.scrub)
        return Operation.parse(await self._json("GET", path), self.client.scrub)

    async def cancel(self, name: str) -> None:
        await self._json("POST", f"{checked_name(name, 'batches', self.client.scrub)}:cancel")

    async def find(self, wanted: str) -> Operation | None:
        """The batch whose display name is ``wanted``, if the service has one (newest pages
        first). Another batch's name of a bad shape is not ours to judge; ours is refused.
        """
        token = ""
        for _ in range(_MAX_PAGES):
            params = {"pageSize": _PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page = await self._json("GET", "batches", params=params)
            for entry in _entries(page):
                if not isinstance(entry, dict) or display_name(entry) != wanted:
                    continue
                try:
                    return Operation.parse(entry, self.client.scrub)
                except TransientError:
                    continue
            token = str(page.get("nextPageToken") or "")
            if not token:
                return None
        return None

    async def upload(self, lines: Iterable[bytes], display_name: str) -> str:
        """Upload a JSONL file by the resumable protocol; the file's name (``files/...``)."""
        data = b"".join(lines)
        start = {
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": str(len(data)),
            "x-goog-upload-header-content-type": "application/jsonl",
        }
        headers, _ = await self.client.call(
            "POST",
            "/upload/v1beta/files",
            body={"file": {"displayName": display_name}},
            headers=start,
        )
        url = headers.get("x-goog-upload-url", "")
        if urlsplit(url).netloc != self._host:
            raise EndpointRedirected(
                "the Files API gave an upload URL on another host; not followed (the key "
                "would go along)",
                status=200,
                reason="UPLOAD_URL",
            )
        finish = {
            "x-goog-upload-command": "upload, finalize",
            "x-goog-upload-offset": "0",
            "content-type": "application/jsonl",
        }
        _, raw = await self.client.call("POST", url, content=data, headers=finish)
        file = _object(raw).get("file")
        name = file.get("name") if isinstance(file, dict) else None
        if not isinstance(name, str) or not name:
            raise TransientError("malformed upload answer (no file name)", reason="BAD_BODY")
        return checked_name(name, "files", self.client.scrub)

    async def download(
        self, file_name: str, write: Callable[[bytes], object], *, limit: int, deadline: float
    ) -> int:
        """Stream the file ``file_name`` (a batch's results) into ``write``; its size.

        At most ``limit`` bytes, within ``deadline`` seconds for the whole.
        """
        path = checked_name(file_name, "files", self.client.scrub)
        try:
            return await self.client.download(
                f"/download/v1beta/{path}:download?alt=media",
                write,
                limit=limit,
                deadline=deadline,
            )
        except (ModelNotFound, PermissionDenied) as missing:
            # The Files API answers 403 "...or it may not exist" for a file it does not
            # have (kept 48 h); the key itself was good a moment ago for the batch's GET.
            raise BatchNotFound(
                f"{file_name}, the batch's results, is gone from the service ({missing.status})",
                status=missing.status,
                reason="NOT_FOUND",
            ) from missing


def _object(raw: bytes) -> dict[str, object]:
    """An answer's JSON object (empty for an empty body, as a cancel's may be).

    Raises:
        TransientError: not JSON, or not an object: a proxy's page, a cut body.
    """
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise TransientError("malformed answer (not JSON)", reason="BAD_BODY") from None
    if not isinstance(data, dict):
        raise TransientError("malformed answer (not a JSON object)", reason="BAD_BODY")
    return data


def _entries(page: dict[str, object]) -> list[object]:
    for key in ("operations", "batches"):
        entries = page.get(key)
        if isinstance(entries, list):
            return entries
    return []
