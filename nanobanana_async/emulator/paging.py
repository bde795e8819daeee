"""List pages as the service hands them out: ``pageSize``, ``pageToken``, ``nextPageToken``.

``models.list``, ``batches.list`` and ``files.list`` page alike: a page holds at most
``pageSize`` items (the method's default when it is absent or 0, its maximum when larger),
and ``nextPageToken`` is sent only when more items follow. Tokens are opaque to a client;
here they encode the offset of the next item, so a page stays stable while nothing is
created or deleted, which is all a client may count on from the real service either.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import TypeVar

from . import error_bodies
from .validation import Rejected

__all__ = ["page"]

T = TypeVar("T")
_PREFIX = "nb-offset:"


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(text)
        offset = int(text[len(_PREFIX) :])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Rejected(error_bodies.invalid_argument("Invalid page token.")) from None
    if offset < 0:
        raise Rejected(error_bodies.invalid_argument("Invalid page token."))
    return offset


def page(
    items: Sequence[T], query: Mapping[str, list[str]], *, default: int, maximum: int
) -> tuple[list[T], str | None]:
    """The page of ``items`` the query asks for, and the token of the next one.

    Raises:
        Rejected: ``pageSize`` is not a non-negative integer, or ``pageToken`` is not one
            this emulator handed out.
    """
    raw_size = (query.get("pageSize") or ["0"])[-1]
    try:
        size = int(raw_size)
    except ValueError:
        message = f"Invalid value at 'page_size' (TYPE_INT32), \"{raw_size}\""
        raise Rejected(error_bodies.invalid_argument(message)) from None
    if size < 0:
        raise Rejected(error_bodies.invalid_argument("page_size must not be negative."))
    size = min(size or default, maximum)
    token = (query.get("pageToken") or [""])[-1]
    start = _offset(token) if token else 0
    end = start + size
    return list(items[start:end]), _token(end) if end < len(items) else None
