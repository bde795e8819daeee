"""What a text fix round is before it is sent: its key, its price, and what a run may spend.

A fix round (:mod:`.text_fixes`) is keyed by the unit it edits and its instruction, as an
edit step is (:mod:`.chains`), so a resumed run finds it on disk. Its price is an edit's
(:func:`~..cost.edit_cost`). Whether a slide needs one is known only once it is read, so a
plan can say only what the run *may* spend: every checked slide the run will read, each
through all its rounds. That figure is shown (``nanobanana plan``), not reserved: the budget
(``max_cost``) holds each round as it is about to be sent, so a deck whose text comes out
right is not refused for fixes it never needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..config.loading import DeckConfig
from ..cost import edit_cost
from ..errors import ConfigError
from ..service.model_ids import signs_turns
from ..wording import plural
from .chains import CHARS_PER_TOKEN
from .manifest import Decision, Manifest
from .plan import Job

__all__ = [
    "PossibleFixes",
    "carried",
    "check_fix_text",
    "fix_cost",
    "fix_key",
    "possible_fixes",
]

# What a correction instruction adds to a prompt, in tokens, at most: a few strings of 100
# characters at most (qa.quotes), each named twice.
_INSTRUCTION_TOKENS = 200


def check_fix_text(config: DeckConfig, fix_text: int | None) -> None:
    """Refuse ``--fix-text N`` (N > 0) on a deck that checks no slide's text: it would do
    nothing, which the user did not mean."""
    if fix_text and not any(spec.expected_text for spec in config.slides):
        raise ConfigError(
            "--fix-text",
            "corrects text the check found wrong, and no slide is checked; "
            'set "check_text": true or give slides their "text", or drop --fix-text',
        )


def carried(kept: Mapping[str, Any] | None, expected: Sequence[str], rounds: int) -> bool:
    """Whether a kept slide's last check (its manifest's) stands for this run, unread: it
    checked the strings the slide states now, and no fix it allows is left to try (a slide
    still wrong after fewer rounds than it has now, or held back by the budget, is read and
    fixed again; the rounds already made are found under their keys, not bought again)."""
    if kept is None or kept.get("expected") != list(expected):
        return False
    if kept.get("state") != "missing":
        return True
    return int(kept.get("fixes", 0)) >= rounds and "fixes_stopped" not in kept


def fix_key(before: str, model: str, instruction: str, generation: Mapping[str, Any]) -> str:
    """The key of a fix round: the unit it edits and what it asks."""
    value = {
        "fix": before,
        "model": model,
        "instruction": instruction,
        "generation": dict(generation),
    }
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def fix_cost(config: DeckConfig, slide: int, references: int) -> float | None:
    """What one fix round of ``slide`` is expected to cost: an edit that sends back the user
    turn (its ``references``) and the model's image, or the image alone when the model keeps
    no turn, with the slide's prompt and a correction."""
    spec = next(s for s in config.slides if s.number == slide)
    images = references + 1 if signs_turns(config.model) else 1
    tokens = len(spec.full_prompt) // CHARS_PER_TOKEN + _INSTRUCTION_TOKENS
    return edit_cost(config.model, spec.image_size, images, prompt_tokens=tokens)


@dataclass(frozen=True, slots=True)
class PossibleFixes:
    """The fix rounds a run may send: slide -> its rounds, and what one round costs.

    Attributes:
        rounds: each slide the run reads that has rounds to spend -> how many.
        round_costs: each of them -> the expected USD of one round (``None``: unknown).
    """

    rounds: Mapping[int, int]
    round_costs: Mapping[int, float | None]

    @property
    def edits(self) -> int:
        return sum(self.rounds.values())

    @property
    def cost_usd(self) -> float | None:
        total = 0.0
        for slide, rounds in self.rounds.items():
            cost = self.round_costs.get(slide)
            if cost is None:
                return None
            total += cost * rounds
        return total

    def line(self) -> str:
        """``up to 2 fixes each: up to 16 edits, up to $1.07 more``; ``""`` with none."""
        if not self.edits:
            return ""
        cost = self.cost_usd
        price = "cost unknown" if cost is None else f"up to ${cost:.2f} more"
        each = set(self.rounds.values())
        if len(each) == 1:
            (rounds,) = each
            return f"up to {plural(rounds, 'fix', 'fixes')} each: up to {self.edits} edits, {price}"
        return f"up to {plural(self.edits, 'fix', 'fixes')}, {price}"

    def to_dict(self) -> dict[str, object]:
        cost = self.cost_usd
        return {
            "slides": {str(n): r for n, r in self.rounds.items()},
            "edits": self.edits,
            "cost_usd": None if cost is None else round(cost, 4),
        }


def possible_fixes(
    config: DeckConfig,
    jobs: Iterable[Job],
    verdicts: Mapping[int, Decision],
    manifest: Manifest,
    *,
    fix_text: int | None = None,
    only: frozenset[int] | None = None,
) -> PossibleFixes:
    """The rounds a run of ``config`` may send: each checked slide it will read (made,
    saved or put back; kept, when its manifest keeps no check of the text it states now),
    through all its rounds (``fix_text``: ``--fix-text``, over each slide's own)."""
    specs = {spec.number: spec for spec in config.slides if spec.expected_text}
    rounds: dict[int, int] = {}
    costs: dict[int, float | None] = {}
    for job in jobs:
        spec = specs.get(job.slide)
        if spec is None or (only is not None and job.slide not in only):
            continue
        count = spec.fix_text if fix_text is None else fix_text
        decision = verdicts.get(job.slide)
        if not count or decision is Decision.REENCODE:
            continue  # a re-encoded slide is read again, never fixed
        record = manifest.slides.get(job.slide)
        kept = None if record is None else record.text_check
        if decision is Decision.KEEP and carried(kept, spec.expected_text, count):
            continue  # its check is carried, not read again
        rounds[job.slide] = count
        costs[job.slide] = fix_cost(config, job.slide, job.images)
    return PossibleFixes(rounds, costs)
