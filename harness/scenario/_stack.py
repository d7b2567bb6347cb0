"""The stack builder: an N-deep middleware stack from a short spec such as ``asgi,base*3,base-body``.

Layers are listed outermost first. Every layer is built against the Starlette that is installed, so
the same spec means the same application code on every release; a layer that this release does not
have (one of Starlette's own middlewares) makes the run ``not_applicable`` rather than a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.errors import LayerUnavailable, UsageError
from harness.scenario import _compat
from harness.scenario._endpoints import EndpointError
from harness.scenario._trace import Boundary, Dispatch, EndpointBoundary, LayerTrace, StackTrace, traced_dispatch

MAX_DEPTH = 32


@dataclass(frozen=True)
class StackSpec:
    layers: tuple[str, ...]

    def __str__(self) -> str:
        return _compress(self.layers)

    @property
    def depth(self) -> int:
        return len(self.layers)


@lru_cache(maxsize=4096)
def parse_stack(text: str) -> StackSpec:
    """Parse ``kind[*n],...``; the empty string (or ``none``) is the bare endpoint."""
    if text.strip() in ("", "none"):
        return StackSpec(())
    layers: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        kind, star, count = part.partition("*")
        if kind not in LAYERS:
            raise UsageError(f"stack {text!r}: unknown layer {kind!r}; choose from {', '.join(LAYERS)}")
        if star and not (count.isdigit() and int(count) >= 1):
            raise UsageError(f"stack {text!r}: bad repeat in {part!r}; write {kind}*N with N >= 1")
        layers.extend([kind] * (int(count) if star else 1))
    if len(layers) > MAX_DEPTH:
        raise UsageError(f"stack {text!r} is {len(layers)} layers deep; at most {MAX_DEPTH}")
    return StackSpec(tuple(layers))


def _compress(layers: tuple[str, ...]) -> str:
    out: list[str] = []
    i = 0
    while i < len(layers):
        j = i
        while j < len(layers) and layers[j] == layers[i]:
            j += 1
        out.append(layers[i] if j - i == 1 else f"{layers[i]}*{j - i}")
        i = j
    return ",".join(out) or "none"


def build_stack(spec: StackSpec, inner: Any, trace: StackTrace | None = None) -> Any:
    """The app: ``inner`` under the spec's layers. With ``trace``, every layer is recorded (see
    ``_trace``); without, the stack is exactly the layers, nothing around them."""
    if trace is None:
        app = inner
        for kind in reversed(spec.layers):
            app = LAYERS[kind][1](app, _Hooks(None, None))
        return app
    layers = [trace.add(kind, kind in DISPATCHING) for kind in spec.layers]
    app = EndpointBoundary(inner, trace)
    for layer in reversed(layers):
        app = Boundary(LAYERS[layer.kind][1](app, _Hooks(layer, trace)), layer, trace)
    return app


@dataclass(frozen=True)
class _Hooks:
    """What a layer's builder gets besides the inner app: how to trace a dispatch it writes, where
    to note what it saw, and the run's event loop (None when the stack is built untraced)."""

    layer: LayerTrace | None
    trace: StackTrace | None

    def wrap(self, dispatch: Dispatch) -> Dispatch:
        if self.layer is None or self.trace is None:
            return dispatch
        return traced_dispatch(dispatch, self.layer, self.trace)

    def note(self, event: str) -> None:
        if self.layer is not None:
            self.layer.events.append(event)

    @property
    def loop(self) -> Any:
        return self.trace.loop if self.trace is not None else None


# --- layers --------------------------------------------------------------------------------------


async def _pass_through(request: Any, call_next: Any) -> Any:
    return await call_next(request)


async def _read_body_first(request: Any, call_next: Any) -> Any:
    await request.body()
    return await call_next(request)


async def _rebuild_body(request: Any, call_next: Any) -> Any:
    response = await call_next(request)
    body = b""
    async for chunk in response.body_iterator:
        body += chunk if isinstance(chunk, bytes) else str(chunk).encode()
    r = _compat.responses()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return r.Response(body, status_code=response.status_code, headers=headers)


def _poll_after_call_next(hooks: _Hooks) -> Dispatch:
    """Starlette's test_read_request_disconnected_client: ``is_disconnected()`` after ``call_next``."""

    async def dispatch(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        hooks.note(f"is_disconnected after call_next: {await request.is_disconnected()}")
        return response

    return dispatch


def _poll_after_body(hooks: _Hooks) -> Dispatch:
    """Starlette's test_read_request_disconnected_after_consuming_steam: ``body()``, then
    ``is_disconnected()``, then ``call_next``."""

    async def dispatch(request: Any, call_next: Any) -> Any:
        await request.body()
        hooks.note(f"is_disconnected after body: {await request.is_disconnected()}")
        return await call_next(request)

    return dispatch


async def _discard(request: Any, call_next: Any) -> Any:
    """Starlette's DiscardingMiddleware: the downstream response is dropped for another."""
    await call_next(request)
    return _compat.responses().PlainTextResponse("Custom")


def _catch(hooks: _Hooks) -> Dispatch:
    """Starlette's test_exception_can_be_caught: the endpoint's exception, caught around
    ``call_next``, becomes a 400 with its message."""

    async def dispatch(request: Any, call_next: Any) -> Any:
        try:
            return await call_next(request)
        except EndpointError as exc:
            hooks.note("caught EndpointError")
            return _compat.responses().PlainTextResponse(str(exc), status_code=400)

    return dispatch


#: Builds one layer around ``app``, with the run's hooks.
Make = Callable[[Any, _Hooks], Any]


def _base(dispatch: Dispatch) -> Make:
    return _base_noting(lambda hooks: dispatch)


def _base_noting(dispatch: Callable[[_Hooks], Dispatch]) -> Make:
    """A BaseHTTPMiddleware whose dispatch notes what it saw in the layer's trace."""

    def make(app: Any, hooks: _Hooks) -> Any:
        return _compat.base_http_middleware()(app, dispatch=hooks.wrap(dispatch(hooks)))

    return make


class _ExitStack:
    """A pure ASGI middleware whose ``AsyncExitStack`` callback sleeps, then notes that it ran
    (Starlette's ContextManagerMiddleware in test_run_context_manager_exit_even_if_client_disconnects:
    the sleep gives a cancellation the chance to cut the exit short)."""

    def __init__(self, app: Any, hooks: _Hooks) -> None:
        if hooks.loop is None:
            raise LayerUnavailable("the exitstack layer needs a traced run (it sleeps on the run's loop)")
        self.app = app
        self._hooks = hooks

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import contextlib

        async def sleep_and_note() -> None:
            await self._hooks.loop.sleep(0.1)
            self._hooks.note("context exited")

        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(sleep_and_note)
            await self.app(scope, receive, send)


class _AsgiPassThrough:
    """A pure ASGI middleware: the control that never adds a task or a stream."""

    def __init__(self, app: Any, hooks: _Hooks | None = None) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def _decorator(app: Any, hooks: _Hooks) -> Any:
    outer = _compat.starlette_app(app)
    _compat.add_http_middleware(outer, hooks.wrap(_pass_through))
    return outer


def _fastapi(app: Any, hooks: _Hooks) -> Any:
    """A real FastAPI() app whose ``@app.middleware("http")`` passes through: FastAPI's own
    BaseHTTPMiddleware registration (its copy since 0.90), on the Starlette FastAPI resolved to."""
    outer = _compat.fastapi_app(app)
    if outer is None:
        raise LayerUnavailable("FastAPI is not installed here: fastapi layers run in FastAPI cells")
    outer.middleware("http")(hooks.wrap(_pass_through))
    return outer


def _starlette_own(kind: str) -> Make:
    def make(app: Any, hooks: _Hooks) -> Any:
        factory = _compat.starlette_middleware(kind)
        if factory is None:
            raise LayerUnavailable(f"this Starlette has no {kind} middleware")
        return factory(app)

    return make


#: kind -> (one-line description, factory taking the inner app)
LAYERS: dict[str, tuple[str, Make]] = {
    "base": ("BaseHTTPMiddleware that returns await call_next(request)", _base(_pass_through)),
    "base-body": ("BaseHTTPMiddleware that reads await request.body() before call_next", _base(_read_body_first)),
    "base-rebuild": (
        "BaseHTTPMiddleware that consumes the response body and returns a new Response",
        _base(_rebuild_body),
    ),
    "base-catch": (
        "BaseHTTPMiddleware that catches the endpoint's EndpointError around call_next and answers 400",
        _base_noting(_catch),
    ),
    "base-discard": ("BaseHTTPMiddleware that drops call_next's response and returns 'Custom'", _base(_discard)),
    "base-poll": (
        "BaseHTTPMiddleware that asks request.is_disconnected() after call_next",
        _base_noting(_poll_after_call_next),
    ),
    "base-body-poll": (
        "BaseHTTPMiddleware that reads the body, asks request.is_disconnected(), then call_next",
        _base_noting(_poll_after_body),
    ),
    "decorator": ("a Starlette app with an @app.middleware('http') pass-through", _decorator),
    "fastapi": ("a FastAPI() app with an @app.middleware('http') pass-through", _fastapi),
    "asgi": ("a pure ASGI pass-through middleware", _AsgiPassThrough),
    "exitstack": ("a pure ASGI middleware running the app inside an AsyncExitStack", _ExitStack),
    "gzip": ("Starlette's GZipMiddleware", _starlette_own("gzip")),
    "cors": ("Starlette's CORSMiddleware", _starlette_own("cors")),
    "trustedhost": ("Starlette's TrustedHostMiddleware", _starlette_own("trustedhost")),
    "errors": ("Starlette's ServerErrorMiddleware", _starlette_own("errors")),
    "exceptions": ("Starlette's ExceptionMiddleware", _starlette_own("exceptions")),
}

#: The kinds whose ``dispatch`` the harness writes: the BaseHTTPMiddleware layers it can trace.
DISPATCHING = frozenset(
    {
        "base",
        "base-body",
        "base-rebuild",
        "base-catch",
        "base-discard",
        "base-poll",
        "base-body-poll",
        "decorator",
        "fastapi",
    }
)
