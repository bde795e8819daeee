"""One-line views of a run, for people and for agents who pay for every byte they read.

Both functions take the JSON form of the progress and results files, so ``run``, ``status``
and ``wait`` print the same line wherever the run is. The final line names the output folder
once and lists only what failed, grouped by reason: it grows with failures, not with the
deck. It says what this run and the whole deck cost (a rerun pays only for what changed, so
this run's figure alone under-reports the deck). It ends with what to do, from the errors'
kinds: the fix first (the key, the model, the quota, a slide's prompt), then a rerun; a
rerun alone only where one as it stands can finish the deck, so an agent following the line
cannot loop. A plain rerun keeps what the deck's manifest says was made; ``--resume`` is
named only after a run that was stopped or died (it also saves what was received but not
saved, and keeps what a dead run made but could not record). A stopped run's line says what
became of its requests on the wire: ``stopped: 4 in flight finished and saved``, ``stopped
at once: 3 in flight cut``. When the line must be short, the reasons are cut, never that
advice. A quota wait is shown from ``waiting_until`` against the wall clock now, not the
file's age, so a wait that is over is never reported, however old the file. The only text
taken from the files, a reason (the service's own words, and an endpoint can say anything)
and the output folder, is shown escaped (:func:`printable`), a reason also cut short; the
rest is numbers and words of ours. The fields' types are checked by whoever reads the files
(:mod:`.progress_file`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..wording import plural, slide_ranges

__all__ = [
    "died_line",
    "duration",
    "printable",
    "progress_line",
    "result_line",
    "running_parts",
    "utc_moment",
]

_MAX_REASON = 120
# The reasons shown, in characters: past it, "and N more reasons". The advice is not counted.
_REASONS_BUDGET = 240

# What to fix, by the error's kind (nanobanana_async.errors), in the order to fix it: what
# stopped the run first. Kinds absent here need no fix: a rerun can succeed as it stands.
_FIXES = {
    "InvalidApiKey": "set a valid GEMINI_API_KEY",
    "PermissionDenied": "fix the access (GEMINI_API_KEY, or the Vertex AI project)",
    "ModelNotFound": 'fix "model" in the config',
    "EndpointRedirected": "fix base_url (GOOGLE_GEMINI_BASE_URL)",
    # RPD quotas reset at midnight Pacific time; a ``limit: 0`` tier needs billing.
    "QuotaExhausted": "enable billing or wait for the daily reset (midnight Pacific)",
    "PromptBlocked": "reword {slides}",
    "ImageRefused": "reword {slides}",
    "BadRequest": "fix the config for {slides}",
    "OSError": "fix the write to output_dir",
    "OverBudget": "raise max_cost (or --max-cost)",
    "BatchPending": "wait for the batch (run with --batch-api) or cancel it "
    "(nanobanana cancel --config FILE)",
}
_ORDER = {kind: rank for rank, kind in enumerate(_FIXES)}
# An unusable answer (too big, an image that does not decode) is usually a one-off; one
# that keeps coming is the endpoint's: the reason names it.
_RERUN_HELPS = frozenset(
    {
        "TransientError",
        "RateLimited",
        "NoImageReturned",
        "UnusableAnswer",
        "Cancelled",
        "BatchCancelled",
        "BatchExpired",
        "BatchFailed",
        "BatchNotFound",
    }
)
# A failure whose kind is not known (the progress file has none): its reason says the fix.
_UNKNOWN_FIX = "fix what failed"
# A slide the run did not get to: "N of M saved" already says it.
_NOT_REACHED = "Cancelled"
_STATE_WORDS = {"failed": "stopped"}

Failure = tuple[int, str, str]  # slide, reason, kind ("" when not known)


def printable(text: str) -> str:
    """``text`` with every character that is not printable shown as its escape (``\\x1b``).

    A reason is the service's own message (an endpoint can say anything) and a path is
    anyone's: neither may move the cursor, set a terminal's title, reorder the line
    (``\\u202e``) or break it in two (``\\u2028``), for a person or for an agent reading it.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _short(text: str) -> str:
    text = printable(" ".join(text.split()).rstrip("."))
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _rank(kind: str) -> int:
    """Where a kind comes: in the order of ``_FIXES``, then the unknown, then reruns."""
    if kind in _ORDER:
        return _ORDER[kind]
    return len(_ORDER) + (kind in _RERUN_HELPS)


def _reasons(failures: list[Failure]) -> str:
    """``failed slides 3-10: ...; slide 2: ...``, what stopped the run first, within budget."""
    groups: dict[str, tuple[int, list[int]]] = {}
    for slide, reason, kind in failures:
        text = _short(reason)
        rank, numbers = groups.get(text, (_rank(kind), []))
        numbers.append(slide)
        groups[text] = (min(rank, _rank(kind)), numbers)
    ordered = sorted(groups.items(), key=lambda item: item[1][0])  # stable: slide order
    shown: list[str] = []
    for reason, (_, numbers) in ordered:
        text = f"{slide_ranges(numbers)}: {reason}"
        if shown and sum(len(t) + 2 for t in shown) + len(text) > _REASONS_BUDGET:
            break
        shown.append(text)
    line = "failed " + "; ".join(shown)
    hidden = len(ordered) - len(shown)
    if hidden:
        line += f"; and {hidden} more reason{'s' if hidden > 1 else ''} (see the results file)"
    return line


def _advice(failures: list[Failure], *, all_saved: bool, died: bool, resume: bool) -> str:
    """The fixes, in the order to make them, then a rerun; ``""`` if nothing is left.

    ``resume``: the run was interrupted (stopped, or died), so the rerun is ``--resume``.
    """
    fixes: dict[str, tuple[int, list[int]]] = {}
    for slide, _, kind in failures:
        if kind in _RERUN_HELPS:
            continue
        fix = _FIXES.get(kind, _UNKNOWN_FIX)
        rank, slides = fixes.get(fix, (_rank(kind), []))
        slides.append(slide)
        fixes[fix] = (min(rank, _rank(kind)), slides)
    if all_saved and not fixes:
        return ""
    then = ("rerun with --resume" if resume or died else "rerun") + (" to continue" if died else "")
    if not fixes:
        return then if died else f"{then} to finish"
    ordered = sorted(fixes.items(), key=lambda item: item[1][0])
    todo = ", ".join(fix.format(slides=slide_ranges(slides)) for fix, (_, slides) in ordered)
    return f"{todo}, then {then}"


def _final(
    *,
    state: str,
    saved: int,
    total: int,
    seconds: int | None,
    output_dir: str,
    reused: int,
    failures: Iterable[Failure],
    dry_run: bool = False,
    cost: float | None = None,
    stop: Mapping[str, Any] | None = None,
    deck_cost: float | None = None,
    text_to_check: Iterable[tuple[int, int]] = (),
    fell_back: Mapping[int, float | None] | None = None,
) -> str:
    if state == "done" and saved == total:
        line = f"done {saved}/{total}"
    elif state == "cancelled" and stop is not None:
        line = f"{_stopped(stop)}{saved} of {total} saved"
    else:
        line = f"{_STATE_WORDS.get(state, state)}: {saved} of {total} saved"
    if seconds is not None:
        line += f" in {duration(seconds)}"
    if reused:
        line += f" ({reused} reused)"
    if not dry_run:
        line += _spent(cost, deck_cost)
    line += f" -> {printable(output_dir)}"
    if dry_run:
        line += "; dry run (placeholder images)"
        if cost:
            line += f", the real run about ${cost:.2f}"
    line += _text_line(text_to_check)
    line += _fallback_line(fell_back or {})
    listed = [f for f in failures if f[2] != _NOT_REACHED]
    if listed:
        line += "; " + _reasons(listed)
    interrupted = state == "cancelled"
    advice = _advice(listed, all_saved=saved >= total, died=state == "died", resume=interrupted)
    return f"{line}; {advice}" if advice else line


def _text_line(slides: Iterable[tuple[int, int]]) -> str:
    """``; 2 slides with text to check (3, 7)``: the slides whose text check did not come
    out ``ok`` (missing or unreadable), with the fix rounds tried (``(7, after 2 fixes)``,
    ``(3 after 1 fix, 7 after 2 fixes)``); ``""`` when there are none."""
    fixes = dict(slides)
    numbers = sorted(fixes)
    if not numbers:
        return ""
    tried = set(fixes.values())
    if len(tried) == 1:
        shown = slide_ranges(numbers).split(" ", 1)[1]
        (rounds,) = tried
        if rounds:
            shown += f", after {plural(rounds, 'fix', 'fixes')}"
    else:
        shown = ", ".join(
            f"{n} after {plural(fixes[n], 'fix', 'fixes')}" if fixes[n] else str(n) for n in numbers
        )
    return f"; {plural(len(numbers), 'slide')} with text to check ({shown})"


def _text_to_check(checks: Iterable[tuple[object, object]]) -> list[tuple[int, int]]:
    """The slides of ``(slide, text_check)`` pairs whose check is not ``ok``, each with the
    fix rounds it was sent through."""
    found = []
    for slide, check in checks:
        if isinstance(check, Mapping) and check.get("state", "ok") != "ok" and str(slide).isdigit():
            fixes = check.get("fixes")
            tried = fixes if isinstance(fixes, int) and not isinstance(fixes, bool) else 0
            found.append((int(str(slide)), max(0, min(tried, 9))))
    return found


def _fallback_line(slides: Mapping[int, float | None]) -> str:
    """``; 2 slides fell back from Flex to standard (3, 7), $0.27``: the slides Flex shed
    past their retries and that were made at standard instead; ``""`` when none did."""
    if not slides:
        return ""
    shown = slide_ranges(sorted(slides)).split(" ", 1)[1]
    costs = list(slides.values())
    paid = "" if None in costs else f", {_dollars(sum(c or 0.0 for c in costs))}"
    word = "slides" if len(slides) > 1 else "slide"
    return f"; {len(slides)} {word} fell back from Flex to standard ({shown}){paid}"


def _fell_back(outputs: Iterable[Mapping[str, Any]]) -> dict[int, float | None]:
    """Slide -> its cost, for the outputs that fell back from Flex to standard."""
    return {int(o.get("slide", 0)): _cost(o.get("cost_usd")) for o in outputs if o.get("fell_back")}


def _spent(cost: float | None, deck: float | None) -> str:
    """``, about $0.27 this run, $1.64 for the deck at list prices``; ``, $0.27`` when the
    deck's total is not known (a results file older than it); ``""`` when nothing was paid.

    Both are estimates: the answers' usage at the price table's rates, whatever Google bills.
    A run that paid nothing still says so when the deck cost something, so an agent asked
    what the deck cost never reads a blank.
    """
    if deck is not None and deck > 0:
        this_run = "" if cost is None else f"about {_dollars(cost)} this run, "
        return f", {this_run}{_dollars(deck)} for the deck at list prices"
    return f", ${cost:.2f}" if cost is not None and cost > 0 else ""


def _dollars(usd: float) -> str:
    """``$0`` for nothing at all, else to the cent: ``$0.27``."""
    return "$0" if usd == 0 else f"${usd:.2f}"


def _stopped(stop: Mapping[str, Any]) -> str:
    """``stopped: 4 in flight finished and saved, ``, ``stopped at once: 3 in flight cut, ``."""
    finished, cut = int(stop.get("finished") or 0), int(stop.get("cut") or 0)
    if cut and not finished:
        return f"stopped at once: {cut} in flight cut, "
    parts = [f"{finished} in flight finished and saved"] if finished else []
    if cut:
        parts.append(f"{cut} cut")
    return "stopped: " + "".join(f"{part}, " for part in parts)


def result_line(results: Mapping[str, Any]) -> str:
    """The final summary: ``done 10/10 in 41s (8 reused), about $0.27 this run, $1.64 for
    the deck at list prices -> /deck``, or what failed and what to do.

    ``stopped: 12 of 20 saved in 41s -> /deck; failed slides 13-20: API key not valid;
    set a valid GEMINI_API_KEY, then rerun with --resume``.
    """
    return _final(
        state=str(results.get("state", "done")),
        saved=int(results.get("completed", 0)),
        total=int(results.get("total", 0)),
        seconds=int(results.get("duration_seconds", 0)),
        output_dir=str(results.get("output_dir", "")),
        reused=sum(1 for o in results.get("outputs", []) if o.get("reused")),
        failures=[
            (int(e.get("slide", 0)), str(e.get("error", "")), str(e.get("kind", "")))
            for e in results.get("errors", [])
        ],
        dry_run=bool(results.get("dry_run")),
        cost=_cost(results.get("cost_usd")),
        stop=_stop(results.get("stop")),
        deck_cost=_cost(results.get("deck_cost_usd")),
        text_to_check=_text_to_check(
            (o.get("slide"), o.get("text_check")) for o in results.get("outputs", [])
        ),
        fell_back=_fell_back(results.get("outputs", [])),
    )


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _stop(value: object) -> Mapping[str, Any] | None:
    """A file's ``stop`` (the readers checked its counts), or ``None``."""
    return value if isinstance(value, Mapping) else None


def _cost(value: object) -> float | None:
    """The results' ``cost_usd`` (or ``deck_cost_usd``) when it is a sane number, else
    nothing to show."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value < 1e9 else None


def duration(seconds: float) -> str:
    """``42s``, ``1m30s``, ``2h05m`` (whole seconds, rounded down)."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def utc_moment(text: object) -> datetime | None:
    """A timestamp of the files (UTC ISO 8601, ``Z``), aware; ``None`` if it is not one."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _seconds_between(start: object, end: object) -> int:
    began, ended = utc_moment(start), utc_moment(end)
    if began is None or ended is None:
        return 0
    return max(0, round((ended - began).total_seconds()))


def _progress_failures(progress: Mapping[str, Any]) -> list[Failure]:
    """The failed slides of a progress file, whose errors carry no kind."""
    errors = progress.get("errors") or {}
    return [(int(s), str(errors.get(str(s), "failed")), "") for s in progress.get("failed") or []]


def _saved(progress: Mapping[str, Any]) -> int:
    current = int(progress.get("current", 0))
    return int(progress.get("succeeded", current - len(progress.get("failed") or [])))


def running_parts(progress: Mapping[str, Any], now: datetime | None = None) -> dict[str, str]:
    """The pieces of a running line by name, in the line's order.

    ``count`` (``4/10``), then those that apply: ``failed``, ``in_flight``, ``queued``
    (Flex requests waiting in the service's queue: ``queued (flex) 4 min``), ``waiting``
    (on the quota, while a second of it is left at ``now``), ``waits``, ``eta``.
    """
    parts = {"count": f"{int(progress.get('current', 0))}/{int(progress.get('total', 0))}"}
    failed = len(progress.get("failed") or [])
    if failed:
        parts["failed"] = f"{failed} failed"
    in_flight = len(progress.get("in_flight") or [])
    if in_flight:
        parts["in_flight"] = f"{in_flight} in flight"
    queued = _mapping(progress.get("queued"))
    if queued.get("slides"):
        minutes = max(1, int(_cost(queued.get("seconds")) or 0) // 60)
        parts["queued"] = f"queued ({printable(str(queued.get('tier', 'flex')))}) {minutes} min"
    until = utc_moment(progress.get("waiting_until"))
    if until is not None:
        left = (until - (now or datetime.now(UTC))).total_seconds()
        if left >= 1:
            parts["waiting"] = f"waiting on quota {duration(int(left))}"
    waits = int(progress.get("rate_limit_waits") or 0)
    if waits:
        parts["waits"] = f"{waits} rate-limit wait{'s' if waits != 1 else ''}"
    eta = progress.get("eta_seconds")
    if eta is not None:
        parts["eta"] = f"ETA {duration(int(eta))}"
    return parts


def progress_line(progress: Mapping[str, Any], now: datetime | None = None) -> str:
    """``running 4/10, 3 in flight, waiting on quota 42s, 2 rate-limit waits, ETA 1m30s``.

    Or the final line once the run is over: as :func:`result_line`, but the progress file
    knows no error kinds, so a failure's fix is left to its reason. ``now`` is the current
    time, timezone-aware (default: the wall clock).
    """
    state = str(progress.get("state", "running"))
    if state == "stopping":
        return _stopping_line(progress, now or datetime.now(UTC))
    if state != "running":
        seconds = progress.get("duration_seconds")  # the results' figure, where written
        return _final(
            state=state,
            saved=_saved(progress),
            total=int(progress.get("total", 0)),
            seconds=int(seconds)
            if seconds is not None
            else _seconds_between(progress.get("started_at"), progress.get("updated_at")),
            output_dir=str(progress.get("output_dir", "")),
            reused=int(progress.get("reused") or 0),
            failures=_progress_failures(progress),
            stop=_stop(progress.get("stop")),
            text_to_check=_text_to_check(_mapping(progress.get("text_checks")).items()),
        )
    batch = progress.get("batch")
    if isinstance(batch, Mapping):
        return _batch_line(progress, batch, now or datetime.now(UTC))
    return f"{state} " + ", ".join(running_parts(progress, now).values())


def _stopping_line(progress: Mapping[str, Any], now: datetime) -> str:
    """``stopping: 3 in flight, finishing them (cut in 1m55s); 4/10 done``."""
    count = f"{int(progress.get('current', 0))}/{int(progress.get('total', 0))} done"
    in_flight = len(progress.get("in_flight") or [])
    line = f"stopping: {in_flight} in flight, finishing them" if in_flight else "stopping"
    until = utc_moment(progress.get("stopping_until"))
    if in_flight and until is not None:
        line += f" (cut in {duration(max(0, int((until - now).total_seconds())))})"
    return f"{line}; {count}"


def _batch_line(progress: Mapping[str, Any], batch: Mapping[str, Any], now: datetime) -> str:
    """``batch PENDING 0/40, submitted 3 min ago``: a Batch API run, waiting on Google."""
    state = printable(str(batch.get("state") or "SUBMITTING"))[:24]
    count = f"{int(progress.get('current', 0))}/{int(progress.get('total', 0))}"
    line = f"batch {state} {count}"
    sent = utc_moment(batch.get("submitted_at"))
    if sent is not None:
        minutes = max(0, int((now - sent).total_seconds() // 60))
        ago = (
            "just now"
            if minutes == 0
            else f"{minutes} min ago"
            if minutes < 60
            else f"{duration(minutes * 60)} ago"
        )
        line += f", submitted {ago}"
    return line


def died_line(progress: Mapping[str, Any]) -> str:
    """A run whose process is gone: ``died: 3 of 10 saved -> /deck; rerun with --resume ...``.

    Nothing is in flight and nothing is waited for any more, whatever the file last said.
    """
    return _final(
        state="died",
        saved=_saved(progress),
        total=int(progress.get("total", 0)),
        seconds=None,
        output_dir=str(progress.get("output_dir", "")),
        reused=int(progress.get("reused") or 0),
        failures=_progress_failures(progress),
    )
