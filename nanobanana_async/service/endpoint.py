"""Where the Gemini API lives, when nothing says otherwise (``GOOGLE_GEMINI_BASE_URL``)."""

from __future__ import annotations

__all__ = ["DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
