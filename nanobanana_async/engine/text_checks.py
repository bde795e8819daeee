"""The text check inside a run: each saved slide that must say something is read back.

A slide whose ``expected_text`` is not empty is read (:func:`~..qa.read_text_async`) once
its image is saved, as a task of its own: the save, the slide's slot and the next request
never wait for it, and the OCR's own pool (a reader per core, the extra ones at a lower
priority than conversion: :mod:`~..qa.reading`) queues the checks while the run waits on
the quota. The run waits for the checks still out before
it finishes. A read that raises is ``unreadable``: the image is kept, the slide is not
failed. A deck that checks nothing starts no task and imports no OCR.

A slide that misses (``missing``, never ``unreadable``) with fix rounds to spend
(``fix_text``) is handed, with its :class:`Origin`, to the fixer (:mod:`.text_fixes`),
which edits it and has each round read again here. A slide kept from an earlier run
carries the check its manifest kept (:meth:`TextChecks.carry`), not read again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread
from anyio.abc import TaskGroup

from ..config.loading import DeckConfig
from ..qa import ReadText, TextCheck, match_text, read_text_async
from ..qa.readings import Readings
from .events import Event, TextChecked
from .fix_units import carried
from .plan import Job

__all__ = ["FixRounds", "Fixer", "Origin", "TextChecks"]


@dataclass(frozen=True, slots=True)
class Origin:
    """The unit a checked image is, which a fix round edits and continues from.

    Attributes:
        job: the slide's job.
        key: the unit's key (:mod:`.chains`): a fix round's key is made from it.
        user_parts: the parts of the user turn that made it, to send back with ``turn``
            (``None``: a fix round is a fresh edit).
        turn: where the model's turn that made it is kept, if it is.
        original: the service's bytes of it, when they are not the bytes checked (a chain's
            unit, a slide kept: its file is a conversion).
    """

    job: Job
    key: str
    user_parts: Sequence[Mapping[str, Any]] | None = None
    turn: Path | None = None
    original: Path | None = None


@dataclass(frozen=True, slots=True)
class FixRounds:
    """What a slide's fix rounds came to: the check of the image the slide now shows, the
    rounds tried (each one read), and why they stopped short (``""``: they did not)."""

    check: TextCheck
    tried: int
    stopped: str = ""


class Fixer(Protocol):
    """Edits a slide whose text missed, reading each round with ``judge``, telling each
    round's check to ``told`` (:class:`~.text_fixes.TextFixes`)."""

    def __call__(
        self,
        origin: Origin,
        check: TextCheck,
        image: bytes,
        rounds: int,
        judge: Callable[[bytes], Awaitable[TextCheck]],
        told: Callable[[TextCheck, int], None],
    ) -> Awaitable[FixRounds]: ...


class TextChecks:
    """What each checked slide's image was found to say, this run.

    Args:
        config: the deck (each slide's ``expected_text`` and ``fix_text``).
        emit: where a :class:`~.events.TextChecked` goes once a check is known.
        clock: the engine's monotonic clock.
        fix_text: the run's ``--fix-text``, over every checked slide's own; ``None``: theirs.
        on_read: called with the slide's number at each read (the OCR), for instrumentation.
    """

    def __init__(
        self,
        config: DeckConfig,
        emit: Callable[[Event], None],
        clock: Callable[[], float],
        *,
        fix_text: int | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        checked = [s for s in config.slides if s.expected_text]
        self.expected = {s.number: s.expected_text for s in checked}
        self.rounds = {s.number: s.fix_text if fix_text is None else fix_text for s in checked}
        self.found: dict[int, TextCheck] = {}
        self.reports: dict[int, dict[str, Any]] = {}  # slide -> its text_check, as shown
        self.group: TaskGroup | None = None  # the run's checks: set while slides are made
        self.fixer: Fixer | None = None  # set by the run when it can send
        self._emit = emit
        self._clock = clock
        self._on_read = on_read
        self._readings: Readings | None = None  # the user's readings kept, once one is read

    def start(self, slide: int, image: bytes | Path, origin: Origin | None = None) -> None:
        """Read ``slide``'s image (its bytes, or its file) in the background, if it is
        checked; ``origin``: what a fix round edits (``None``: the slide is not fixed)."""
        expected = self.expected.get(slide)
        if expected and self.group is not None:
            self.group.start_soon(self._check, slide, expected, image, origin)

    def carry(self, slide: int, kept: Mapping[str, Any] | None) -> bool:
        """Show the check an earlier run made of ``slide``'s image, kept by the manifest,
        when it stands for this run (:func:`~.fix_units.carried`); whether it did (else
        the slide is read, and fixed)."""
        expected = self.expected.get(slide)
        if not expected or kept is None or not carried(kept, expected, self.rounds[slide]):
            return False
        report = {k: v for k, v in kept.items() if k != "expected"}
        self._tell(slide, {**report, "read": False})
        self.found[slide] = TextCheck.from_json(report, expected)
        return True

    def kept(self, slide: int) -> dict[str, Any] | None:
        """What the manifest keeps of ``slide``'s check: its report, and what it checked."""
        report = self.reports.get(slide)
        if report is None:
            return None
        return {
            **{k: v for k, v in report.items() if k != "read"},
            "expected": list(self.expected[slide]),
        }

    async def _read(self, slide: int, expected: tuple[str, ...], image: bytes) -> TextCheck:
        if self._on_read is not None:
            self._on_read(slide)
        try:
            read = await read_text_async(image)
        except Exception:  # any failure to read it (OCR, decoding): "unreadable"
            read = ReadText((), 0, 0)
        else:
            # Kept for a check or an editable export of the deck later: read once.
            if self._readings is None:
                self._readings = Readings.default()
            await anyio.to_thread.run_sync(self._readings.keep, image, read)
        return match_text(expected, read)

    def _tell(self, slide: int, report: dict[str, Any]) -> None:
        self.reports[slide] = report
        self._emit(TextChecked(slide, report, self._clock()))

    async def _check(
        self, slide: int, expected: tuple[str, ...], image: bytes | Path, origin: Origin | None
    ) -> None:
        try:
            data = (
                await anyio.to_thread.run_sync(image.read_bytes)
                if isinstance(image, Path)
                else image
            )
        except OSError:
            data = b""  # the file went: unreadable
        check = await self._read(slide, expected, data)
        self.found[slide] = check
        self._tell(slide, {**check.to_json(), "read": True})
        rounds = self.rounds.get(slide, 0)
        if check.state != "missing" or not rounds or origin is None or self.fixer is None:
            return

        def told(now: TextCheck, tried: int) -> None:
            self._tell(slide, {**now.to_json(), "fixes": tried, "read": True})

        async def judge(data: bytes) -> TextCheck:
            return await self._read(slide, expected, data)

        done = await self.fixer(origin, check, data, rounds, judge, told)
        self.found[slide] = done.check
        report = {**done.check.to_json(), "fixes": done.tried, "read": True}
        if done.stopped:
            report["fixes_stopped"] = done.stopped
        self._tell(slide, report)
