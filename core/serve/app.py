"""The Starlette application of ``inkwell serve``.

A request is answered in four steps, each with its own failure:

1. auth and validation on the event loop (401, 413, 400, 404), before any work;
2. admission to its model's gate: one generation at a time per model (llama.cpp
   is not re-entrant), at most ``max_waiting`` more waiting; beyond that a 429 at
   once rather than a request that hangs;
3. a worker thread prepares the write (retrieval, prompt) and generates with the
   same ``Writer`` as the Write panel, posting events to the event loop; an input
   the writer refuses (too long for the context, no adapter) is still a 400,
   since nothing has been sent yet;
4. the answer, as one JSON body or as server-sent events.

A client that goes away, while waiting or while its answer is generated, sets
the generation's ``CancelToken``: llama.cpp stops at the next token and the model
is free for the next request.  The worker thread, not the request, gives the
model back, so a cancelled request can never leave it held or doubly used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core.errors import InkwellError
from core.jobs import CancelToken
from core.models import ModelInfo, ModelRegistry
from core.paths import Home, ProfilePaths
from core.runtime import GenerationParams, ModelRuntime, get_runtime
from core.serve.protocol import (
    MAX_BODY_BYTES,
    ApiError,
    ChatRequest,
    Choice,
    CompletionRequest,
    Envelope,
    _Request,
    error_body,
    model_id,
    parse_model_id,
    parse_request,
)
from core.serve.token import token_matches
from core.settings import AppSettings, ProfileSettings
from core.writer import Method, PreparedWrite, Writer, WriteRequest, resolve_adapter

if TYPE_CHECKING:
    from core.library import Library

T = TypeVar("T")

DEFAULT_MAX_WAITING = 4
# A body past the limit is still read (and dropped) up to this much, so the client gets
# its 413 instead of a connection reset in the middle of its upload.
_DRAIN_BYTES = 32 * MAX_BODY_BYTES


class ClientGone(Exception):
    """The client disconnected before its answer was complete."""


class ModelGate:
    """One generation at a time on a model, and a bounded number of requests waiting for it.

    Used on the event loop only, so its counters need no lock.
    """

    def __init__(self, name: str, max_waiting: int) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self._lock = asyncio.Lock()
        self._admitted = 0  # the running request and those waiting

    def admit(self) -> Turn:
        if self._admitted > self.max_waiting:
            raise ApiError(
                429,
                f"{self.name} is busy: one answer is being written and {self.max_waiting} "
                "more are waiting; try again shortly",
                kind="rate_limit_error",
                headers={"Retry-After": "1"},  # OpenAI clients wait this long, then retry
            )
        self._admitted += 1
        return Turn(self)


class Turn:
    """One admitted request's hold on its model; ended exactly once, on the event loop."""

    def __init__(self, gate: ModelGate) -> None:
        self._gate = gate
        self._holding = False
        self._ended = False

    async def wait(self) -> None:
        await self._gate._lock.acquire()
        self._holding = True

    def end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._holding:
            self._gate._lock.release()
        self._gate._admitted -= 1


@dataclass(frozen=True)
class Plan:
    """A validated request, resolved against the data dir: ready to run."""

    model: ModelInfo
    method: Method
    write: WriteRequest
    n: int
    adapter_id: str | None


@dataclass(frozen=True)
class Started:
    """What is known before the first piece: the prompt's sources, the suggestions' scores."""

    prepared: PreparedWrite
    scores: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Done:
    choices: list[Choice]
    usage: dict[str, int]


Event = tuple[Any, ...]


class Generation:
    """One request's run on a worker thread, its events delivered to the event loop.

    Events, in order: ``("prepared", Started)``, then per choice any number of
    ``("piece", index, text)`` and one ``("choice", index, Choice)``, then
    ``("done", Done)``; or ``("error", exception)`` at any point.
    """

    def __init__(self, service: Service, plan: Plan, turn: Turn) -> None:
        self.service = service
        self.plan = plan
        self.turn = turn
        self.cancel = CancelToken()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._started = False

    async def start(self) -> Started:
        """Wait for the model, start the worker; the prepared write (or its error)."""
        try:
            await self.turn.wait()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._run, args=(loop,), name="inkwell-serve-generation", daemon=True
            ).start()
            self._started = True
            self.service.running.add(self)
        finally:
            if not self._started:
                self.turn.end()  # cancelled while waiting: the model was never used
        try:
            event = await self._events.get()
        except asyncio.CancelledError:
            self.cancel.cancel()
            raise
        if event[0] == "error":
            raise event[1]
        started: Started = event[1]
        return started

    async def events(self) -> AsyncIterator[Event]:
        while True:
            event = await self._events.get()
            yield event
            if event[0] in ("done", "error"):
                return

    async def result(self) -> Done:
        async for event in self.events():
            if event[0] == "error":
                raise event[1]
            if event[0] == "done":
                done: Done = event[1]
                return done
        raise AssertionError("a generation always ends with 'done' or 'error'")

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        def post(*event: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the server stopped: nobody to tell
                loop.call_soon_threadsafe(self._events.put_nowait, event)

        outcome = "failed"
        try:
            writer = self.service.writer(self.plan.model)
            with self.service.prepare_lock:
                prepared = writer.prepare(self.plan.write)
            if self.plan.n == 1:
                post("prepared", Started(prepared))
                pieces = []
                for piece in writer.stream(prepared, self.cancel):
                    pieces.append(piece)
                    post("piece", 0, piece)
                choices = [Choice("".join(pieces), "stop")]
            else:
                # Suggestions are distinct and ranked only once all are written: each goes
                # out whole, best first (the Write panel's suggestions, the same pipeline).
                suggestions = writer.suggest(prepared, self.plan.n, self.cancel)
                choices = [Choice(s.text, "stop", s.score) for s in suggestions]
                post("prepared", Started(prepared, tuple(c.score for c in choices)))
                for index, choice in enumerate(choices):
                    post("piece", index, choice.text)
            completion_tokens = 0
            for index, choice in enumerate(choices):
                # The answer's text tokenized again: a word split across two generated tokens
                # may come back as one, or one as two, so it is capped at what was allowed.
                tokens = min(writer.runtime.count_tokens(choice.text),
                             prepared.params.max_tokens)
                completion_tokens += tokens
                if tokens == prepared.params.max_tokens:
                    choice = choices[index] = replace(choice, finish_reason="length")
                post("choice", index, choice)
            prompt_tokens = writer.runtime.count_tokens(prepared.prompt)
            post("done", Done(choices, {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }))
            outcome = "cancelled" if self.cancel.cancelled else "answered"
        except InkwellError as exc:
            post("error", ApiError(400, str(exc)))
            outcome = "refused"
        except Exception as exc:
            post("error", exc)
            outcome = "failed"
        finally:
            with contextlib.suppress(RuntimeError):  # the server's loop is already closed
                loop.call_soon_threadsafe(self._finish, outcome)

    def _finish(self, outcome: str) -> None:
        self.turn.end()
        self.service.running.discard(self)
        self.service.stats[outcome] += 1


class Service:
    """What the endpoints share: the data dir, the profile, one gate per model.

    ``stats`` counts the requests that reached a model by outcome (answered,
    cancelled, refused by the writer, failed) and those turned away busy; it is
    touched on the event loop only.
    """

    def __init__(
        self,
        home: Home,
        profile: ProfilePaths,
        max_waiting: int = DEFAULT_MAX_WAITING,
        runtime_for: Callable[[ModelInfo], ModelRuntime] = get_runtime,
        library: Library | None = None,
    ) -> None:
        self.home = home
        self.profile = profile
        self.max_waiting = max_waiting
        self.runtime_for = runtime_for
        self.stats: Counter[str] = Counter()
        self.running: set[Generation] = set()  # generations on a worker thread now
        self._gates: dict[str, ModelGate] = {}
        self._library = library  # the desktop app shares its own; else opened on first use
        self._library_lock = threading.Lock()
        # Preparing a write reads the library; models generate in parallel, but one
        # retrieval at a time keeps the library's readers on one thread at once.
        self.prepare_lock = threading.Lock()

    def cancel_all(self) -> None:
        """Stop every generation at its next token (the server is stopping); any thread."""
        for generation in list(self.running):
            generation.cancel.cancel()

    def gate(self, model: str) -> ModelGate:
        gate = self._gates.get(model)
        if gate is None:
            gate = self._gates[model] = ModelGate(model, self.max_waiting)
        return gate

    def writer(self, model: ModelInfo) -> Writer:
        """A writer per request: it reads the profile's settings (active adapter, k) afresh."""
        with self._library_lock:
            if self._library is None:
                from core.library import Library

                self._library = Library(self.profile)
        return Writer(self.home, self.profile, model, library=self._library,
                      runtime=self.runtime_for(model))

    def model_ids(self) -> list[dict[str, Any]]:
        """Every installed model, with and without retrieval; with the adapter where the
        profile's active adapter was trained on that model."""
        active = self._active_adapter_base()
        out = []
        for model in ModelRegistry(self.home).list():
            methods = [Method.NONE, Method.RAG]
            if active == model.sha256:
                methods += [Method.PEFT, Method.RAG_PEFT]
            for method in methods:
                out.append({
                    "id": model_id(model.name, method),
                    "object": "model",
                    "created": int(model.path.stat().st_mtime),
                    "owned_by": "inkwell",
                    "inkwell": {"model": model.name, "method": method.value},
                })
        return out

    def _active_adapter_base(self) -> str | None:
        from core.adapters.store import AdapterStore

        adapter_id = ProfileSettings.load(self.profile).active_adapter
        record = AdapterStore(self.profile).find(adapter_id) if adapter_id else None
        return record.base_sha256 if record is not None else None

    def plan(self, request: _Request) -> Plan:
        """Resolve the model id, the method and the adapter (blocking: reads the data dir)."""
        name, method = parse_model_id(request.model)
        options = request.inkwell
        if options.method is not None:
            if method != Method.NONE and options.method != method:
                raise ApiError(400, f"model {request.model!r} asks for {method.value} but "
                               f"inkwell.method asks for {options.method.value}", param="model")
            method = options.method
        try:
            model = ModelRegistry(self.home).get(name)
        except InkwellError as exc:
            raise ApiError(404, f"{exc} (each also as MODEL+rag, MODEL+adapter and "
                           "MODEL+rag+adapter; GET /v1/models lists them)",
                           param="model") from None
        adapter, adapter_id = None, None
        if method.adapts:
            adapter_id = options.adapter or ProfileSettings.load(self.profile).active_adapter
            if not adapter_id:
                raise ApiError(404, f"model {request.model!r} needs an adapter, and profile "
                               f"{self.profile.name!r} has none active: train one ('inkwell "
                               "adapter train') or use the model without '+adapter'",
                               param="model")
            try:
                adapter = resolve_adapter(self.profile, adapter_id, model)
            except InkwellError as exc:
                raise ApiError(400, str(exc), param="inkwell.adapter") from None
        defaults = AppSettings.load(self.home)
        params = GenerationParams(
            max_tokens=request.answer_tokens or defaults.max_tokens,
            temperature=defaults.temperature if request.temperature is None
            else request.temperature,
            seed=request.seed or 0,
            stop=tuple(request.stop),
            top_p=GenerationParams.top_p if request.top_p is None else request.top_p,
        )
        write = WriteRequest(request.text(), options.task, method, adapter, options.retriever,
                             options.k, params=params)
        return Plan(model, method, write, request.n, adapter_id)


def _extension(service: Service, plan: Plan, started: Started) -> dict[str, Any]:
    prepared = started.prepared
    return {
        "profile": service.profile.name,
        "model": plan.model.name,
        "method": plan.method.value,
        "task": prepared.spec.name,
        "adapter": plan.adapter_id,
        "sources": [
            {"title": s.title, "date": s.date, "source": s.source, "doc_id": s.doc_id}
            for s in prepared.sources
        ],
        # n > 1: each choice's mean log-probability per token, best first (the ranking).
        "scores": list(started.scores),
    }


# -- HTTP plumbing ----------------------------------------------------------------------------


async def _read_json(request: Request) -> Any:
    length = request.headers.get("content-length", "")
    body = bytearray()
    too_large = length.isdigit() and int(length) > MAX_BODY_BYTES
    async for chunk in request.stream():
        if len(body) <= MAX_BODY_BYTES:
            body += chunk
        else:
            too_large = True
            if len(body) + len(chunk) > _DRAIN_BYTES:
                break
    if too_large or len(body) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB: "
                       "far more text than the model can read")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None


async def _disconnected(request: Request) -> None:
    """Return when the client goes away (the request body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise ClientGone()
    return task.result()


def _sse(body: Any) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _stream(generation: Generation, envelope: Envelope,
                  extension: dict[str, Any]) -> AsyncIterator[str]:
    """The answer as server-sent events; stopping (the client left) cancels the generation."""
    try:
        opened: set[int] = set()
        async for event in generation.events():
            kind = event[0]
            if kind in ("piece", "choice"):
                index = event[1]
                if index not in opened:  # a choice opens with its role, the first with sources
                    yield _sse(envelope.chunk(index, "", role=True,
                                              extension=None if opened else extension))
                    opened.add(index)
                if kind == "piece":
                    yield _sse(envelope.chunk(index, event[2]))
                else:
                    yield _sse(envelope.chunk(index, None, finish=event[2].finish_reason))
            elif kind == "error":
                exc = event[1]
                body = exc.body() if isinstance(exc, ApiError) else error_body(
                    f"generation failed: {exc}", "server_error")
                yield _sse(body)
                return
        yield "data: [DONE]\n\n"
    finally:
        generation.cancel.cancel()


def build_app(service: Service, token: str) -> ASGIApp:
    """The ASGI application: the OpenAI routes behind the bearer token."""

    async def list_models(request: Request) -> Response:
        data = await asyncio.to_thread(service.model_ids)
        return JSONResponse({"object": "list", "data": data})

    async def get_model(request: Request) -> Response:
        wanted = request.path_params["model"]
        for entry in await asyncio.to_thread(service.model_ids):
            if entry["id"] == wanted:
                return JSONResponse(entry)
        raise ApiError(404, f"model {wanted!r} not found", param="model")

    async def complete(request: Request, kind: type[_Request]) -> Response:
        parsed = parse_request(kind, await _read_json(request))
        plan = await asyncio.to_thread(service.plan, parsed)
        try:
            turn = service.gate(plan.model.name).admit()
        except ApiError:
            service.stats["busy"] += 1
            raise
        generation = Generation(service, plan, turn)
        try:
            started = await _unless_disconnected(request, generation.start())
            extension = _extension(service, plan, started)
            envelope = Envelope.new(kind is ChatRequest, parsed.model)
            if parsed.stream:
                return StreamingResponse(
                    _stream(generation, envelope, extension),
                    media_type="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            done = await _unless_disconnected(request, generation.result())
        except ClientGone:
            generation.cancel.cancel()
            return Response(status_code=499)  # nobody reads it; logs show why
        return JSONResponse(envelope.completion(done.choices, done.usage, extension))

    async def chat_completions(request: Request) -> Response:
        return await complete(request, ChatRequest)

    async def completions(request: Request) -> Response:
        return await complete(request, CompletionRequest)

    async def api_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(error_body(str(exc.detail), "invalid_request_error"),
                            status_code=exc.status_code, headers=exc.headers)

    async def server_error(_request: Request, exc: Exception) -> Response:
        return JSONResponse(error_body(f"internal error: {exc}", "server_error"), status_code=500)

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
        ],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            Exception: server_error,
        },
    )
    return RequireToken(app, token)


class RequireToken:
    """Every request carries the bearer token, or gets a 401 before anything else runs."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not token_matches(
            self.token, Headers(scope=scope).get("authorization")
        ):
            response = JSONResponse(
                error_body("missing or wrong bearer token: use the token that "
                           "'inkwell serve --show-token' prints", "authentication_error"),
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

