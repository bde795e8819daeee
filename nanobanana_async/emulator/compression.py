"""Gzip bodies assembled from pieces compressed once and reused.

A Gemini 3 answer is mostly a ``thoughtSignature`` (the same bytes in every answer of the
emulator) and an image (the same bytes when a prompt repeats), and gzipping whole answers
would make benchmarks measure the emulator instead of the client (its cost:
benchmarks/README.md). So a body is small JSON glue compressed per answer plus
:class:`Segment` values compressed once; :func:`gzip_join` says why the pieces concatenate.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterable

from .stats import image_digest

__all__ = [
    "LEVEL",
    "Segment",
    "gzip_join",
    "plain_join",
]

# Fastest deflate level: the real service's ratio matters less than our CPU.
LEVEL = 1
# gzip header: magic, deflate, no flags, mtime 0, "fastest" extra flag, OS unknown.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
_FINAL_EMPTY_BLOCK = zlib.compressobj(LEVEL, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


class Segment:
    """Bytes that recur across answers, with their deflated form computed once, on demand.

    Attributes:
        data: the bytes as they appear in the body.
    """

    __slots__ = ("_decoded_digest", "_deflated", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._deflated: bytes | None = None
        self._decoded_digest: str | None = None

    def __repr__(self) -> str:
        state = "deflated" if self._deflated is not None else "raw"
        return f"<Segment {len(self.data)} bytes, {state}>"

    def __len__(self) -> int:
        return len(self.data)

    @property
    def deflated(self) -> bytes:
        """Raw deflate of :attr:`data`, sync-flushed. Racing threads compute the same bytes."""
        if self._deflated is None:
            self._deflated = _deflate(self.data)
        return self._deflated

    @property
    def decoded_digest(self) -> str:
        """:func:`~.stats.image_digest` of the bytes :attr:`data` encodes in base64.

        What an image part's signature is made over; computed once per (cached) image.
        """
        if self._decoded_digest is None:
            self._decoded_digest = image_digest(base64.b64decode(self.data))
        return self._decoded_digest


def plain_join(parts: Iterable[bytes | Segment]) -> bytes:
    """The uncompressed body."""
    return b"".join(p.data if isinstance(p, Segment) else p for p in parts)


def gzip_join(parts: Iterable[bytes | Segment]) -> bytes:
    """The body gzip-encoded, reusing each :class:`Segment`'s deflated bytes.

    Each piece is a raw deflate stream ended with a sync flush, so it stops on a byte
    boundary without the "last block" bit; deflate streams are a plain sequence of blocks,
    so the pieces concatenate into one valid stream, closed by an empty final block.
    Back-references never cross pieces, which costs a little ratio and nothing else. The
    trailer's CRC-32 covers the whole body; it is cheap enough to compute per answer.
    """
    chunks = [_HEADER]
    crc = 0
    size = 0
    for part in parts:
        data = part.data if isinstance(part, Segment) else part
        if not data:
            continue
        crc = zlib.crc32(data, crc)
        size += len(data)
        chunks.append(part.deflated if isinstance(part, Segment) else _deflate(data))
    chunks.append(_FINAL_EMPTY_BLOCK)
    chunks.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return b"".join(chunks)
