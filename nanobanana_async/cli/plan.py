"""``nanobanana plan``: what a run of a config would do and cost, with nothing sent.

One line for people and agents (``plan (free, sends nothing): 10 slides -> /deck; generate
2 (slides 3, 7), keep 8; 2 requests, about $0.27 at list prices as of 2026-11 ($0.13 through
the Batch API)``), or the plan as JSON with ``--json``. It begins by saying it is free, so an
agent asked to keep costs down does not hold back from looking. ``--slides`` adds a
line per slide: what the run does with it, why (which field changed) and what it costs;
the JSON always carries them. The plan is the one ``run`` follows
(:mod:`~nanobanana_async.engine.rerun`); ``--resume`` shows what a resumed run would do,
the images an interrupted run received and did not save included (``save 1 received
(slide 4)``: no request). A deck that checks its text adds ``text checked on 4 slides``,
and ``--slides`` what each of them must say; one that fixes it, what the fixes may cost at
most (``up to 2 fixes each: up to 8 edits, up to $0.54 more``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from ..config.loading import DeckConfig, load_config
from ..cost import rate_share
from ..cost.prices import BATCH_DISCOUNT
from ..engine.fix_units import check_fix_text, possible_fixes
from ..engine.manifest import Decision, Manifest
from ..engine.options import run_options
from ..engine.plan import plan_jobs
from ..engine.rerun import RunPlan, check_budget, plan_run
from ..engine.settings import EngineSettings
from ..errors import ConfigError
from ..exits import EXIT_OK, EXIT_USAGE
from ..follow.summary import printable
from ..wording import plural, slide_ranges

__all__ = ["plan_command", "plan_line", "plates_cost", "plates_phrase", "slide_lines", "text_lines"]

_WORDS = {
    Decision.GENERATE: "generate",
    Decision.RESTORE: "restore",  # a unit made earlier put back (an undo, a pick): no request
    Decision.RECOVER: "save",  # what the interrupted run received: no request
    Decision.REENCODE: "re-encode",
    Decision.KEEP: "keep",
}


def plan_line(plan: RunPlan, output_dir: Path, *, batch_api: bool = False) -> str:
    """``plan (free, sends nothing): 10 slides -> /deck; generate 2 (slides 3, 7), keep 8; 2
    requests, about $0.27 at list prices as of 2026-11 ($0.13 through the Batch API)``.

    ``batch_api``: the run goes through the Batch API, whose price comes first. A deck with
    edit chains or variants counts units instead of slides (:meth:`RunPlan.unit_summary`):
    ``generate 3 (slide 4: candidates 1-3), edit 3 (slides 3 x2, 7), restore 1 (slide 5)``.
    """
    units = plan.unit_summary()
    parts = [units] if units else []
    for decision, word in _WORDS.items():
        if units and decision in (Decision.GENERATE, Decision.RESTORE):
            continue  # said by unit
        slides = plan.to_buy if decision is Decision.GENERATE else plan.slides(decision)
        if slides:
            shown = f" ({slide_ranges(slides)})" if decision is not Decision.KEEP else ""
            received = " received" if decision is Decision.RECOVER else ""
            parts.append(f"{word} {len(slides)}{received}{shown}")
    if plan.in_batch:
        parts.append(_awaited(plan, batch_api=batch_api))
    cost = plan.cost_usd
    listed = f"list prices as of {plan.prices_as_of}"
    price = f"cost unknown (no {listed} for this model)"
    batch = plan.batch_cost_usd
    if batch_api and batch is not None:
        price = f"about ${batch:.2f} through the Batch API at {listed} (${cost:.2f} standard)"
    elif cost is not None:
        price = _tier_prices(plan, listed)
    requests = plural(plan.requests, "request")
    if batch_api:
        requests = f"{requests} in one batch"
    return (
        f"plan (free, sends nothing): {plural(len(plan.verdicts), 'slide')} -> {output_dir}; "
        f"{', '.join(parts)}; {requests}, {price}"
    )


def _tier_prices(plan: RunPlan, listed: str) -> str:
    """``about $1.34 standard at list prices as of 2026-11 (Priority $2.69, Flex $0.67, $0.67
    through the Batch API)``: the run at the tiers its slides ask for, then every other price.

    A deck on one tier other than standard leads with it (``about $0.67 on Flex ...
    (standard $1.34, ...)``); one of several tiers with their sum (``at the tiers asked``).
    """
    costs = plan.tier_costs
    asked = {plan.tiers.get(slide, "standard") for slide in plan.to_buy} or {"standard"}
    lead = next(iter(asked)) if len(asked) == 1 else ""
    cost = plan.cost_at()
    where = " standard" if lead == "standard" else f" on {lead.title()}" if lead else ""
    where = where or " at the tiers asked"
    others = [
        f"{'standard' if tier == 'standard' else tier.title()} ${costs[tier] or 0.0:.2f}"
        for tier in ("standard", "priority", "flex")
        if tier != lead and costs[tier]
    ]
    if costs["batch"]:
        others.append(f"${costs['batch']:.2f} through the Batch API")
    shown = f" ({', '.join(others)})" if others else ""
    return f"about ${cost or 0.0:.2f}{where} at {listed}{shown}"


def _awaited(plan: RunPlan, *, batch_api: bool) -> str:
    """``collect 8 (slides 1-8) from batch batches/x, sent ..., not bought again (...)``."""
    record = plan.batch or {}
    name = printable(str(record.get("name") or record.get("display_name") or ""))
    sent = printable(str(record.get("submitted_at") or "earlier"))
    slides = plan.in_batch
    wait = "this run waits for it" if batch_api else "run with --batch-api to wait for it"
    return (
        f"collect {len(slides)} ({slide_ranges(slides)}) from batch {name}, sent {sent}, "
        f"not bought again ({wait}; nanobanana cancel --config FILE cancels it)"
    )


def slide_lines(plan: RunPlan, *, batch_api: bool = False) -> list[str]:
    """One line per slide, in config order: number, action, expected cost, why.

    ``batch_api``: costs at the Batch API's rate.
    """
    lines = [f"{'slide':>5}  {'action':<9}  {'cost':>6}  why"]
    for slide, verdict in plan.verdicts.items():
        cost = plan.slide_cost(slide)
        why = printable(verdict.describe())
        if slide in plan.in_batch:
            shown, why = "-", f"{why}; the batch still out delivers it"
        elif cost is None:
            shown = "?"
        elif verdict.decision is not Decision.GENERATE:
            shown = "-"
        else:
            tier = plan.tiers.get(slide, "standard")
            shown = f"${cost * (BATCH_DISCOUNT if batch_api else rate_share(tier=tier)):.2f}"
        word = _WORDS[verdict.decision]
        lines.append(f"{slide:>5}  {word:<9}  {shown:>6}  {why}")
    return lines


def text_lines(config: DeckConfig) -> list[str]:
    """``slide 3 text: 'Our Engineering Team', 'Q3'``: what each checked slide must say."""
    return [
        f"slide {s.number} text: " + ", ".join(f"'{printable(t)}'" for t in s.expected_text)
        for s in config.slides
        if s.expected_text
    ]


def plan_command(
    config_file: Path,
    *,
    as_json: bool,
    regenerate: frozenset[int],
    force: bool,
    batch_api: bool = False,
    resume: bool = False,
    slides: bool = False,
    max_cost: float | None = None,
    fix_text: int | None = None,
    budget: bool = False,
    editable: bool = False,
    service_tier: str | None = None,
) -> int:
    """``budget``: refuse a plan over the budget as ``run`` does (``run --dry-run``);
    ``editable``: the run exports the editable PPTX (``--export pptx-editable``), whose
    plates are priced after the run's own figure; the fix rounds a run may send are
    shown, not counted against it (:mod:`~..engine.fix_units`); ``service_tier``: every
    slide's tier, as ``run --tier`` says."""
    try:
        config = load_config(config_file, env=dict(os.environ))
        check_fix_text(config, fix_text)
        settings = EngineSettings(
            batch_api=batch_api, max_cost=max_cost, fix_text=fix_text, service_tier=service_tier
        )
        options = run_options(config, settings)
        manifest = Manifest.read(config.output_dir, config.api_key)  # as a run reads it
        jobs = plan_jobs(config)
        plan = plan_run(
            config,
            jobs,
            manifest,
            regenerate=regenerate,
            force=force,
            resume=resume,
            service_tier=options.service_tier,
        )
        verdicts = {n: v.decision for n, v in plan.verdicts.items()}
        fixes = possible_fixes(config, jobs, verdicts, manifest, fix_text=options.fix_text)
        if budget:
            check_budget(plan, options.max_cost, batch=options.batch_api)
    except ConfigError as error:
        print(f"nanobanana: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for notice in config.notices:
        print(f"nanobanana: notice: {notice}", file=sys.stderr)
    checked = {s.number: s.expected_text for s in config.slides if s.expected_text}
    if as_json:
        data = {"output_dir": str(config.output_dir), **plan.to_dict()}
        if checked:  # slide number -> the strings its text check looks for
            data["text_checked"] = {str(n): list(text) for n, text in checked.items()}
        if editable:
            data["plates"] = {"slides": len(config.slides), "cost_usd": plates_cost(config)}
        if fixes.edits:  # the fix rounds the run may send, at most, and their cost
            data["text_fixes"] = fixes.to_dict()
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        return EXIT_OK
    batched = options.batch_api
    lines = [plan_line(plan, config.output_dir, batch_api=batched)]
    if checked:
        lines[0] += f"; text checked on {plural(len(checked), 'slide')}"
    if fixes.edits:
        lines[0] += f"; {fixes.line()}"
    if editable:
        lines[0] += "; " + plates_phrase(config)
    if slides:
        lines += slide_lines(plan, batch_api=batched)
        lines += text_lines(config)
    print("\n".join(lines))
    return EXIT_OK


def plates_cost(config: DeckConfig) -> float | None:
    """What the editable PPTX's plates cost at most before the deck is made: one for each
    slide (which show text is known only once they are made), each one image sent with
    the plate's instruction; ``None`` when the model has no known price."""
    from ..cost.estimate import image_cost
    from ..engine.chains import CHARS_PER_TOKEN
    from ..engine.plates import PLATE_INSTRUCTION

    tokens = len(PLATE_INSTRUCTION) // CHARS_PER_TOKEN + 1
    total = 0.0
    for spec in config.slides:
        cost = image_cost(config.model, spec.image_size, prompt_tokens=tokens, reference_images=1)
        if cost is None:
            return None
        total += cost
    return total


def plates_phrase(config: DeckConfig) -> str:
    """``editable PPTX: up to 10 plates, about $1.34 more (...)``, for the plan's line."""
    cost = plates_cost(config)
    price = "cost unknown" if cost is None else f"about ${cost:.2f} more"
    return (
        f"editable PPTX: up to {plural(len(config.slides), 'plate')}, {price} (one a slide "
        "with text, kept; a plate that still shows text is retried once)"
    )
