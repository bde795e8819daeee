"""The emulator: an ASGI app that answers the Gemini API as the real service does.

Routing lives here (:data:`_ROUTES`: every path and method the emulator serves, under
``/v1beta`` and ``/v1`` alike). A generation (``generateContent``, ``streamGenerateContent``)
goes through the real front end's checks in their order (the steps: :class:`Emulator`),
waits the model's latency while a worker thread renders the answer, so the event loop
keeps accepting requests and stamping honest arrival times, and sends it. Every other
method checks the key the same way and answers from :mod:`.models_api` or, for batches and
files, :mod:`.batch_api`. Vertex AI's paths are checked and rewritten to the model paths
by :mod:`.vertex` first, so they get the same answers.
Everything random is drawn under one lock in arrival order, so a run is reproducible from
its seed. A wait ends when its client disconnects (counted as 499) or at
:meth:`Emulator.shutdown`, so a server can stop without hanging on a generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from . import error_bodies, models_api, streaming
from .asgi import (
    JSON,
    ConnectionDropped,
    Receive,
    Reply,
    Scope,
    Send,
    header,
    query,
    read_body,
    send_answer,
    send_frames,
    send_reply,
    until_disconnect,
)
from .batch_api import BatchApi, Handler
from .compression import gzip_join
from .faults import FaultPlan
from .generation import Plan, Refusal, build_answer, check_key, check_request, decide
from .quotas import QuotaBook
from .render import SlideRenderer
from .repeats import Repeats
from .settings import EmulatorSettings
from .stats import CLIENT_GONE, Stats, fingerprint
from .timestamps import WallClock
from .validation import Rejected
from .vertex import Vertex, is_listing, project_of, publisher_models, rewritten

__all__ = ["Emulator", "RequestLog"]

_V = r"(v1|v1beta)"
_ID = r"([^/:]+)"
# (HTTP method, path, API method): everything the emulator serves besides /_emulator/.
# The API method names the handler and the stats' ``calls`` count.
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (verb, re.compile(f"^{path}$"), name)
    for verb, path, name in (
        ("POST", f"/{_V}/models/{_ID}:generateContent", "generateContent"),
        ("POST", f"/{_V}/models/{_ID}:streamGenerateContent", "streamGenerateContent"),
        ("POST", f"/{_V}/models/{_ID}:countTokens", "countTokens"),
        ("POST", f"/{_V}/models/{_ID}:batchGenerateContent", "batchGenerateContent"),
        ("GET", f"/{_V}/models", "models.list"),
        ("GET", f"/{_V}/models/{_ID}", "models.get"),
        ("GET", f"/{_V}/batches", "batches.list"),
        ("GET", f"/{_V}/batches/{_ID}", "batches.get"),
        ("POST", f"/{_V}/batches/{_ID}:cancel", "batches.cancel"),
        ("DELETE", f"/{_V}/batches/{_ID}", "batches.delete"),
        ("POST", f"/upload/{_V}/files", "media.upload"),
        ("GET", f"/{_V}/files", "files.list"),
        ("GET", f"/{_V}/files/{_ID}", "files.get"),
        ("DELETE", f"/{_V}/files/{_ID}", "files.delete"),
        ("GET", f"/(?:download/)?{_V}/files/{_ID}:download", "media.download"),
    )
)
_GENERATIONS = frozenset({"generateContent", "streamGenerateContent"})
# API methods that name a model in their path: it goes in the request log.
_ON_A_MODEL = frozenset(
    {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "batchGenerateContent",
        "models.get",
    }
)


def _route(verb: str, path: str) -> tuple[str, tuple[str, ...]] | None:
    """The API method at ``verb path`` and the path's parameters, if the emulator serves it."""
    for route_verb, pattern, name in _ROUTES:
        match = pattern.match(path)
        if match and route_verb == verb:
            return name, match.groups()
    return None


@dataclass(frozen=True, slots=True)
class RequestLog:
    """One answered request, as handed to the ``on_request`` hook (never holds the key).

    Attributes:
        method: the HTTP method.
        path: the path without the query string (which may hold a key).
        status: the status sent (499: the client left first).
        model: the model id for methods called on a model, else ``"-"``.
        ms: milliseconds from arrival to the end of the answer, by the settings' clock.
        fault: the fault injected, if any.
    """

    method: str
    path: str
    status: int
    model: str
    ms: float
    fault: str | None = None

    def line(self) -> str:
        """The one-line form the ``emulate`` command prints."""
        fault = f" fault={self.fault}" if self.fault else ""
        return f"{self.method} {self.path} {self.status} {self.model} {self.ms:.0f}ms{fault}"


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Emulator:
    """The Gemini image API emulator, an ASGI 3 application.

    One request goes through these steps, in the order the real front end applies them::

        key present? (403)  ->  key known? (400 API_KEY_INVALID)  ->  model known? (404)
        ->  body valid? (400)  ->  free tier? (429 limit: 0)  ->  scripted fault?
        ->  overloaded? (429 without QuotaFailure)
        ->  quota free? (429 with honest RetryInfo)  ->  fault by rate?
        ->  admitted: wait the model's latency  ->  answer (image, or the fault)

    Args:
        settings: how it behaves; defaults to :class:`EmulatorSettings` ().
        on_request: called once per answered request (for logging).
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        on_request: Callable[[RequestLog], None] | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self._on_request = on_request
        self._lock = threading.Lock()
        self._rng = random.Random(self.settings.seed)
        self._stats = Stats()
        self._started = self.settings.clock()
        self._quotas = QuotaBook.for_settings(self.settings, origin=self._started)
        self._faults = FaultPlan(self.settings.fail_rate, self.settings.fail_kinds)
        self._renderer = SlideRenderer()
        self._repeats = Repeats()
        self._waiters: set[asyncio.Future[None]] = set()
        self._draining = False
        self._batches = BatchApi(
            self.settings,
            lock=self._lock,
            rng=self._rng,
            stats=self._stats,
            renderer=self._renderer,
            wall=WallClock(self._started),
        )
        self._vertex = Vertex(self.settings)

    def __repr__(self) -> str:
        return f"<Emulator {self._stats!r} {self._quotas!r} {self._faults!r} {self._batches!r}>"

    # -- control -------------------------------------------------------------------------

    def script(self, script: dict[int, str] | dict[str, str]) -> None:
        """Replace the per-request fault script: 1-based ordinals to fault kinds.

        Raises:
            ValueError: an ordinal or kind is invalid (the old script is kept).
        """
        with self._lock:
            self._faults.set_script(script)

    def script_batches(
        self,
        requests: dict[str, str] | None = None,
        outcomes: dict[int, str] | dict[str, str] | None = None,
    ) -> None:
        """Replace the batch script: which batch requests fail, and how batches end.

        Args:
            requests: a request's key (its ``metadata.key``, or its input line's ``key``)
                to the kind it gets instead of its image, in every batch (see
                :data:`~.faults.BATCH_FAULT_KINDS`): ``{"slide-3": "500"}``.
            outcomes: a batch's ordinal (1-based, counted since start or reset) to how it
                ends: ``succeeded``, ``failed`` or ``expired``: ``{1: "expired"}``.

        Raises:
            ValueError: a kind, outcome or ordinal is invalid (the old script is kept).
        """
        with self._lock:
            self._batches.book.script.replace(requests, outcomes)

    def stats(self) -> dict[str, Any]:
        """What the emulator saw; the same JSON as ``GET /_emulator/stats``.

        Besides :meth:`Stats.snapshot`: ``script``, ``batch_script``, ``other_client`` (the
        other client's tries admitted and refused up to now; it is not in ``requests``),
        and in ``batches`` the batches kept now: ``by_state``, and ``jobs`` (name,
        ordinal, display name, model, requests, state of each, oldest first);
        ``tokens_granted``: the Vertex access tokens ``POST /token`` gave.
        """
        snapshot = self._stats.snapshot()
        with self._lock:
            now = self.settings.clock()
            snapshot["script"] = {str(k): v for k, v in sorted(self._faults.script.items())}
            snapshot["batch_script"] = self._batches.book.script.as_dict()
            snapshot["batches"] |= self._batches.snapshot(now)
            self._quotas.catch_up(now)
            snapshot["other_client"] = self._quotas.other_client_counts()
            snapshot["tokens_granted"] = self._vertex.granted
        return snapshot

    def reset(self) -> None:
        """Clear stats, quotas, scripts, batches and files; re-seed the random generator."""
        with self._lock:
            self._stats.reset()
            self._quotas.clear()
            self._faults.clear_script()
            self._batches.clear()
            self._repeats.clear()
            self._rng.seed(self.settings.seed)

    def shutdown(self) -> None:
        """End every wait now, and make new ones end at once (safe from any thread).

        Requests cut short this way are answered 503, as an overloaded service would.
        """
        with self._lock:
            self._draining = True
            waiters = list(self._waiters)
        for future in waiters:
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                future.get_loop().call_soon_threadsafe(_wake, future)

    def resume(self) -> None:
        """Undo :meth:`shutdown`, for an emulator that will be served again."""
        with self._lock:
            self._draining = False

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = self.settings.clock()
        method: str = scope["method"]
        path: str = scope["path"]
        model, fault, status = "-", None, CLIENT_GONE
        vertex = Vertex.match(path)
        refusal = None
        if vertex is not None:
            project, location, model, how = vertex
            refusal = self._vertex.check(scope, project, location, model)
            if refusal is None:
                scope = rewritten(scope, "v1", model, how, project)
        route = _route(method, scope["path"])
        try:
            if method == "POST" and path == "/token":
                status = await self._token(receive, send, scope, started)
            elif method == "GET" and is_listing(path):
                status = await self._publisher_models(scope, send, started)
            elif refusal is not None:
                self._stats.other()
                status = await self._error(send, refusal, scope, started)
            elif path.startswith("/_emulator/"):
                status = await self._control(method, path, receive, send)
            elif route is None:
                self._stats.other()
                status = await self._error(send, error_bodies.method_not_found(), scope, started)
            else:
                name, params = route
                if name in _ON_A_MODEL:
                    model = params[1]
                self._stats.call(name)
                if name in _GENERATIONS:
                    sse = query(scope).get("alt", [""])[-1] == "sse"
                    stream = None if name == "generateContent" else ("sse" if sse else "json")
                    version, model = params
                    status, fault = await self._generate(
                        scope, receive, send, version, model, stream
                    )
                else:
                    status = await self._api(name, params, scope, receive, send, started)
        finally:
            if self._on_request is not None:
                elapsed = (self.settings.clock() - started) * 1000
                self._on_request(RequestLog(method, path, status, model, elapsed, fault))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _accepts_gzip(self, scope: Scope) -> bool:
        return "gzip" in (header(scope, b"accept-encoding") or "").lower()

    def _ms(self, started: float) -> int:
        return max(0, round((self.settings.clock() - started) * 1000))

    async def _token(self, receive: Receive, send: Send, scope: Scope, started: float) -> int:
        """``POST /token``: an OAuth token for the Vertex paths (:mod:`.vertex`)."""
        form = await read_body(receive)
        if form is None:
            return CLIENT_GONE
        return await self._send_reply(send, Reply(self._vertex.grant(form)), scope, started)

    async def _publisher_models(self, scope: Scope, send: Send, started: float) -> int:
        """Vertex's ``models.list``: a bearer token checked, then the catalogue."""
        self._stats.call("models.list")
        refusal = self._vertex.check(scope, None)
        if refusal is not None:
            return await self._error(send, refusal, scope, started)
        try:
            reply = Reply(publisher_models(query(scope)))
        except Rejected as rejected:
            return await self._error(send, rejected.body, scope, started)
        return await self._send_reply(send, reply, scope, started)

    async def _error(self, send: Send, body: dict[str, Any], scope: Scope, started: float) -> int:
        status: int = body["error"]["code"]
        if status == 429 and project_of(scope) is not None:
            # Vertex's own 429: no RetryInfo, no quota detail (dynamic shared quota).
            model = scope["path"].removeprefix("/v1/models/").partition(":")[0]
            body = self._vertex.quota_body(model)
        key = self._key(scope)
        if self.settings.echo_key_upper and key:
            said = {**body["error"], "message": f"{body['error']['message']} (key {key.upper()})"}
            body = {**body, "error": said}
        raw = orjson.dumps(body, option=orjson.OPT_INDENT_2)
        gzip = self._accepts_gzip(scope)
        await send_answer(
            send,
            status,
            gzip_join([raw]) if gzip else raw,
            gzip=gzip,
            duration_ms=self._ms(started),
        )
        return status

    async def _control(self, method: str, path: str, receive: Receive, send: Send) -> int:
        """``/_emulator/stats`` (GET); ``/_emulator/script``, ``/_emulator/batch-script``
        (``{"requests": {key: kind}, "outcomes": {ordinal: outcome}}``) and
        ``/_emulator/reset`` (POST)."""
        body = await read_body(receive)
        status, answer = 200, None
        if path == "/_emulator/stats" and method == "GET":
            answer = self.stats()
        elif path == "/_emulator/reset" and method == "POST":
            self.reset()
            answer = {"reset": True}
        elif path == "/_emulator/script" and method == "POST":
            try:
                self.script(orjson.loads(body or b"{}"))
                answer = {"script": self.stats()["script"]}
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
                status, answer = 400, error_bodies.invalid_argument(f"bad script: {exc}")
        elif path == "/_emulator/batch-script" and method == "POST":
            try:
                script = orjson.loads(body or b"{}")
                self.script_batches(script.get("requests"), script.get("outcomes"))
                answer = {"batch_script": self.stats()["batch_script"]}
            except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
                status, answer = 400, error_bodies.invalid_argument(f"bad batch script: {exc}")
        else:
            status, answer = 404, error_bodies.method_not_found()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})
        return status

    # -- generateContent -----------------------------------------------------------------

    def _key(self, scope: Scope) -> str | None:
        project = project_of(scope)
        if project is not None:  # a checked bearer token: quotas count by project
            return f"projects/{project}"
        key = header(scope, b"x-goog-api-key")
        if not key:
            keys = query(scope).get("key")
            key = keys[-1] if keys else None
        return key or None

    # -- the other methods ---------------------------------------------------------------

    def _handlers(self) -> dict[str, Handler]:
        return {**models_api.HANDLERS, **self._batches.handlers()}

    async def _api(
        self,
        name: str,
        params: tuple[str, ...],
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
    ) -> int:
        """Any method but a generation: the key checks, then its handler's reply."""
        body = await read_body(receive)
        if body is None:
            return CLIENT_GONE
        # An upload's bytes go to its session's URL, which is their credential.
        session = name == "media.upload" and "upload_id" in query(scope)
        refused = None if session else check_key(self.settings, self._key(scope))
        if refused is not None:
            return await self._error(send, refused.body, scope, started)
        try:
            reply = await self._handlers()[name](scope, params, body)
        except Rejected as rejected:
            return await self._error(send, rejected.body, scope, started)
        hold = self.settings.batch_create_hold * self.settings.time_scale
        if name == "batchGenerateContent" and hold > 0 and not await self._pause(hold, receive):
            # The batch is made; its answer never reaches the client.
            if not self._draining:
                return CLIENT_GONE
            return await self._error(send, error_bodies.unavailable(0), scope, started)
        return await self._send_reply(send, reply, scope, started)

    async def _send_reply(self, send: Send, reply: Reply, scope: Scope, started: float) -> int:
        gzip = self._accepts_gzip(scope)
        await send_reply(send, reply, gzip=gzip, duration_ms=self._ms(started))
        return reply.status

    # -- generateContent and streamGenerateContent --------------------------------------

    async def _generate(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        version: str,
        model: str,
        stream: str | None = None,
    ) -> tuple[int, str | None]:
        """One generation; ``stream`` is ``"sse"`` or ``"json"`` for ``streamGenerateContent``."""
        settings = self.settings
        started = settings.clock()
        key = self._key(scope)
        client = scope.get("client") or ("", 0)
        conn = f"{client[0]}:{client[1]}"
        arrival = self._stats.arrive(started - self._started, model, fingerprint(key), conn)
        status = CLIENT_GONE
        try:
            body = await read_body(receive)
            if body is None:
                return status, None
            method = "generateContent" if stream is None else "streamGenerateContent"
            checked = check_request(
                settings, key=key, model=model, version=version, body=body, method=method
            )
            if isinstance(checked, Refusal):
                outcome: Plan | Refusal = checked
                if checked.reason == "signature":
                    self._stats.signature_refused()
            else:
                spec, request = checked
                arrival.images = [image.digest for image in request.images]
                digest = Repeats.digest(body)
                with self._lock:
                    outcome = decide(
                        settings,
                        spec,
                        request,
                        rng=self._rng,
                        quotas=self._quotas,
                        faults=self._faults,
                        stats=self._stats,
                        arrival=arrival,
                        key=fingerprint(key),
                        now=settings.clock(),
                    )
                    if isinstance(outcome, Plan):  # a refused request drew no image
                        seen = self._repeats.count(model, digest)
                        outcome = replace(outcome, request=replace(request, repeat=seen))
            if isinstance(outcome, Refusal):
                status = await self._error(send, outcome.body, scope, started)
                return status, arrival.fault
            if outcome.request.edit is not None:
                self._stats.edit()
            try:
                status = await self._carry_out(outcome, scope, receive, send, started, stream)
            except ConnectionDropped:
                status = 200  # what the client was told before the connection went
                raise
            finally:
                with self._lock:
                    self._quotas.release(outcome.admission)
            return status, arrival.fault
        finally:
            self._stats.finish(arrival, status, settings.clock() - self._started)

    async def _pause(self, seconds: float, receive: Receive) -> bool:
        """Wait ``seconds``; ``False`` if the client left or the emulator shut down first."""
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._draining:
                return False
            self._waiters.add(stop)
        sleeper = asyncio.ensure_future(self.settings.sleep(seconds))
        watcher = asyncio.ensure_future(until_disconnect(receive))
        try:
            await asyncio.wait({sleeper, watcher, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, watcher, stop):
                task.cancel()
            await asyncio.gather(sleeper, watcher, return_exceptions=True)
            with self._lock:
                self._waiters.discard(stop)
        return sleeper.done() and not sleeper.cancelled() and sleeper.exception() is None

    async def _carry_out(
        self,
        plan: Plan,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        stream: str | None = None,
    ) -> int:
        gzip = stream is None and self._accepts_gzip(scope)
        # The answer is built while the latency runs, so it is ready when it is due.
        building: asyncio.Future[Any] | None = None
        if plan.error is None and stream is None:
            building = asyncio.ensure_future(
                asyncio.to_thread(build_answer, plan, self._renderer, self.settings, gzip=gzip)
            )
        elif plan.error is None:
            sse = stream == "sse"
            building = asyncio.ensure_future(
                asyncio.to_thread(
                    streaming.stream_body, plan, self._renderer, self.settings, sse=sse
                )
            )
        try:
            if plan.wait > 0 and not await self._pause(plan.wait, receive):
                if not self._draining:
                    return CLIENT_GONE
                return await self._error(send, error_bodies.unavailable(0), scope, started)
            if building is None:
                assert plan.error is not None
                return await self._error(send, plan.error, scope, started)
            body = await building
        finally:
            if building is not None and not building.done():
                building.cancel()
                await asyncio.gather(building, return_exceptions=True)
        if stream is not None:
            await send_frames(
                send,
                body,
                content_type=streaming.SSE if stream == "sse" else JSON,
                duration_ms=self._ms(started),
                drop_after=max(1, len(body) - 1) if plan.kind == "drop" else None,
            )
            return 200
        cut = max(1, len(body) // 3) if plan.kind == "drop" else None
        await send_answer(send, 200, body, gzip=gzip, duration_ms=self._ms(started), cut_after=cut)
        return 200
