"""The outermost app under a real server: it records what the app did, in the driver's terms.

A real server gives no verdict; this wrapper does. It sits between the server and the scenario's
app, passes every message through unchanged, and keeps what the scripted driver keeps (each
``receive()`` result, each message sent, protocol violations, the exception the app ended with, or
that it never ended), then classifies the run with the same ``classify`` so a real-server outcome
and a scripted one mean the same thing. The app's own exception is re-raised afterwards: the
server must see what production would show it, and its log is part of the evidence.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from harness.run import Connection, RecordingSend
from harness.run.backends import Backend, Bounded, Event

#: Requests to this path are answered by the recorder itself: the client's "is the server up" check.
READY_PATH = "/__harness_ready"
RUN_HEADER = b"x-harness-run"


class Observed(Protocol):
    """What an app reports about itself beside the messages (an endpoint probe, a probe case)."""

    def to_json(self) -> Mapping[str, Any]: ...


#: Builds a fresh app for one request, with the object that observes it.
AppFactory = Callable[[dict[str, Any]], tuple[Any, Observed]]


class ScaledBackend(Backend):
    """The server's own event loop, with endpoint sleeps scaled from virtual seconds to real ones.

    The catalogue's slow endpoint sleeps 5 s of virtual time; under a real server that would cost 5
    real seconds per request. What matters is the order of events (the client is gone before the
    endpoint returns), which a scaled sleep keeps.
    """

    def __init__(self, inner: Backend, scale: float) -> None:
        self._inner = inner
        self.name = inner.name
        self.scale = scale

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds * self.scale)

    async def checkpoint(self) -> None:
        await self._inner.checkpoint()

    async def wait_all_tasks_blocked(self) -> None:
        await self._inner.wait_all_tasks_blocked()

    def event(self) -> Event:
        return self._inner.event()

    def is_cancellation(self, exc: BaseException) -> bool:
        return self._inner.is_cancellation(exc)

    async def bounded(self, call: Callable[[], Awaitable[None]], seconds: float) -> Bounded:
        return await self._inner.bounded(call, seconds)


class Recorder:
    """An ASGI app: lifespan and the readiness path itself, every other request through ``factory``."""

    def __init__(
        self,
        factory: AppFactory,
        backend: Backend,
        emit: Callable[[dict[str, Any]], None],
        *,
        app_timeout: float,
        base: dict[str, Any],
    ) -> None:
        self._factory = factory
        self._backend = backend
        self._emit = emit
        self._timeout = app_timeout
        self._base = base

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope.get("path") == READY_PATH:
            await _answer(send, b"ready")
            return
        await self._record(scope, receive, send)

    async def _record(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        run = _run_id(scope)
        conn = Connection(self._backend)
        checked_send = RecordingSend(None, conn)  # the driver's checks; the real server does the rest
        app, observed = self._factory(scope)

        async def recording_receive() -> Any:
            index = len(conn.receive_calls)
            conn.receive_calls.append("<blocked>")
            try:
                message = await receive()
            except BaseException as e:
                conn.receive_calls[index] = (
                    "<cancelled>" if self._backend.is_cancellation(e) else f"<{type(e).__name__}>"
                )
                raise
            mtype = message.get("type", "<no type>")
            conn.receive_calls[index] = mtype
            if mtype == "http.disconnect":
                conn.client_gone = conn.app_saw_disconnect = True
            return message

        async def recording_send(message: Any) -> None:
            await checked_send(message)  # records; raises ASGIProtocolError on a violation
            await send(message)

        started = time.perf_counter()
        ended = await self._backend.bounded(lambda: app(scope, recording_receive, recording_send), self._timeout)
        elapsed = time.perf_counter() - started
        closer = getattr(observed, "close", None)
        if closer is not None:
            await closer()
        outcome, detail, info = conn.classify(
            ended.exc,
            ended.timed_out,
            lambda: (
                f"did not finish within {self._timeout:g} s (real time); "
                f"receive() calls: {', '.join(conn.receive_calls) or 'none'}"
            ),
        )
        record = dict(self._base)
        record.update(
            repeat=run,
            outcome=outcome,
            detail=detail,
            elapsed_s=round(elapsed, 6),
            endpoint=observed.to_json(),
            exception=info.to_json() if info is not None else None,
            scope_asgi=dict(scope.get("asgi") or {}),
            **conn.observed(),
        )
        self._emit(record)
        if ended.exc is not None:
            raise ended.exc  # the server's reaction (and log line) belongs to the evidence


def _run_id(scope: dict[str, Any]) -> int:
    for name, value in scope.get("headers") or ():
        if name.lower() == RUN_HEADER:
            try:
                return int(value)
            except ValueError:
                break
    return -1


async def _answer(send: Any, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
