"""The failures the emulator can inject, by name, by script or at a rate.

:data:`FAULT_KINDS` names them, as ``script``, ``--fail-kinds`` and the stats do. A script
names the fault of the n-th generation request (1-based, counted since start or reset)
and wins over the rate for its ordinals. The *rejection* kinds are answered at once and
consume no quota, as real rejections do; every other kind happens to an admitted request.

A batch fails differently: one request of it, answered in its output
(:data:`BATCH_FAULT_KINDS`: an error of its own, or an answer without an image), or the
whole batch (:data:`BATCH_OUTCOMES`). :class:`BatchScript` names which, by the request's
key and by the batch's ordinal; ``batch_fail_rate`` draws the rest.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

__all__ = [
    "BATCH_ERROR_KINDS",
    "BATCH_FAULT_KINDS",
    "BATCH_OUTCOMES",
    "DEFAULT_FAIL_KINDS",
    "FAULT_KINDS",
    "REJECTION_KINDS",
    "BatchScript",
    "FaultPlan",
    "parse_kinds",
    "parse_script",
]

# ``500``            500 INTERNAL
# ``503``            503 UNAVAILABLE, one of the three real messages
# ``504``            504 DEADLINE_EXCEEDED, after the model's usual latency
# ``429``            a per-minute quota 429 with an honest-looking ``RetryInfo``
# ``429-day``        a per-day quota 429 (the client must stop, not retry)
# ``429-overload``   a 429 about no quota (no ``QuotaFailure``), as from an overloaded service
# ``invalid-key``    the 400 ``API_KEY_INVALID`` body, as for a key revoked mid-run
# ``drop``           the connection is dropped after the response has started
# ``slow``           no answer for ``600 s * time_scale``, unless the client gives up first
# ``truncated``      a 200 whose JSON body is cut short
# ``no-image``       ``finishReason: NO_IMAGE`` with ``content: {}``
# ``image-safety``   ``finishReason: IMAGE_SAFETY`` and no image
# ``blocked``        no candidates, ``promptFeedback.blockReason``
# ``misspell``       a 200 whose slide has one typo in its quoted text (as ``misspell_rate``)
# ``keeps-text``     a 200 to a remove-the-text request with the text left in (:mod:`.plates`)
FAULT_KINDS: tuple[str, ...] = (
    "500",
    "503",
    "504",
    "429",
    "429-day",
    "429-overload",
    "invalid-key",
    "drop",
    "slow",
    "truncated",
    "no-image",
    "image-safety",
    "blocked",
    "misspell",
    "keeps-text",
)
# Answered at once, consuming no quota, as real rejections are.
REJECTION_KINDS = frozenset({"429", "429-day", "429-overload", "invalid-key"})
# The rate's default kinds leave out ``invalid-key`` and ``429-day``: either one ends a whole
# client run, which is a scenario to script, not noise to sprinkle. They leave out
# ``429-overload`` too, which has its own rate (``overload_rate``), so that a seed replays
# the same run it did before that kind existed; ``misspell``, which has its own rate; and
# ``keeps-text``, which only a plate's request can show.
DEFAULT_FAIL_KINDS: tuple[str, ...] = tuple(
    kind
    for kind in FAULT_KINDS
    if kind not in {"429-day", "429-overload", "invalid-key", "misspell", "keeps-text"}
)


# What one request of a batch can get instead of its image. The first five are errors in
# its place in the output (a google.rpc.Status: ``400`` INVALID_ARGUMENT, ``429``
# RESOURCE_EXHAUSTED, ``500`` INTERNAL, ``503`` UNAVAILABLE, ``504`` DEADLINE_EXCEEDED); the
# other three are answers, shaped as generateContent shapes them.
BATCH_ERROR_KINDS: tuple[str, ...] = ("400", "429", "500", "503", "504")
BATCH_FAULT_KINDS: tuple[str, ...] = (*BATCH_ERROR_KINDS, "no-image", "image-safety", "blocked")
# How a whole batch ends, when it is not cancelled: SUCCEEDED with its output; FAILED, with
# an error and no output; EXPIRED, with no output (what the service does to a batch not done
# in 48 hours: here, on demand, when the batch would have finished).
BATCH_OUTCOMES: tuple[str, ...] = ("succeeded", "failed", "expired")


def parse_kinds(
    kinds: Iterable[str] | str, known: tuple[str, ...] = FAULT_KINDS
) -> tuple[str, ...]:
    """Validate fault kind names (a comma-separated string or an iterable) among ``known``.

    Raises:
        ValueError: a name is not a known kind, or none is given.
    """
    names = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else list(kinds)
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if not names:
        raise ValueError("no fault kind given")
    return tuple(dict.fromkeys(names))


def parse_script(script: Mapping[int, str] | Mapping[str, str]) -> dict[int, str]:
    """Validate a script: 1-based request ordinals (ints or digit strings) to fault kinds.

    Raises:
        ValueError: an ordinal is not a positive integer, or a kind is unknown.
    """
    parsed: dict[int, str] = {}
    for ordinal, kind in script.items():
        try:
            number = int(ordinal)
        except (TypeError, ValueError):
            raise ValueError(f"script ordinal {ordinal!r} is not an integer") from None
        if number < 1:
            raise ValueError(f"script ordinal {number} must be 1 or more")
        if not isinstance(kind, str) or kind not in FAULT_KINDS:
            raise ValueError(f"script kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        parsed[number] = kind
    return parsed


class FaultPlan:
    """Which fault, if any, each request gets.

    Attributes:
        fail_rate: probability that an admitted, unscripted request fails.
        kinds: the kinds a rate failure picks from, uniformly.
    """

    __slots__ = ("_script", "fail_rate", "kinds")

    def __init__(self, fail_rate: float, kinds: Iterable[str]) -> None:
        self.fail_rate = fail_rate
        self.kinds = parse_kinds(kinds)
        self._script: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"<FaultPlan rate={self.fail_rate} kinds={self.kinds} script={self._script}>"

    def set_script(self, script: Mapping[int, str] | Mapping[str, str]) -> None:
        """Replace the script (validated first, so a bad one changes nothing)."""
        self._script = parse_script(script)

    def clear_script(self) -> None:
        """Forget the script."""
        self._script = {}

    @property
    def script(self) -> dict[int, str]:
        """A copy of the current script."""
        return dict(self._script)

    def scripted(self, ordinal: int) -> str | None:
        """The fault scripted for the ``ordinal``-th request, if any."""
        return self._script.get(ordinal)

    def by_rate(self, rng: random.Random) -> str | None:
        """Draw whether an admitted request fails, and how.

        No draw is made when the rate is zero, so turning failures off does not shift the
        random sequence of anything else.
        """
        if self.fail_rate <= 0.0:
            return None
        if rng.random() >= self.fail_rate:
            return None
        return rng.choice(self.kinds)


class BatchScript:
    """Which batch request fails (by its key) and how each batch ends (by its ordinal).

    A key is the request's ``metadata.key`` (inline) or its line's ``key`` (file); it
    applies in every batch. Ordinals count batches created since start or reset, from 1.
    """

    __slots__ = ("outcomes", "requests")

    def __init__(self) -> None:
        self.requests: dict[str, str] = {}
        self.outcomes: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"<BatchScript requests={self.requests} outcomes={self.outcomes}>"

    def replace(
        self,
        requests: Mapping[str, str] | None = None,
        outcomes: Mapping[int, str] | Mapping[str, str] | None = None,
    ) -> None:
        """Replace both parts (validated first, so a bad script changes nothing).

        Raises:
            ValueError: a kind or outcome is unknown, or an ordinal is not 1 or more.
        """
        parsed_requests: dict[str, str] = {}
        for key, kind in (requests or {}).items():
            if not isinstance(kind, str) or kind not in BATCH_FAULT_KINDS:
                raise ValueError(
                    f"batch request kind {kind!r} is not one of {', '.join(BATCH_FAULT_KINDS)}"
                )
            parsed_requests[str(key)] = kind
        parsed_outcomes: dict[int, str] = {}
        for ordinal, outcome in (outcomes or {}).items():
            try:
                number = int(ordinal)
            except (TypeError, ValueError):
                raise ValueError(f"batch ordinal {ordinal!r} is not an integer") from None
            if number < 1:
                raise ValueError(f"batch ordinal {number} must be 1 or more")
            if outcome not in BATCH_OUTCOMES:
                raise ValueError(
                    f"batch outcome {outcome!r} is not one of {', '.join(BATCH_OUTCOMES)}"
                )
            parsed_outcomes[number] = outcome
        self.requests, self.outcomes = parsed_requests, parsed_outcomes

    def clear(self) -> None:
        """Forget both parts."""
        self.requests, self.outcomes = {}, {}

    def as_dict(self) -> dict[str, dict[str, str]]:
        """Both parts as JSON (ordinals as strings), as the stats show them."""
        return {
            "requests": dict(sorted(self.requests.items())),
            "outcomes": {str(k): v for k, v in sorted(self.outcomes.items())},
        }
