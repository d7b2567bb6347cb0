"""The endpoint catalogue: the innermost apps a scenario can put under its middleware stack.

Each endpoint reports to an ``EndpointState`` (started, finished, cancelled, background task ran, what
``is_disconnected()`` said) so a verdict can say not only what the client got but what the app did.
"Slow" means a virtual-clock sleep: the endpoint is still running when the disconnect arrives, and
costs no wall-clock time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from harness.errors import UsageError
from harness.scenario import _compat

#: Virtual seconds a slow endpoint sleeps (the PR #1634 test slept 5 s).
SLOW_S = 5.0
#: Virtual seconds between the chunks of the streaming endpoints.
CHUNK_GAP_S = 1.0
STREAM_CHUNKS = 3


class Loop(Protocol):
    """What an endpoint needs of the event loop it runs on (a ``harness.run`` backend provides it;
    the scenario layer names no backend)."""

    async def sleep(self, seconds: float) -> None: ...

    async def checkpoint(self) -> None: ...

    def is_cancellation(self, exc: BaseException) -> bool: ...


class EndpointError(Exception):
    """What the ``raises`` endpoint raises: the app's own exception that must surface unchanged."""


EndpointError.__module__ = "harness.scenario"  # records name it by where it is public


class _EndpointStateJSONBase(TypedDict):
    started: bool
    finished: bool
    cancelled: bool


class EndpointStateJSON(_EndpointStateJSONBase, total=False):
    """``EndpointState.to_json()``: the optional fields only for the endpoints that report them."""

    background_ran: bool
    disconnect_polls: list[bool]
    body_len: int


@dataclass
class EndpointState:
    started: bool = False
    finished: bool = False
    cancelled: bool = False
    background_ran: bool | None = None
    disconnect_polls: list[bool] = field(default_factory=list)
    body_len: int | None = None
    #: Async callables the driver awaits after the run (closing generators the app left open).
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def close(self) -> None:
        for cleanup in self.cleanups:
            try:
                await cleanup()
            except Exception:
                pass

    def to_json(self) -> EndpointStateJSON:
        data: EndpointStateJSON = {"started": self.started, "finished": self.finished, "cancelled": self.cancelled}
        if self.background_ran is not None:
            data["background_ran"] = self.background_ran
        if self.disconnect_polls:
            data["disconnect_polls"] = self.disconnect_polls
        if self.body_len is not None:
            data["body_len"] = self.body_len
        return data


class _Tracked:
    """Marks the probe on entry, exit and cancellation of an endpoint body."""

    def __init__(self, probe: EndpointState, loop: Loop) -> None:
        self._probe = probe
        self._loop = loop

    def __enter__(self) -> None:
        self._probe.started = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self._probe.finished = True
        elif self._loop.is_cancellation(exc):
            self._probe.cancelled = True


class _RawApp:
    """A class instance (not a function), so Route and Mount treat it as an ASGI app."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._fn(scope, receive, send)


def build_endpoint(kind: str, backend: Loop, probe: EndpointState) -> Any:
    """The innermost ASGI app of kind ``kind``."""
    try:
        factory = ENDPOINTS[kind][1]
    except KeyError:
        raise UsageError(f"unknown endpoint {kind!r}; choose from {', '.join(ENDPOINTS)}") from None
    return factory(backend, probe)


def _slow(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()

    async def slow(request: Any) -> Any:
        with _Tracked(probe, backend):
            await backend.sleep(SLOW_S)
        return r.PlainTextResponse("slow")

    return _compat.route("/", slow, methods=["GET", "POST"])


def _fast(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()

    async def fast(request: Any) -> Any:
        with _Tracked(probe, backend):
            pass
        return r.PlainTextResponse("fast")

    return _compat.route("/", fast, methods=["GET", "POST"])


def _streaming(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()

    async def chunks() -> Any:
        with _Tracked(probe, backend):
            for i in range(STREAM_CHUNKS):
                if i:
                    await backend.sleep(CHUNK_GAP_S)
                yield f"chunk-{i}\n".encode()

    async def streaming(request: Any) -> Any:
        # A real async generator: Starlette before 0.14 sends anything else to a threadpool as a
        # sync iterator. Starlette does not close it when the response is cancelled, so the driver
        # closes it after the run (left to the garbage collector, trio would warn about it later).
        body = chunks()
        probe.cleanups.append(body.aclose)
        return r.StreamingResponse(body, media_type="text/plain")

    return _compat.route("/", streaming, methods=["GET", "POST"])


def _body(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()

    async def body(request: Any) -> Any:
        with _Tracked(probe, backend):
            data = await request.body()
            probe.body_len = len(data)
        return r.PlainTextResponse(f"{len(data)} bytes")

    return _compat.route("/", body, methods=["GET", "POST"])


def _background(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()
    background_task = _compat.background_task()
    probe.background_ran = False

    async def task() -> None:
        await backend.checkpoint()
        probe.background_ran = True

    async def with_background(request: Any) -> Any:
        with _Tracked(probe, backend):
            pass
        return r.PlainTextResponse("queued", background=background_task(task))

    return _compat.route("/", with_background, methods=["GET", "POST"])


def _raises(backend: Loop, probe: EndpointState) -> Any:
    async def raises(request: Any) -> Any:
        with _Tracked(probe, backend):
            raise EndpointError("endpoint raised")

    return _compat.route("/", raises, methods=["GET", "POST"])


def _silent(backend: Loop, probe: EndpointState) -> Any:
    async def silent(scope: Any, receive: Any, send: Any) -> None:
        with _Tracked(probe, backend):
            return

    return _RawApp(silent)


def _poll_disconnect(backend: Loop, probe: EndpointState) -> Any:
    r = _compat.responses()
    request_cls = _request_cls()

    async def poll(scope: Any, receive: Any, send: Any) -> None:
        request = request_cls(scope, receive)
        with _Tracked(probe, backend):
            for _ in range(3):
                probe.disconnect_polls.append(await request.is_disconnected())
                await backend.sleep(CHUNK_GAP_S)
        await r.PlainTextResponse("polled")(scope, receive, send)

    return _RawApp(poll)


def _request_cls() -> type:
    from starlette.requests import Request

    cls: type = Request
    return cls


#: name -> (one-line description, factory)
ENDPOINTS: dict[str, tuple[str, Callable[[Loop, EndpointState], Any]]] = {
    "slow": ("still running when the disconnect arrives (virtual sleep 5 s)", _slow),
    "fast": ("returns a small response at once", _fast),
    "streaming": ("StreamingResponse of 3 chunks, 1 virtual second apart", _streaming),
    "body": ("reads await request.body() and answers its length", _body),
    "background": ("attaches a BackgroundTask that records whether it ran", _background),
    "raises": ("raises EndpointError", _raises),
    "silent": ("a raw ASGI app that returns without sending anything", _silent),
    "poll-disconnect": ("polls await request.is_disconnected() 3 times, 1 virtual second apart", _poll_disconnect),
}
