"""What each middleware layer of a run did: the per-layer trace a verdict rests on.

An outcome class says how the app ended; a maintainer also asks *where*: did every layer's
``dispatch`` get a response from ``call_next``, did its code after ``call_next`` run, what did its
``receive`` see, and which layer raised. The stack builder puts a recorder around every layer (a
pure ASGI pass-through: no task, no stream, no scheduling point, so the run is the same run) and
wraps each ``dispatch`` the harness itself writes, so every BaseHTTPMiddleware layer reports:

- ``call_next``: ``response`` (it returned one), ``raised X`` (it raised; ``RuntimeError: No
  response returned.`` is the bug), ``cancelled``, or ``not called``;
- ``after_call_next``: the dispatch's own code after ``call_next`` ran (it returned normally);
- ``received``: what the layer's ``receive()`` returned, in order;
- ``raised``: the exception that left the layer, if any.

``raised_in`` names the innermost layer an exception left whose inner side ended without that same
exception: where it began (``0`` is the endpoint).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Cancellation(Protocol):
    """What the trace needs of the run's loop: to tell cancellation apart, and to sleep on its clock
    (a layer that waits, like the exit-stack one)."""

    def is_cancellation(self, exc: BaseException) -> bool: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass
class LayerTrace:
    """One layer, numbered from 1 (outermost)."""

    index: int
    kind: str
    #: Whether this kind has a ``dispatch`` the harness wrote (a BaseHTTPMiddleware layer).
    dispatches: bool
    dispatched: bool = False
    call_next: str = "not called"
    after_call_next: bool = False
    received: list[str] = field(default_factory=list)
    raised: str | None = None
    #: What the layer's own code noted (``is_disconnected after call_next: True``, ``context exited``).
    events: list[str] = field(default_factory=list)
    _exc: BaseException | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"layer": self.index, "kind": self.kind, "received": list(self.received)}
        if self.dispatches:
            data.update(dispatched=self.dispatched, call_next=self.call_next, after_call_next=self.after_call_next)
        if self.raised is not None:
            data["raised"] = self.raised
        if self.events:
            data["events"] = list(self.events)
        return data


@dataclass
class StackTrace:
    """Every layer of one run, outermost first."""

    layers: list[LayerTrace] = field(default_factory=list)
    loop: Cancellation | None = None
    #: What the endpoint (below the innermost layer) raised, if anything.
    _inner_exc: BaseException | None = field(default=None, repr=False)

    def add(self, kind: str, dispatches: bool) -> LayerTrace:
        layer = LayerTrace(len(self.layers) + 1, kind, dispatches)
        self.layers.append(layer)
        return layer

    def describe(self, exc: BaseException) -> str:
        """``cancelled``, ``Type: message`` or, for an exception group, ``Group of Type, Type``.

        A group is never turned into a string: anyio 3's ``ExceptionGroup.__str__`` formats every
        nested traceback, which at ten layers costs longer than the run."""
        if self.loop is not None and self.loop.is_cancellation(exc):
            return "cancelled"
        inner = getattr(exc, "exceptions", None)
        if isinstance(inner, (list, tuple)) and inner:
            return f"{type(exc).__name__} of " + ", ".join(sorted({type(e).__name__ for e in inner}))
        message = str(exc)
        return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__

    def raised_in(self) -> int | None:
        """The layer an escaping exception began in (0: the endpoint), or None if none escaped.

        Exceptions are compared by their leaves (an exception group re-raised by a task group is a
        new object around the same exception): a layer is the origin when what left it holds an
        exception that did not come up from below it."""
        if not self.layers or self.layers[0]._exc is None:
            return None
        below = _leaves(self._inner_exc)
        origin: int | None = 0 if below else None
        for layer in reversed(self.layers):
            leaves = _leaves(layer._exc)
            if leaves - below:
                origin = layer.index
            below = leaves
        return origin

    def to_json(self) -> list[dict[str, Any]]:
        return [layer.to_json() for layer in self.layers]


def _leaves(exc: BaseException | None) -> set[int]:
    """Identities of the leaf exceptions of ``exc`` (groups of any library flattened)."""
    if exc is None:
        return set()
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner and all(isinstance(e, BaseException) for e in inner):
        return set().union(*(_leaves(e) for e in inner))
    return {id(exc)}


Dispatch = Callable[[Any, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]


def traced_dispatch(dispatch: Dispatch, layer: LayerTrace, trace: StackTrace) -> Dispatch:
    """``dispatch`` reporting what ``call_next`` gave it and whether its own code went on."""

    async def traced(request: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        layer.dispatched = True

        async def observed_call_next(req: Any) -> Any:
            layer.call_next = "pending"
            try:
                response = await call_next(req)
            except BaseException as e:
                layer.call_next = "cancelled" if trace.describe(e) == "cancelled" else f"raised {trace.describe(e)}"
                raise
            layer.call_next = "response"
            return response

        response = await dispatch(request, observed_call_next)
        layer.after_call_next = True
        return response

    return traced


class Boundary:
    """A pure ASGI pass-through around one layer: records what its ``receive`` returned and what
    left it. Adds no task and no scheduling point."""

    def __init__(self, app: Any, layer: LayerTrace, trace: StackTrace) -> None:
        self.app = app
        self._layer = layer
        self._trace = trace

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        layer, trace = self._layer, self._trace

        async def observed_receive() -> Any:
            try:
                message = await receive()
            except BaseException as e:
                layer.received.append(f"<{trace.describe(e)}>")
                raise
            layer.received.append(str(message.get("type", "<no type>")))
            return message

        try:
            await self.app(scope, observed_receive, send)
        except BaseException as e:
            layer._exc = e
            layer.raised = trace.describe(e)
            raise


class EndpointBoundary:
    """Around the endpoint: what it raised, so ``raised_in`` can say 0."""

    def __init__(self, app: Any, trace: StackTrace) -> None:
        self.app = app
        self._trace = trace

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseException as e:
            self._trace._inner_exc = e
            raise
