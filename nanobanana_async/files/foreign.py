"""A file this tool writes beside a deck's images, where a file of the user's may already be.

``output_dir`` may name a folder of the user's own (``~/Pictures``, or one an injected
config names): a run writes ``nano-banana-results.json`` and ``contact-sheet.png`` there,
an export ``deck.pdf`` and ``deck.pptx``. Such a file replaces only one this tool wrote;
any other is first moved into ``.versions/`` under the first free number
(``contact-sheet.2.png``), as an image a rerun replaces is, so nothing of the user's is
lost and a deck's own folder, rewritten on every run, gathers no copies. Whose file it is
is read from the file itself (each writer leaves its mark: the results' own fields, the
sheet's ``Software`` text, the PDF's comment after its header), capped (a PDF's first bytes
only), without blocking or following a link.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .images import keep_version
from .reading import NotOwn, NotRegular, TooLarge, read_regular

__all__ = ["keep_foreign"]


def keep_foreign(
    path: Path, ours: Callable[[bytes], bool], limit: int, *, head: bool = False
) -> Path | None:
    """Move the file at ``path`` into ``.versions/`` unless ``ours`` recognises its bytes.

    Args:
        path: where this tool is about to write.
        ours: whether bytes found there are this tool's (its writer's mark).
        limit: the most bytes read to tell; a bigger file is not this tool's.
        head: the mark is at the file's start: only its first ``limit`` bytes are read,
            whatever its size (a PDF of a large deck is not read whole to be told).

    Returns:
        Where the file was kept; ``None`` when there was nothing to keep: no file, this
        tool's own, or not a regular file (a symlink is replaced, its target untouched).

    Raises:
        OSError: it could not be read or kept; the caller then must not write over it.
    """
    try:
        data = read_regular(path, limit, own=True, head=head)
    except FileNotFoundError:
        return None
    except NotRegular:
        return None
    except (NotOwn, TooLarge):
        return keep_version(path)
    if ours(data):
        return None
    return keep_version(path)
