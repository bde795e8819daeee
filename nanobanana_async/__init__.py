"""nanobanana-async: a deck of slide prompts in, finished images out, as fast as the quota allows."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
