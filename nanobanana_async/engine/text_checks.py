"""The text check inside a run: each saved slide that must say something is read back.

A slide whose ``expected_text`` is not empty is read (:func:`~..qa.read_text_async`) once
its image is saved, as a task of its own: the save, the slide's slot and the next request
never wait for it, and the OCR's own pool reads one image at a time, so checks queue
there while the run waits on the quota. The run waits for the checks still out before
it finishes. A read that raises is ``unreadable``: the image is kept, the slide is not
failed. A deck that checks nothing starts no task and imports no OCR.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
from anyio.abc import TaskGroup

from ..config.loading import DeckConfig
from ..qa import ReadText, TextCheck, match_text, read_text_async
from .events import Event, TextChecked

__all__ = ["TextChecks"]


class TextChecks:
    """What each checked slide's image was found to say, this run.

    Args:
        config: the deck (each slide's ``expected_text``).
        emit: where a :class:`~.events.TextChecked` goes once a check is known.
        clock: the engine's monotonic clock.
    """

    def __init__(
        self, config: DeckConfig, emit: Callable[[Event], None], clock: Callable[[], float]
    ) -> None:
        self.expected = {s.number: s.expected_text for s in config.slides if s.expected_text}
        self.found: dict[int, TextCheck] = {}
        self.group: TaskGroup | None = None  # the run's checks: set while slides are made
        self._emit = emit
        self._clock = clock

    def start(self, slide: int, image: bytes | Path) -> None:
        """Read ``slide``'s image (its bytes, or its file) in the background, if it is checked."""
        expected = self.expected.get(slide)
        if expected and self.group is not None:
            self.group.start_soon(self._check, slide, expected, image)

    async def _check(self, slide: int, expected: tuple[str, ...], image: bytes | Path) -> None:
        try:
            if isinstance(image, Path):
                image = await anyio.to_thread.run_sync(image.read_bytes)
            read = await read_text_async(image)
        except Exception:  # any failure to read it (OCR, decoding, the file): "unreadable"
            read = ReadText((), 0, 0)
        check = match_text(expected, read)
        self.found[slide] = check
        self._emit(TextChecked(slide, check.to_json(), self._clock()))
