"""The Batch API and the Files API, as HTTP handlers over :mod:`.batches` and :mod:`.files`.

:mod:`.app` routes each method here once the key is checked (except the bytes of an
upload, whose session URL is its credential, as in Google's resumable protocol). State
is read and changed under the emulator's lock, at one clock reading per request; the
slow parts run outside it: reading a create body (inline images are decoded), and
rendering a succeeded batch's output, in a worker thread, the first time it is asked for.
Batch requests never touch the quota book: the Batch API has no per-minute pacing.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from . import error_bodies
from .asgi import Reply, Scope, base_url, header, query
from .batch_output import JSONL, render_output, results_file_id
from .batch_requests import read_batch
from .batches import SUCCEEDED, Batch, BatchBook, new_id, operation
from .files import (
    FILE_LIFETIME,
    FINAL_HEADERS,
    FileStore,
    StoredFile,
    session_headers,
    upload_headers,
)
from .generation import Refusal, find_model
from .render import SlideRenderer
from .settings import EmulatorSettings
from .stats import Stats
from .timestamps import WallClock
from .validation import Rejected, decode_json

__all__ = ["BatchApi", "Handler"]

Handler = Callable[[Scope, tuple[str, ...], bytes], Awaitable[Reply]]
_EMPTY = "text/plain; charset=UTF-8"


class BatchApi:
    """The batches and files of one emulator, served.

    Args:
        settings: the emulator's settings (clock, scale, batch behaviour).
        lock: the emulator's lock, which also guards ``rng``.
        rng: the emulator's one random generator.
        stats: where batches created and files uploaded are counted.
        renderer: the emulator's slide renderer.
        wall: turns clock readings into timestamps.
    """

    __slots__ = ("_lock", "_renderer", "_rng", "_settings", "_stats", "_wall", "book", "files")

    def __init__(
        self,
        settings: EmulatorSettings,
        *,
        lock: threading.Lock,
        rng: random.Random,
        stats: Stats,
        renderer: SlideRenderer,
        wall: WallClock,
    ) -> None:
        self._settings = settings
        self._lock = lock
        self._rng = rng
        self._stats = stats
        self._renderer = renderer
        self._wall = wall
        self.book = BatchBook()
        self.files = FileStore(lambda n: new_id(rng, n), FILE_LIFETIME * settings.time_scale)

    def __repr__(self) -> str:
        return f"<BatchApi {self.book!r} {self.files!r}>"

    def handlers(self) -> dict[str, Handler]:
        """API method name -> handler, for :mod:`.app`'s routes."""
        return {
            "batchGenerateContent": self._create,
            "batches.get": self._get,
            "batches.list": self._list,
            "batches.cancel": self._cancel,
            "batches.delete": self._delete,
            "media.upload": self._upload,
            "files.get": self._file_get,
            "files.list": self._file_list,
            "files.delete": self._file_delete,
            "media.download": self._download,
        }

    def clear(self) -> None:
        """Forget every batch, file, upload and the batch script (under the lock)."""
        self.book.clear()
        self.files.clear()

    def snapshot(self, now: float) -> dict[str, Any]:
        """The batches' states and the script, for the stats (under the lock)."""
        jobs = [
            {
                "name": batch.name,
                "ordinal": batch.ordinal,
                "display_name": batch.display_name,
                "model": batch.model,
                "requests": len(batch.items),
                "state": batch.state(now),
            }
            for batch in self.book.batches()
        ]
        return {"by_state": self.book.states(now), "jobs": jobs}

    # -- batches ---------------------------------------------------------------------------

    async def _settle(self, batch: Batch, now: float) -> None:
        """Render a succeeded batch's output (once), and file its results file."""
        if batch.state(now) != SUCCEEDED:
            return
        output = batch.output
        if output is None:
            output = await asyncio.to_thread(render_output, batch, self._renderer, self._settings)
        if output.results is not None:
            with self._lock:
                if not batch.results_stored:
                    self.files.add_generated(
                        results_file_id(batch),
                        output.results,
                        mime_type=JSONL,
                        now=batch.done_at,
                        display_name=f"Responses of {batch.name}",
                    )
                    batch.results_stored = True

    async def _create(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        version, model = params
        spec = find_model(model, version, "batchGenerateContent")
        if isinstance(spec, Refusal):
            raise Rejected(spec.body)
        now = self._settings.clock()

        def input_file(file_id: str) -> bytes:
            with self._lock:
                return self.files.get(file_id, now).data

        batch_input = await asyncio.to_thread(read_batch, body, spec, input_file=input_file)
        with self._lock:
            batch = self.book.create(
                batch_input, spec, settings=self._settings, rng=self._rng, now=now
            )
            self._stats.batch_created(batch.display_name, len(batch.items))
        await self._settle(batch, now)  # with no latency at all, it is done at once
        with self._lock:
            return Reply(operation(batch, now, self._wall))

    async def _get(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        _, batch_id = params
        now = self._settings.clock()
        with self._lock:
            batch = self.book.get(batch_id)
        await self._settle(batch, now)
        with self._lock:
            return Reply(operation(batch, now, self._wall))

    async def _list(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        now = self._settings.clock()
        with self._lock:
            batches, token = self.book.listing(query(scope))
        for batch in batches:
            await self._settle(batch, now)
        with self._lock:
            answer: dict[str, Any] = {}
            if batches:
                answer["operations"] = [operation(b, now, self._wall) for b in batches]
        if token is not None:
            answer["nextPageToken"] = token
        return Reply(answer)

    async def _cancel(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        _, batch_id = params
        with self._lock:
            self.book.cancel(batch_id, self._settings.clock())
        return Reply({})

    async def _delete(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        _, batch_id = params
        with self._lock:
            self.book.delete(batch_id)
        return Reply({})

    # -- files -----------------------------------------------------------------------------

    def _resource(self, stored: StoredFile, scope: Scope, version: str) -> dict[str, Any]:
        return stored.resource(base_url(scope), version, self._wall)

    async def _upload(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        (version,) = params
        now = self._settings.clock()
        session = query(scope).get("upload_id")
        if session:
            return self._chunk(scope, version, session[-1], body, now)
        protocol = (header(scope, b"x-goog-upload-protocol") or "").lower()
        command = (header(scope, b"x-goog-upload-command") or "").lower()
        if protocol != "resumable" or command != "start":
            raise Rejected(
                error_bodies.invalid_argument(
                    "The emulator takes resumable uploads only: X-Goog-Upload-Protocol: "
                    "resumable and X-Goog-Upload-Command: start, then the bytes."
                )
            )
        metadata = decode_json(body)
        with self._lock:
            upload = self.files.start(
                metadata,
                mime_type=header(scope, b"x-goog-upload-header-content-type"),
                size=header(scope, b"x-goog-upload-header-content-length"),
                now=now,
            )
        url = (
            f"{base_url(scope)}/upload/{version}/files"
            f"?upload_id={upload.id}&upload_protocol=resumable"
        )
        return Reply(b"", content_type=_EMPTY, headers=upload_headers(url))

    def _chunk(self, scope: Scope, version: str, session: str, chunk: bytes, now: float) -> Reply:
        try:
            with self._lock:
                received = self.files.receive(
                    session,
                    command=header(scope, b"x-goog-upload-command") or "",
                    offset=header(scope, b"x-goog-upload-offset"),
                    chunk=chunk,
                    now=now,
                )
        except Rejected as rejected:
            status: int = rejected.body["error"]["code"]
            return Reply(rejected.body, status=status, headers=FINAL_HEADERS)
        if isinstance(received, StoredFile):
            self._stats.file_uploaded(len(received.data))
            return Reply({"file": self._resource(received, scope, version)}, headers=FINAL_HEADERS)
        return Reply(b"", content_type=_EMPTY, headers=session_headers(received))

    async def _file_get(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        version, file_id = params
        with self._lock:
            stored = self.files.get(file_id, self._settings.clock())
        return Reply(self._resource(stored, scope, version))

    async def _file_list(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        (version,) = params
        with self._lock:
            files, token = self.files.listing(query(scope), self._settings.clock())
        answer: dict[str, Any] = {}
        if files:
            answer["files"] = [self._resource(f, scope, version) for f in files]
        if token is not None:
            answer["nextPageToken"] = token
        return Reply(answer)

    async def _file_delete(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        _, file_id = params
        with self._lock:
            self.files.delete(file_id, self._settings.clock())
        return Reply({})

    async def _download(self, scope: Scope, params: tuple[str, ...], body: bytes) -> Reply:
        _, file_id = params
        alts = query(scope).get("alt")
        alt = alts[-1] if alts else None
        with self._lock:
            stored = self.files.download(file_id, alt, self._settings.clock())
        return Reply(stored.data, content_type=stored.mime_type)
