"""The command line: ``nanobanana`` and its commands, over the engine and the emulator.

``main`` parses and dispatches (:mod:`.main`); each command lives in its own module
(``run`` in :mod:`.run`, ``run --detach`` in :mod:`.detach`, ``status`` and ``wait`` in
:mod:`.status`), the one-line views they print in :mod:`nanobanana_async.follow`, exit
codes and default paths in :mod:`nanobanana_async.exits`. Nothing below this package
imports it.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
