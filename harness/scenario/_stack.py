"""The stack builder: an N-deep middleware stack from a short spec such as ``asgi,base*3,base-body``.

Layers are listed outermost first. Every layer is built against the Starlette that is installed, so
the same spec means the same application code on every release; a layer that this release does not
have (one of Starlette's own middlewares) makes the run ``not_applicable`` rather than a failure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from harness.errors import LayerUnavailable, UsageError
from harness.scenario import _compat
from harness.scenario._trace import Boundary, Dispatch, EndpointBoundary, StackTrace, traced_dispatch

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
            app = LAYERS[kind][1](app, _same)
        return app
    layers = [trace.add(kind, kind in DISPATCHING) for kind in spec.layers]
    app = EndpointBoundary(inner, trace)
    for layer in reversed(layers):
        wrap = functools.partial(traced_dispatch, layer=layer, trace=trace)
        app = Boundary(LAYERS[layer.kind][1](app, wrap), layer, trace)
    return app


def _same(dispatch: Dispatch) -> Dispatch:
    return dispatch


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


#: Builds one layer around ``app``; ``wrap`` decorates a dispatch the harness wrote (for the trace).
Make = Callable[[Any, Callable[[Dispatch], Dispatch]], Any]


def _base(dispatch: Dispatch) -> Make:
    def make(app: Any, wrap: Callable[[Dispatch], Dispatch]) -> Any:
        return _compat.base_http_middleware()(app, dispatch=wrap(dispatch))

    return make


class _AsgiPassThrough:
    """A pure ASGI middleware: the control that never adds a task or a stream."""

    def __init__(self, app: Any, wrap: Callable[[Dispatch], Dispatch] | None = None) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def _decorator(app: Any, wrap: Callable[[Dispatch], Dispatch]) -> Any:
    outer = _compat.starlette_app(app)
    _compat.add_http_middleware(outer, wrap(_pass_through))
    return outer


def _starlette_own(kind: str) -> Make:
    def make(app: Any, wrap: Callable[[Dispatch], Dispatch]) -> Any:
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
    "decorator": ("a Starlette app with an @app.middleware('http') pass-through", _decorator),
    "asgi": ("a pure ASGI pass-through middleware", _AsgiPassThrough),
    "gzip": ("Starlette's GZipMiddleware", _starlette_own("gzip")),
    "cors": ("Starlette's CORSMiddleware", _starlette_own("cors")),
    "trustedhost": ("Starlette's TrustedHostMiddleware", _starlette_own("trustedhost")),
    "errors": ("Starlette's ServerErrorMiddleware", _starlette_own("errors")),
    "exceptions": ("Starlette's ExceptionMiddleware", _starlette_own("exceptions")),
}

#: The kinds whose ``dispatch`` the harness writes: the BaseHTTPMiddleware layers it can trace.
DISPATCHING = frozenset({"base", "base-body", "base-rebuild", "decorator"})
