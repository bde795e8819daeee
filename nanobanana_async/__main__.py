"""``python -m nanobanana_async`` is the ``nanobanana`` command."""

from .cli import main

raise SystemExit(main())
