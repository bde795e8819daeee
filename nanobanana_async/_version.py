"""The package's version, read once from its installed metadata, when first asked for.

Importing ``importlib.metadata`` is a noticeable share of ``nanobanana --help``'s start-up
(benchmarks/README.md), so nothing reads the version until something prints or sends it.
"""

from __future__ import annotations

import functools

__all__ = ["version"]


@functools.cache
def version() -> str:
    """The installed version of ``nanobanana-async`` (``0+unknown`` from a bare source tree)."""
    from importlib import metadata

    try:
        return metadata.version("nanobanana-async")
    except metadata.PackageNotFoundError:
        return "0+unknown"
