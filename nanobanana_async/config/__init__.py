"""The config: what a deck says, checked before anything is sent.

:mod:`.loading` holds the data model (:class:`DeckConfig`, :class:`SlideSpec`) and turns
a file, a dict or the environment into it, refusing bad input with one line that names the
field. Beside it: the checks of single values (:mod:`.fields`), the environment and secrets
(:mod:`.environment`), paths and file names (:mod:`.paths`), every field's type, range and
default with the JSON Schema of ``nanobanana schema`` (:mod:`.schema`), the preset styles
(:mod:`.styles`).
"""

from __future__ import annotations

from .loading import DeckConfig, SlideSpec, load_config
from .schema import config_schema

__all__ = ["DeckConfig", "SlideSpec", "config_schema", "load_config"]
