"""The Files API: the resumable upload as the SDKs speak it, metadata, download of a
batch's results file, deletion, expiry; and a batch read from an uploaded JSONL file."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx2
import orjson
from emulator_testing import (
    KEY,
    FakeClock,
    call,
    client_for,
    create_batch,
    error_of,
    request_body,
)

from nanobanana_async.emulator import Emulator, EmulatorSettings
from nanobanana_async.service import protocol


def _emulator(clock: FakeClock, **settings: Any) -> Emulator:
    return Emulator(
        EmulatorSettings(
            latency=False, clock=clock, signature_bytes=16, batch_latency=0.0, **settings
        )
    )


def _start_headers(size: int, mime: str = "application/jsonl") -> dict[str, str]:
    return {
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Length": str(size),
        "X-Goog-Upload-Header-Content-Type": mime,
    }


async def _upload(
    client: httpx2.AsyncClient, data: bytes, *, chunk: int | None = None, name: str = "deck input"
) -> httpx2.Response:
    """Start, then send ``data`` in chunks of ``chunk`` bytes, the last one finalizing."""
    start = await call(
        client,
        "POST",
        "/upload/v1beta/files",
        {"file": {"displayName": name}},
        headers=_start_headers(len(data)),
    )
    assert start.status_code == 200, start.text
    url = start.headers["x-goog-upload-url"]
    step = chunk or max(1, len(data))
    offset = 0
    while True:
        piece = data[offset : offset + step]
        last = offset + len(piece) >= len(data)
        command = "upload, finalize" if last else "upload"
        headers = {"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)}
        response = await client.post(url, content=piece, headers=headers)
        offset += len(piece)
        if last or response.status_code != 200:
            return response
        assert response.headers["x-goog-upload-status"] == "active"
        assert response.headers["x-goog-upload-size-received"] == str(offset)


def _jsonl(*lines: dict[str, Any] | bytes) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
    )


_LINES = _jsonl(
    {"key": "slide-1", "request": request_body("Slide 1: Plan.")},
    {"key": "slide-2", "request": request_body("Slide 2: Team.")},
)


async def test_a_resumable_upload_in_chunks_gives_the_file_resource() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    async with client_for(emulator) as client:
        start = await call(
            client, "POST", "/upload/v1beta/files", {}, headers=_start_headers(len(_LINES))
        )
        final = await _upload(client, _LINES, chunk=100)
        got = await call(client, "GET", f"/v1beta/{final.json()['file']['name']}")
        listed = (await call(client, "GET", "/v1beta/files")).json()
    assert start.headers["x-goog-upload-status"] == "active"
    assert start.headers["x-goog-upload-url"].startswith(
        "http://emulator/upload/v1beta/files?upload_id="
    )
    assert start.content == b""
    assert final.status_code == 200
    assert final.headers["x-goog-upload-status"] == "final"
    resource = final.json()["file"]
    file_id = resource["name"].removeprefix("files/")
    digest = hashlib.sha256(_LINES).hexdigest().encode()
    assert resource == {
        "name": f"files/{file_id}",
        "displayName": "deck input",
        "mimeType": "application/jsonl",
        "sizeBytes": str(len(_LINES)),
        "createTime": resource["createTime"],
        "updateTime": resource["createTime"],
        "expirationTime": resource["expirationTime"],
        "sha256Hash": base64.b64encode(digest).decode(),
        "uri": f"http://emulator/v1beta/files/{file_id}",
        "state": "ACTIVE",
        "source": "UPLOADED",
    }
    assert resource["expirationTime"] > resource["createTime"]
    assert got.json() == resource
    assert listed == {"files": [resource]}
    assert emulator.stats()["files"] == {"uploaded": 1, "bytes": len(_LINES)}


async def test_a_session_refuses_a_wrong_offset_or_size_and_says_it_is_over() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock)) as client:
        start = await call(client, "POST", "/upload/v1beta/files", {}, headers=_start_headers(10))
        url = start.headers["x-goog-upload-url"]
        skipped = await client.post(
            url,
            content=b"abc",
            headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "5"},
        )
        closed = await client.post(
            url,
            content=b"abc",
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        start = await call(client, "POST", "/upload/v1beta/files", {}, headers=_start_headers(10))
        short = await client.post(
            start.headers["x-goog-upload-url"],
            content=b"abc",
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        plain = await call(client, "POST", "/upload/v1beta/files", {}, headers={})
        anonymous = await call(
            client, "POST", "/upload/v1beta/files", {}, key=None, headers=_start_headers(1)
        )
    assert skipped.status_code == 400
    assert skipped.headers["x-goog-upload-status"] == "final"  # or the SDK retries, sleeping
    assert closed.status_code == 404
    assert closed.headers["x-goog-upload-status"] == "final"
    assert short.status_code == 400
    assert "does not match the declared 10 bytes" in error_of(short)["message"]
    assert plain.status_code == 400
    assert anonymous.status_code == 403


async def test_a_batch_reads_its_file_and_answers_a_results_file_to_download() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    emulator.script_batches(requests={"slide-2": "503"})
    lines = _LINES + _jsonl(b"{not json", {"key": "slide-4", "request": {"contents": []}})
    async with client_for(emulator) as client:
        input_name = (await _upload(client, lines)).json()["file"]["name"]
        body = {"batch": {"displayName": "from file", "inputConfig": {"fileName": input_name}}}
        done = (await create_batch(client, body)).json()
        results = done["response"]["responsesFile"]
        meta = await call(client, "GET", f"/v1beta/{results}")
        download = await call(client, "GET", f"/download/v1beta/{results}:download?alt=media")
        no_alt = await call(client, "GET", f"/download/v1beta/{results}:download")
        uploaded = await call(client, "GET", f"/v1/{input_name}:download", params={"alt": "media"})
    batch_id = done["name"].removeprefix("batches/")
    assert results == f"files/batch-{batch_id}"
    assert done["metadata"]["inputConfig"] == {"fileName": input_name}
    assert done["metadata"]["output"] == {"responsesFile": results}
    assert done["metadata"]["batchStats"] == {
        "requestCount": "4",
        "successfulRequestCount": "1",
        "failedRequestCount": "3",
    }
    assert meta.json()["source"] == "GENERATED"
    assert meta.json()["downloadUri"] == (
        f"http://emulator/download/v1beta/{results}:download?alt=media"
    )
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/jsonl"
    rows = [orjson.loads(line) for line in download.content.splitlines()]
    assert [row["key"] for row in rows] == ["slide-1", "slide-2", "2", "slide-4"]
    assert protocol.parse_success(orjson.dumps(rows[0]["response"])).mime_type == "image/jpeg"
    assert rows[1]["error"]["code"] == 14
    assert rows[2]["error"]["code"] == 3  # the line that is not JSON fails alone
    assert "contents is not specified" in rows[3]["error"]["message"]
    assert no_alt.status_code == uploaded.status_code == 400


async def test_a_missing_file_is_the_services_403_and_files_expire_after_48_hours() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock, time_scale=0.5)) as client:
        name = (await _upload(client, _LINES)).json()["file"]["name"]
        body = {"batch": {"inputConfig": {"fileName": "files/nosuchfile"}}}
        missing_input = await create_batch(client, body)
        clock.advance(24 * 3600 - 1)
        kept = await call(client, "GET", f"/v1beta/{name}")
        clock.advance(1)
        expired = await call(client, "GET", f"/v1beta/{name}")
        name = (await _upload(client, _LINES)).json()["file"]["name"]
        deleted = await call(client, "DELETE", f"/v1beta/{name}")
        gone = await call(client, "DELETE", f"/v1beta/{name}")
    assert missing_input.status_code == 403
    assert error_of(missing_input)["message"] == (
        "You do not have permission to access the File nosuchfile or it may not exist."
    )
    assert kept.status_code == 200
    assert (expired.status_code, deleted.status_code, gone.status_code) == (403, 200, 403)


async def test_files_list_pages_and_reset_forgets_files() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    async with client_for(emulator) as client:
        names = []
        for n in range(3):
            names.append((await _upload(client, _LINES, name=f"input {n}")).json()["file"]["name"])
            clock.advance(1)
        first = (await call(client, "GET", "/v1beta/files", params={"pageSize": 2})).json()
        params = {"pageSize": 2, "pageToken": first["nextPageToken"]}
        second = (await call(client, "GET", "/v1beta/files", params=params)).json()
        emulator.reset()
        after = await call(client, "GET", f"/v1beta/{names[0]}")
    listed = [f["name"] for f in first["files"] + second["files"]]
    assert listed == names[::-1]
    assert after.status_code == 403
    assert emulator.stats()["files"] == {"uploaded": 0, "bytes": 0}


async def test_the_upload_url_follows_the_host_the_client_called() -> None:
    clock = FakeClock()
    async with client_for(_emulator(clock)) as client:
        start = await client.post(
            "/upload/v1/files",
            content=b"{}",
            headers={"x-goog-api-key": KEY, "host": "127.0.0.1:9999", **_start_headers(3)},
        )
    assert start.headers["x-goog-upload-url"].startswith("http://127.0.0.1:9999/upload/v1/files?")
