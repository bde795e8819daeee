"""The typed errors of nanobanana-async, classified once.

Every answer from the service (and every transport failure) is turned into one of these
types at the edge where it arrives (:mod:`nanobanana_async.service.protocol`); everything after that
matches on the type, never on a message string. The tree says what the engine does next::

    NanoBananaError
    ├── ConfigError             bad config or usage: exit 2, nothing sent
    ├── RunLockedError          another live run owns the same progress file: exit 2
    └── ApiError                an answer (or a failure to get one) from the service
        ├── FatalApiError       retrying cannot help any slide: stop the whole run
        │   ├── InvalidApiKey        400 API_KEY_INVALID
        │   ├── PermissionDenied     403 (no key, leaked key, service blocked)
        │   ├── ModelNotFound        404 (names the replacement of a retired id)
        │   ├── EndpointRedirected   3xx: base_url is not the API itself
        │   ├── EndpointRefused      nothing sent: another user listens on that port
        │   └── QuotaExhausted       429 per-day quota, or ``limit: 0`` (free tier)
        ├── RateLimited         429 per-minute quota: wait ``retry_delay``, then retry
        ├── TransientError      408/500/502/503/504, dropped connection, timeout,
        │   │                   malformed body: retry with backoff
        │   └── FlexShed        a Flex request the service would not serve now (503,
        │                       504, a 429 naming no quota): retried on Flex a few
        │                       times, then sent at standard or failed, as configured
        └── SlideError          this slide cannot succeed as asked: record it, go on
            ├── PromptBlocked        ``promptFeedback.blockReason``
            ├── ImageRefused         finishReason SAFETY, IMAGE_SAFETY, ...
            ├── BadRequest           any other 400: the request for this slide is wrong
            │   └── SignatureRejected    400 naming a thought signature (missing, corrupt,
            │                            stale): an edit step is retried once afresh
            ├── NoImageReturned      NO_IMAGE or no image part: worth exactly one more try
            └── UnusableAnswer       over the size cap, or an image that does not decode
                                     (or has too many pixels): exactly one more try

Messages never contain the API key: the client never puts it in a URL, and
:func:`redact` scrubs anything that came back from the service before it is stored.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = [
    "ApiError",
    "BadRequest",
    "BatchExpired",
    "BatchFailed",
    "BatchNameRefused",
    "BatchNotFound",
    "ConfigError",
    "EndpointRedirected",
    "EndpointRefused",
    "FatalApiError",
    "FlexShed",
    "ImageRefused",
    "InvalidApiKey",
    "ModelNotFound",
    "NanoBananaError",
    "NoImageReturned",
    "PermissionDenied",
    "PromptBlocked",
    "QuotaExhausted",
    "RateLimited",
    "RunLockedError",
    "SignatureRejected",
    "SlideError",
    "TransientError",
    "UnusableAnswer",
    "redact",
]

# Google API keys: "AIza" + 35 URL-safe characters. Anything shaped like one is scrubbed
# from text we keep, on top of scrubbing the configured key itself.
_KEY_SHAPE = re.compile(r"AIza[0-9A-Za-z_\-]{35}", re.IGNORECASE)
# A key in a URL's query (``?key=``, the REST docs' spelling): whatever its value.
_KEY_QUERY = re.compile(r"([?&]key=)[^&#\s]+")
# The characters keys are made of: a secret glued to more of them is part of one token.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# A token as an echo may spell it: key characters and percent-escapes (``%70%6C...``).
_TOKEN = re.compile(r"[A-Za-z0-9_%\-]+")
_MIN_SECRET_CHARS = 8  # a shorter secret is not scrubbed by value: see redact()
_DECODINGS = 3  # percent-decoded this many times at most (``%2570`` is ``%70`` is ``p``)


def redact(text: str, *secrets: str | None) -> str:
    """Return ``text`` with the given secrets, ``?key=`` values and key-shaped text as ``***``.

    A secret is replaced as a whole token: found inside a longer run of key characters
    (``[A-Za-z0-9_-]``), the whole run is replaced, so what is left shows neither the key
    nor where it began or ended. So is any token holding 8 consecutive characters of a
    secret (a prefix, a suffix, a piece of the middle: a key cut short still tells most
    of it), in any case, as written or percent-encoded (an echo as ``%70%6C%61...`` tells
    the key as surely). A secret shorter than 8 characters is not replaced at all: no real
    key is that short (Google's have 39 characters; a proxy's key of 7 could be guessed, so
    hiding it protects nothing), while a string that short turns up inside ordinary words
    (a key ``k`` made "prompt blocked" "prompt bloc***ed", and where the stars fell told
    the key). Such a key still leaves the process only in its header: the client never
    puts a key in a URL, and a ``?key=`` is scrubbed whatever its value.
    """
    pieces: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_CHARS:
            text = _scrub(text, secret)
            low = secret.lower()
            pieces.update(low[i : i + _MIN_SECRET_CHARS] for i in range(len(low) - 7))
    text = _KEY_SHAPE.sub("***", _KEY_QUERY.sub(r"\1***", text))
    return _TOKEN.sub(lambda m: "***" if _tells(m.group(), pieces) else m.group(), text)


def _tells(token: str, pieces: set[str]) -> bool:
    """Whether ``token``, as written or percent-decoded, holds a piece of a secret or a key."""
    if len(token) < _MIN_SECRET_CHARS:
        return False  # too short to hold a piece, even encoded (decoding only shortens)
    forms = [token]
    while "%" in forms[-1] and len(forms) <= _DECODINGS:
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for form in forms:
        low = form.lower()
        if any(piece in low for piece in pieces):
            return True
        if form is not token and _KEY_SHAPE.search(form):
            return True
    return False


def _scrub(text: str, secret: str) -> str:
    """``text`` with each token holding ``secret`` replaced by ``***``, in one pass.

    Matched in any case: a service or a proxy that echoes the key upper-cased still tells it.
    """
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    pattern = re.compile(re.escape(secret), re.IGNORECASE)
    match = pattern.search(text)
    while match is not None:
        start, end = match.span()
        while start > done and text[start - 1] in _TOKEN_CHARS:
            start -= 1
        while end < len(text) and text[end] in _TOKEN_CHARS:
            end += 1
        pieces += (text[done:start], "***")
        done = end
        match = pattern.search(text, end)
    pieces.append(text[done:])
    return "".join(pieces)


class NanoBananaError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(NanoBananaError):
    """The config or the command line is wrong; ``str()`` is one line naming field and fix."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class RunLockedError(NanoBananaError):
    """Another live run already writes the same progress file."""


class ApiError(NanoBananaError):
    """An answer from the service, or the failure to get one.

    Attributes:
        status: the HTTP status, or ``None`` when no answer arrived (network, timeout).
        reason: a short machine-readable cause (``API_KEY_INVALID``, ``IMAGE_SAFETY``, ...).
        message: the service's own message, redacted; safe to store and print.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(message)


class FatalApiError(ApiError):
    """Retrying cannot help any slide of this run: stop and report every unsent slide."""


class InvalidApiKey(FatalApiError):
    """400 with ``ErrorInfo.reason == API_KEY_INVALID``."""


class PermissionDenied(FatalApiError):
    """403: no key, a leaked or blocked key, or the service is not enabled for it."""


class ModelNotFound(FatalApiError):
    """404: the model id is unknown or retired.

    Attributes:
        replacement: the GA model that replaced a retired ``-preview`` id, if known.
    """

    def __init__(self, message: str, *, status: int | None = 404, replacement: str | None = None):
        super().__init__(message, status=status, reason="MODEL_NOT_FOUND")
        self.replacement = replacement


class EndpointRedirected(FatalApiError):
    """3xx: the endpoint sends the request elsewhere, so ``base_url`` is not the API itself.

    Redirects are not followed (the key would go along to wherever they point), and a
    retry meets the same redirect: fix ``base_url``.
    """


class EndpointRefused(FatalApiError):
    """Nothing was sent: ``base_url`` is a port of this machine another user listens on.

    Checked before each request (the port may change hands during a run); the key would go
    to that user, and a retry finds the same listener.
    """


class QuotaExhausted(FatalApiError):
    """429 for a quota that will not clear during this run (per-day, or ``limit: 0``)."""

    def __init__(self, message: str, *, quota_id: str = "", retry_delay: float | None = None):
        super().__init__(message, status=429, reason="QUOTA_EXHAUSTED")
        self.quota_id = quota_id
        self.retry_delay = retry_delay


class RateLimited(ApiError):
    """429 for a short-window quota; retrying after ``retry_delay`` seconds may succeed.

    Attributes:
        retry_delay: the server's ``RetryInfo`` delay in seconds, if it gave one.
        quota_id: the first violated quota's ``quotaId``, or ``""``.
        overload: the 429 names no quota at all (no ``QuotaFailure`` violation): the
            service is busy, the client's quota is not the cause, and nothing is learned.
        limit: the smallest ``quotaValue`` of a violated request quota, when stated: the
            most requests its window admits (the window's length is not trusted from the
            label; the pacer measures it).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_delay: float | None,
        quota_id: str = "",
        overload: bool = False,
        limit: float | None = None,
    ):
        super().__init__(message, status=429, reason="RATE_LIMITED")
        self.retry_delay = retry_delay
        self.quota_id = quota_id
        self.overload = overload
        self.limit = limit


class TransientError(ApiError):
    """A failure that another attempt may not repeat: 5xx, 408, network, timeout, bad body."""


class FlexShed(TransientError):
    """A Flex request the service would not serve now: Flex is best-effort and may be shed.

    Google documents no body of its own for a shed request; it is whatever a request that
    found no capacity gets (503 ``UNAVAILABLE``, 504 ``DEADLINE_EXCEEDED``, a 429 naming no
    quota), and only the tier asked tells it apart. So it is classified where the answer
    arrives, from the status and the tier, never from a message.
    """


class BatchNotFound(ApiError):
    """A Batch API run's batch (or file) is gone from the service: deleted, or never made.

    The slides it held are not lost for good: a rerun makes a new batch.
    """


class BatchNameRefused(ApiError):
    """The service named a batch or file in a shape its docs never give (``batches/{id}``,
    ``files/{id}``): a newline, a path, the key. Never used in a URL, never stored.

    The batch cannot be followed: its record is dropped and a rerun sends its slides anew.
    """


class BatchExpired(ApiError):
    """The batch was not done within the service's 48 hours: its slides were not made."""


class BatchFailed(ApiError):
    """The service failed the whole batch (``BATCH_STATE_FAILED``), with its reason."""


class SlideError(ApiError):
    """This slide cannot succeed as asked; the rest of the run goes on."""


class PromptBlocked(SlideError):
    """The prompt itself was blocked (``promptFeedback.blockReason``); retrying cannot help."""


class ImageRefused(SlideError):
    """The model stopped for a safety or policy reason (``finishReason``)."""


class BadRequest(SlideError):
    """A 400 about this request (a bad value), other than an invalid key."""


class SignatureRejected(BadRequest):
    """A 400 naming a thought signature: the model turn an edit sent back was refused.

    Missing (``Image part is missing a thought_signature in content position 2, part
    position 1``), forged or stale (``Corrupted thought signature.``, Vertex's ``Thought
    signature is not valid``). The same request cannot succeed; the same step sent as a
    fresh edit (the image inline, no model turn) can, without the turn's context.
    """


class NoImageReturned(SlideError):
    """A success with no image part (``NO_IMAGE``, or text only): one more try may help."""


class UnusableAnswer(SlideError):
    """A 200 whose answer cannot be used (too large, or its image unusable): one more try.

    ``reason`` says which: ``TOO_LARGE`` (the body passed the client's size cap, as sent or
    as inflated: reading stopped there), ``BAD_IMAGE`` (the image does not decode) or
    ``TOO_MANY_PIXELS`` (its header claims more pixels than are ever decoded). A server
    that answers so once may be hiccuping; one that does it twice (a broken proxy, a
    hostile endpoint) would do it on every paid attempt a transient retry would make.
    """
