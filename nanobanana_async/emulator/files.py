"""The Files API: resumable uploads, metadata, listing, download and deletion, in memory.

An upload is Google's resumable protocol, as the SDKs speak it: ``POST /upload/v1beta/files``
with ``X-Goog-Upload-Protocol: resumable`` and ``X-Goog-Upload-Command: start`` (the size
and type in ``X-Goog-Upload-Header-Content-Length`` and ``-Content-Type``, the metadata in
the JSON body) opens a session and answers its URL in ``x-goog-upload-url``; the bytes go
there in chunks, ``X-Goog-Upload-Command: upload`` at ``X-Goog-Upload-Offset``, the last
one ``upload, finalize``, which answers ``{"file": {...}}``. Every answer on a session
carries ``x-goog-upload-status`` (``active``, or ``final`` once finalized or refused):
the Python SDK retries, sleeping, any answer without it. Files live 48 hours (scaled),
as the service keeps them.

Files the emulator makes itself (a batch's responses) are ``source: GENERATED`` with a
``downloadUri``; only those can be downloaded, as on the service, whose SDKs refuse to
try for an uploaded one. An unknown file id is the service's 403, which does not tell a
missing file from another project's.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import error_bodies
from .paging import page
from .timestamps import WallClock
from .validation import Rejected

__all__ = [
    "FILE_LIFETIME",
    "FINAL_HEADERS",
    "FileStore",
    "StoredFile",
    "Upload",
    "session_headers",
    "upload_headers",
]

# Seconds an upload is kept (the Files API's 48 hours), before time scale.
FILE_LIFETIME = 48 * 3600.0
_CHUNK_GRANULARITY = b"8388608"
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# What answers a session once it is over: finalized, or refused (which closes it too).
FINAL_HEADERS = ((b"x-goog-upload-status", b"final"),)


@dataclass(slots=True, eq=False)
class StoredFile:
    """One file, uploaded or generated.

    Attributes:
        id: the id after ``files/``.
        mime_type: as declared on upload, or the generator's.
        data: the bytes.
        created: when it was finalized, on the emulator's clock.
        expires: when it goes, on the same clock.
        source: ``UPLOADED`` or ``GENERATED``.
        display_name: as given, or ``""``.
    """

    id: str
    mime_type: str
    data: bytes = field(repr=False)
    created: float
    expires: float
    source: str = "UPLOADED"
    display_name: str = ""

    def resource(self, base_url: str, version: str, wall: WallClock) -> dict[str, Any]:
        """The ``File`` resource, in the service's key order."""
        body: dict[str, Any] = {"name": f"files/{self.id}"}
        if self.display_name:
            body["displayName"] = self.display_name
        digest = hashlib.sha256(self.data).hexdigest().encode()
        body |= {
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": wall.stamp(self.created),
            "updateTime": wall.stamp(self.created),
            "expirationTime": wall.stamp(self.expires),
            "sha256Hash": base64.b64encode(digest).decode(),
            "uri": f"{base_url}/{version}/files/{self.id}",
        }
        if self.source == "GENERATED":
            body["downloadUri"] = (
                f"{base_url}/download/{version}/files/{self.id}:download?alt=media"
            )
        body |= {"state": "ACTIVE", "source": self.source}
        return body


@dataclass(slots=True, eq=False)
class Upload:
    """An open resumable upload session.

    Attributes:
        id: the ``upload_id`` of its URL.
        file_id: the id the file will take.
        mime_type: the declared type.
        size: the declared size, if any.
        display_name: as given in the start request.
        received: the bytes so far.
    """

    id: str
    file_id: str
    mime_type: str
    size: int | None
    display_name: str
    received: bytearray = field(default_factory=bytearray, repr=False)


def _refused(message: str, status: int = 400) -> Rejected:
    code = "INVALID_ARGUMENT" if status == 400 else "NOT_FOUND"
    return Rejected(error_bodies.error(status, code, message))


def _file_metadata(body: Any) -> Mapping[str, Any]:
    """The ``file`` object of a start request (``{}`` when there is none)."""
    if not isinstance(body, dict):
        raise _refused("Invalid JSON payload received. Root element must be a message.")
    meta = body.get("file") or {}
    if not isinstance(meta, dict):
        raise _refused("Invalid JSON payload received. 'file' must be a message.")
    return meta


class FileStore:
    """Every file and open upload of one emulator (its lock guards all of them).

    Args:
        new_id: draws a fresh id of the given length (from the emulator's generator).
        lifetime: seconds a file is kept (already time-scaled).
    """

    __slots__ = ("_files", "_lifetime", "_new_id", "_uploads")

    def __init__(self, new_id: Callable[[int], str], lifetime: float) -> None:
        self._new_id = new_id
        self._lifetime = lifetime
        self._files: dict[str, StoredFile] = {}
        self._uploads: dict[str, Upload] = {}

    def __repr__(self) -> str:
        return f"<FileStore files={len(self._files)} uploads={len(self._uploads)}>"

    def clear(self) -> None:
        """Forget every file and upload."""
        self._files.clear()
        self._uploads.clear()

    def _expire(self, now: float) -> None:
        for file_id in [f.id for f in self._files.values() if f.expires <= now]:
            del self._files[file_id]

    def start(
        self, metadata: Any, *, mime_type: str | None, size: str | None, now: float
    ) -> Upload:
        """Open an upload session for a start request's JSON body and upload headers.

        Raises:
            Rejected: a bad body, size or name, or a name already taken.
        """
        meta = _file_metadata(metadata)
        mime = mime_type or meta.get("mimeType") or meta.get("mime_type")
        if not mime:
            raise _refused("Upload has no MIME type: set X-Goog-Upload-Header-Content-Type.")
        declared = size if size is not None else meta.get("sizeBytes", meta.get("size_bytes"))
        try:
            length = None if declared is None else int(declared)
        except (TypeError, ValueError):
            raise _refused(f"Invalid upload size {declared!r}.") from None
        if length is not None and length < 0:
            raise _refused(f"Invalid upload size {declared!r}.")
        name = str(meta.get("name") or "")
        file_id = name.removeprefix("files/") if name else self._new_id(12)
        if not _ID.match(file_id):
            raise _refused(f"Invalid file name {name!r}: up to 40 lowercase letters, digits, -.")
        self._expire(now)
        if file_id in self._files:
            raise Rejected(
                error_bodies.error(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")
            )
        display = str(meta.get("displayName") or meta.get("display_name") or "")
        upload = Upload(self._new_id(48), file_id, str(mime), length, display)
        self._uploads[upload.id] = upload
        return upload

    def receive(
        self, upload_id: str, *, command: str, offset: str | None, chunk: bytes, now: float
    ) -> StoredFile | Upload:
        """One request on a session's URL: the finished file, or the session still open.

        Raises:
            Rejected: an unknown session, a bad command or offset, or a size that is not
                the one declared. The session is closed, as the service closes it.
        """
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise _refused("No upload session with this id.", 404)
        steps = {step.strip() for step in command.lower().split(",") if step.strip()}
        if not steps or not steps <= {"upload", "finalize", "query"}:
            del self._uploads[upload_id]
            raise _refused(f"Unsupported X-Goog-Upload-Command {command!r}.")
        if "upload" in steps:
            if offset is None or not offset.isdigit() or int(offset) != len(upload.received):
                del self._uploads[upload_id]
                raise _refused(
                    f"X-Goog-Upload-Offset {offset!r} is not the {len(upload.received)} "
                    "bytes received."
                )
            upload.received += chunk
        if "finalize" not in steps:
            return upload
        del self._uploads[upload_id]
        if upload.size is not None and upload.size != len(upload.received):
            raise _refused(
                f"Upload of {len(upload.received)} bytes does not match the declared "
                f"{upload.size} bytes."
            )
        stored = StoredFile(
            upload.file_id,
            upload.mime_type,
            bytes(upload.received),
            now,
            now + self._lifetime,
            display_name=upload.display_name,
        )
        self._files[stored.id] = stored
        return stored

    def add_generated(
        self, file_id: str, data: bytes, *, mime_type: str, now: float, display_name: str = ""
    ) -> StoredFile:
        """Keep a file the emulator made (a batch's responses), downloadable."""
        stored = StoredFile(
            file_id, mime_type, data, now, now + self._lifetime, "GENERATED", display_name
        )
        self._files[file_id] = stored
        return stored

    def get(self, file_id: str, now: float) -> StoredFile:
        """The file ``files/{file_id}``.

        Raises:
            Rejected: the service's 403 when there is no such file (or it expired).
        """
        self._expire(now)
        stored = self._files.get(file_id)
        if stored is None:
            raise Rejected(error_bodies.file_not_found(file_id))
        return stored

    def delete(self, file_id: str, now: float) -> None:
        """Delete ``files/{file_id}`` (:meth:`get`'s 403 when there is none)."""
        del self._files[self.get(file_id, now).id]

    def download(self, file_id: str, alt: str | None, now: float) -> StoredFile:
        """The file to send the bytes of, for ``:download?alt=media``.

        Raises:
            Rejected: no such file, no ``alt=media``, or an uploaded file.
        """
        stored = self.get(file_id, now)
        if alt != "media":
            raise _refused("Download requires alt=media.")
        if stored.source != "GENERATED":
            raise _refused("Only generated files can be downloaded; this file was uploaded.")
        return stored

    def listing(
        self, query: Mapping[str, list[str]], now: float
    ) -> tuple[list[StoredFile], str | None]:
        """``files.list``: newest first, 10 a page by default, 100 at most."""
        self._expire(now)
        newest = sorted(self._files.values(), key=lambda f: f.created, reverse=True)
        return page(newest, query, default=10, maximum=100)


def upload_headers(upload_url: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers that answer a start request: where to send the bytes, and how."""
    url = upload_url.encode()
    return (
        (b"x-goog-upload-status", b"active"),
        (b"x-goog-upload-url", url),
        (b"x-goog-upload-control-url", url),
        (b"x-goog-upload-chunk-granularity", _CHUNK_GRANULARITY),
    )


def session_headers(upload: Upload) -> tuple[tuple[bytes, bytes], ...]:
    """The headers that answer a chunk or a query on a session still open."""
    return (
        (b"x-goog-upload-status", b"active"),
        (b"x-goog-upload-size-received", str(len(upload.received)).encode()),
    )
