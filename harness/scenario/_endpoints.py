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

from harness.errors import LayerUnavailable, UsageError
from harness.scenario import _compat

#: Virtual seconds a slow endpoint sleeps (the PR #1634 test slept 5 s).
SLOW_S = 5.0
#: Virtual seconds between the chunks of the streaming endpoints.
CHUNK_GAP_S = 1.0
STREAM_CHUNKS = 3
#: Virtual seconds Starlette's background tasks sleep before they count as run (its tests' 0.1 s).
BACKGROUND_SLEEP_S = 0.1
#: Virtual seconds the streaming-until-disconnect endpoint streams before it gives up (the test's 0.2 s).
STREAM_GIVE_UP_S = 0.2
#: ... or after this many chunks, whichever comes first.
STREAM_GIVE_UP_CHUNKS = 200


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
    received: list[str]
    disconnect_while_sending: bool
    client_disconnect_raised: bool
    background_after_response: bool


@dataclass
class EndpointState:
    started: bool = False
    finished: bool = False
    cancelled: bool = False
    background_ran: bool | None = None
    disconnect_polls: list[bool] = field(default_factory=list)
    body_len: int | None = None
    #: What a raw endpoint's own ``receive()`` calls returned, in order (``http.request:BODY``).
    received: list[str] = field(default_factory=list)
    #: The streaming-until-disconnect endpoint: ``http.disconnect`` arrived while it was sending.
    disconnect_while_sending: bool | None = None
    #: ``request.body()`` raised ``ClientDisconnect`` (which the endpoint caught and answered).
    client_disconnect_raised: bool | None = None
    #: The background task found the response already complete at the client when it ran.
    background_after_response: bool | None = None
    #: Set by the driver: whether the final body has reached the client's side yet.
    response_complete: Callable[[], bool] = field(default=lambda: False, repr=False)
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
        if self.received:
            data["received"] = list(self.received)
        if self.disconnect_while_sending is not None:
            data["disconnect_while_sending"] = self.disconnect_while_sending
        if self.client_disconnect_raised is not None:
            data["client_disconnect_raised"] = self.client_disconnect_raised
        if self.background_after_response is not None:
            data["background_after_response"] = self.background_after_response
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


def _with_background(backend: Loop, probe: EndpointState, text: str, task: Callable[[], Awaitable[None]]) -> Any:
    """A route answering ``text`` with ``task`` as its BackgroundTask; the task is not run yet."""
    r = _compat.responses()
    background_task = _compat.background_task()
    probe.background_ran = False

    async def with_background(request: Any) -> Any:
        with _Tracked(probe, backend):
            pass
        return r.PlainTextResponse(text, background=background_task(task))

    return _compat.route("/", with_background, methods=["GET", "POST"])


def _background(backend: Loop, probe: EndpointState) -> Any:
    async def task() -> None:
        await backend.checkpoint()
        probe.background_ran = True

    return _with_background(backend, probe, "queued", task)


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


def _background_sleep(backend: Loop, probe: EndpointState) -> Any:
    """Starlette's endpoint_with_background_task: the task sleeps 0.1 s before it counts as run."""

    async def sleep_and_set() -> None:
        await backend.sleep(BACKGROUND_SLEEP_S)
        probe.background_ran = True

    return _with_background(backend, probe, "", sleep_and_set)


def _background_after_response(backend: Loop, probe: EndpointState) -> Any:
    """Starlette's test_background_task_runs_after_response_sent_with_middleware: a background task
    that notes whether the whole response had reached the client when it ran (#3458, fixed in 1.7.0)."""

    async def note() -> None:
        probe.background_after_response = probe.response_complete()
        probe.background_ran = True

    return _with_background(backend, probe, "hello", note)


def _background_raises(backend: Loop, probe: EndpointState) -> Any:
    """Starlette's test_run_background_tasks_raise_exceptions: the task sleeps 0.1 s, then raises."""

    async def sleep_and_raise() -> None:
        await backend.sleep(BACKGROUND_SLEEP_S)
        probe.background_ran = True
        raise EndpointError("background task raised")

    return _with_background(backend, probe, "", sleep_and_raise)


def _body_or_disconnect(backend: Loop, probe: EndpointState) -> Any:
    """The #2516 test's endpoint: read the body; on ClientDisconnect, answer an empty 200 anyway."""
    r = _compat.responses()
    client_disconnect = _compat.client_disconnect()

    async def sleepy(request: Any) -> Any:
        with _Tracked(probe, backend):
            try:
                await request.body()
            except client_disconnect:
                probe.client_disconnect_raised = True
            else:
                probe.client_disconnect_raised = False
        return r.Response(b"")

    return _compat.route("/", sleepy, methods=["GET", "POST"])


def _message(message: Any) -> str:
    if message.get("type") == "http.request" and message.get("body"):
        return f"http.request:{bytes(message['body']).decode('latin-1')}"
    return str(message.get("type"))


def _receive_then_answer(backend: Loop, probe: EndpointState) -> Any:
    """Starlette's test_read_request_disconnected_* endpoints: receive until ``http.disconnect``
    (at most 3 messages), noting each, then answer an empty 200."""
    r = _compat.responses()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with _Tracked(probe, backend):
            for _ in range(3):
                message = await receive()
                probe.received.append(_message(message))
                if message.get("type") == "http.disconnect":
                    break
        await r.Response()(scope, receive, send)

    return _RawApp(app)


def _poll_twice(backend: Loop, probe: EndpointState) -> Any:
    """Starlette's app_poll_disconnect (test_poll_for_disconnect_repeated): wait for
    ``http.disconnect`` twice, skipping body messages, then answer ``good!``."""
    r = _compat.responses()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with _Tracked(probe, backend):
            for _ in range(2):
                while True:
                    message = await receive()
                    probe.received.append(_message(message))
                    if message.get("type") != "http.request":
                        break
        await r.Response(b"good!")(scope, receive, send)

    return _RawApp(app)


def _send_then_receive(backend: Loop, probe: EndpointState) -> Any:
    """test_app_receives_http_disconnect_after_sending_if_discarded: two chunks, then ``receive()``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with _Tracked(probe, backend):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"first chunk, ", "more_body": True})
            await send({"type": "http.response.body", "body": b"second chunk", "more_body": True})
            probe.received.append(_message(await receive()))

    return _RawApp(app)


def _stream_until_disconnect(backend: Loop, probe: EndpointState) -> Any:
    """test_app_receives_http_disconnect_while_sending_if_discarded: stream chunks while a task
    waits for ``http.disconnect`` and stops the stream; give up after 0.2 s (the test's fail)."""
    anyio = _compat.anyio_module()
    if anyio is None:
        raise LayerUnavailable("this endpoint needs anyio (Starlette 0.15.0 and later)")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with _Tracked(probe, backend):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            probe.disconnect_while_sending = False
            async with anyio.create_task_group() as task_group:

                async def cancel_on_disconnect() -> None:
                    while True:
                        message = await receive()
                        probe.received.append(_message(message))
                        if message.get("type") == "http.disconnect":
                            probe.disconnect_while_sending = True
                            task_group.cancel_scope.cancel()
                            return

                task_group.start_soon(cancel_on_disconnect)
                with anyio.move_on_after(STREAM_GIVE_UP_S):
                    # Bounded in chunks too: a send that never blocks would never let virtual time on.
                    for _ in range(STREAM_GIVE_UP_CHUNKS):
                        await send({"type": "http.response.body", "body": b"chunk ", "more_body": True})
                task_group.cancel_scope.cancel()

    return _RawApp(app)


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
    "background-sleep": ("attaches a BackgroundTask that sleeps 0.1 s, then records that it ran", _background_sleep),
    "background-after-response": (
        "a BackgroundTask that notes whether the response was complete at the client when it ran",
        _background_after_response,
    ),
    "background-raises": (
        "attaches a BackgroundTask that sleeps 0.1 s, then raises EndpointError",
        _background_raises,
    ),
    "body-or-disconnect": ("reads the body; on ClientDisconnect answers an empty 200 (#2516)", _body_or_disconnect),
    "receive-then-answer": (
        "a raw app: receive() until http.disconnect (3 at most), then an empty 200",
        _receive_then_answer,
    ),
    "poll-twice": ("a raw app: waits for http.disconnect twice, then answers good!", _poll_twice),
    "send-then-receive": ("a raw app: start, two chunks, then receive()", _send_then_receive),
    "stream-until-disconnect": (
        "a raw app: streams until receive() says http.disconnect (0.2 s at most)",
        _stream_until_disconnect,
    ),
}
