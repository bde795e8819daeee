"""``nanobanana edit`` and ``nanobanana pick``: change one slide of a made deck, then make it.

Each checks everything first, so bad input costs nothing and is said in one line naming the
field and the fix (exit 2): the config loads, the slide is one of it and has been made, the
instruction and the region are sound, the model edits, no run of the deck is live. Only then
is the config file changed (:mod:`~nanobanana_async.config.writeback`, against the snapshot
taken when it was read, so an editor's save in between is refused, not overwritten), and the
slide alone is run as ``run`` runs a deck (:func:`.run.run_command`, its final line).

``edit --undo`` and ``pick`` put back an image already made: they run with nothing sent.
``pick`` never buys: a chain of edits to make again on the picked candidate is left to
``nanobanana run``, and said with its number of requests and its price (the slide is not
run then: with nothing sent it would only be failed, its image and sheets unchanged).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..config.loading import DeckConfig, SlideSpec, load_config
from ..config.writeback import ConfigSnapshot, append_edit, drop_last_edit, set_pick, snapshot
from ..engine.chains import chain_of
from ..engine.manifest import Manifest
from ..engine.plan import Job, plan_jobs
from ..engine.rerun import plan_run
from ..errors import ConfigError
from ..exits import EXIT_OK, EXIT_USAGE
from ..files.lock import deck_holder
from ..service.edit_body import EditStep, Region
from ..wording import plural

__all__ = ["edit_command", "parse_region", "pick_command"]

# A run of one slide, as ``run`` parses it: its files and options, its final line.
RunSlide = Callable[..., int]


def parse_region(text: str) -> Region:
    """``x,y,w,h``: four numbers (the config checks the box is inside the image).

    Raises:
        ConfigError: not four numbers.
    """
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4:
        raise ConfigError(
            "--region",
            f"must be x,y,w,h, four fractions of the image from its top left like "
            f"0.1,0.05,0.5,0.2, got {text[:40]!r}",
        )
    return Region(*values)


# A step's fields in the config's words (slides[2].edits[1].region), named as given here.
_STEP_FIELD = re.compile(r"\.edits\[\d+\](?P<part>\.instruction|\.region)?$")


def _as_given(error: ConfigError) -> ConfigError:
    """The loader's refusal of the new step, naming the argument that gave it."""
    match = _STEP_FIELD.search(error.field)
    if match is None:
        return error
    return ConfigError("--region" if match["part"] == ".region" else "instruction", error.problem)


def _refused(error: ConfigError) -> int:
    print(f"nanobanana: error: {error}", file=sys.stderr)
    return EXIT_USAGE


class _Deck:
    """The config as read (and its snapshot, taken first), the slide asked and its job."""

    def __init__(self, path: Path, number: int) -> None:
        self.path = path
        self.since: ConfigSnapshot = snapshot(path)
        self.config: DeckConfig = load_config(path, env=dict(os.environ))
        self.config.require_key("; edit and pick run the slide as nanobanana run does")
        self.number = number
        self.slide: SlideSpec = self._slide()

    def _slide(self) -> SlideSpec:
        for slide in self.config.slides:
            if slide.number == self.number:
                return slide
        numbers = [str(slide.number) for slide in self.config.slides]
        shown = ", ".join(numbers[:10]) + (", ..." if len(numbers) > 10 else "")
        raise ConfigError(
            "SLIDE", f"{self.number} is not a slide of {self.path}; its slides are {shown}"
        )

    def job(self) -> Job:
        return next(job for job in plan_jobs(self.config) if job.slide == self.number)

    def manifest(self) -> Manifest:
        return Manifest.read(self.config.output_dir, self.config.api_key)

    def require_made(self, job: Job) -> None:
        """The slide has an image of a run of ours: there is something to edit."""
        if not job.dest.is_file() or self.number not in self.manifest().slides:
            raise ConfigError(
                "SLIDE",
                f"slide {self.number} has never been generated ({job.dest.name} is not in "
                f"{self.config.output_dir}); make it first: nanobanana run {self.path}",
            )

    def require_idle(self) -> None:
        """No run of the deck is live: it would refuse this one, after the file changed."""
        holder = deck_holder(self.config.output_dir)
        if holder is not None:
            raise ConfigError(
                "CONFIG",
                f"a run of this deck is live (pid {holder}, writing {self.config.output_dir}); "
                "wait for it to end (nanobanana wait) or stop it (nanobanana stop), then "
                "run this command again",
            )


def edit_command(
    config_file: Path,
    slide: int,
    instruction: str | None,
    region: str | None,
    *,
    undo: bool,
    run_slide: RunSlide,
) -> int:
    """Append the step (or drop the last one, ``undo``) and make slide ``slide`` alone.

    ``run_slide(only=, send=)``: ``run`` on the same config, for that slide.
    """
    try:
        deck = _Deck(config_file, slide)
        if undo:
            if instruction is not None or region is not None:
                raise ConfigError(
                    "--undo", "drops the last step: give no instruction nor --region with it"
                )
            deck.require_idle()
            dropped = drop_last_edit(config_file, slide, since=deck.since)
            if dropped is None:
                raise ConfigError(
                    "--undo", f"slide {slide} has no edit step to undo (its config has no edits)"
                )
            return run_slide(only=frozenset({slide}), send=False)
        deck.require_made(deck.job())
        if instruction is None:
            raise ConfigError(
                "instruction", 'required: what to change, like "make the title bigger"'
            )
        box = None if region is None else parse_region(region)
        deck.require_idle()
        # The step is checked as the config checks it (an empty instruction, a box past the
        # image's edge, a model that cannot edit): the file is written only if it loads.
        append_edit(config_file, slide, EditStep(instruction, box), since=deck.since)
    except ConfigError as error:
        return _refused(_as_given(error))
    return run_slide(only=frozenset({slide}), send=True)


def pick_command(config_file: Path, slide: int, k: int, *, run_slide: RunSlide) -> int:
    """Make candidate ``k`` slide ``slide`` (no request), saying what edits remain to make."""
    try:
        deck = _Deck(config_file, slide)
        variants = deck.slide.variants
        if variants == 1:
            raise ConfigError(
                "K",
                f'slide {slide} has one candidate, no other to pick; give it "variants": 2 '
                "to 4 in the config and run it, then pick",
            )
        if not 1 <= k <= variants:
            raise ConfigError(
                "K",
                f"slide {slide} has no candidate {k}: it has {plural(variants, 'candidate')} "
                f"(pick 1 to {variants}, or raise its variants and run the deck)",
            )
        job = deck.job()
        deck.require_made(job)
        record = deck.manifest().slides.get(slide)
        wanted = chain_of(deck.config.model, job).candidates[k - 1]
        if record is None or wanted.key not in record.units:
            raise ConfigError(
                "K",
                f"candidate {k} of slide {slide} has not been made; make it first: "
                f"nanobanana run {config_file}",
            )
        deck.require_idle()
        set_pick(config_file, slide, k, since=deck.since)
        remaining = _edits_to_make(config_file, slide, k)
    except ConfigError as error:
        return _refused(error)
    if remaining:
        # Nothing to put in place yet: a run that sends nothing would only fail the slide.
        print(remaining)
        return EXIT_OK
    return run_slide(only=frozenset({slide}), send=False)


def _edits_to_make(config_file: Path, slide: int, k: int) -> str:
    """What the slide's edits cost made again on the candidate picked, or ``""``."""
    config = load_config(config_file, env=dict(os.environ))
    only = frozenset({slide})
    manifest = Manifest.read(config.output_dir, config.api_key)
    plan = plan_run(config, plan_jobs(config), manifest, only=only)
    rows = [r for r in plan.unit_rows() if r["slide"] == slide and r["action"] == "edit"]
    if not rows:
        return ""
    costs = [r["cost_usd"] for r in rows]
    known = [float(c) for c in costs if isinstance(c, int | float)]
    price = f", about ${sum(known):.2f}" if len(known) == len(costs) else ""
    return (
        f"picked candidate {k} of slide {slide}; its edits are to be made again on it: "
        f"{plural(len(rows), 'request')}{price}; nanobanana run {config_file} makes them "
        "(until then the slide shows the earlier pick)"
    )
