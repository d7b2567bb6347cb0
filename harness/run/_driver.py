"""The driver: one ASGI app, one client script, one server profile, one bounded run.

This is the piece everything else stands on: the catalogue runner, the tests' hand-written apps and
user apps all go through ``drive``. It must run inside an event loop of the given backend (the
runner's own, or the one anyio's pytest plugin provides).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness import defaults
from harness.run._connection import Connection
from harness.run._outcome import ExceptionInfo, Outcome
from harness.run._receive import ScriptedReceive
from harness.run._send import RecordingSend
from harness.run.backends import Backend
from harness.scenario import ReceiveScript, ServerProfile


@dataclass(frozen=True)
class Bounds:
    #: On the run's clock: virtual seconds under virtual time, else real seconds.
    timeout: float = defaults.RUN_TIMEOUT
    #: Wall-clock backstop (a livelock never lets virtual time move).
    real_timeout: float = defaults.REAL_TIMEOUT


@dataclass
class Drive:
    """What one run did: the verdict and the raw observations it rests on."""

    outcome: Outcome
    detail: str
    exception: ExceptionInfo | None
    conn: Connection
    elapsed_s: float
    timed_out: bool
    leaked_tasks: int = 0


def make_scope(
    profile: ServerProfile,
    *,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    """An HTTP scope as the profile's server would build it (``spec_version`` included or not)."""
    asgi: dict[str, str] = {"version": "3.0"}
    if profile.spec_version is not None:
        asgi["spec_version"] = profile.spec_version
    raw_path, _, query = path.encode().partition(b"?")
    all_headers = [(b"host", b"testserver"), *headers]
    if method not in ("GET", "HEAD") or body:
        all_headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": asgi,
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path.decode(),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query,
        "headers": all_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": {},
        "state": {},
    }


async def drive(
    app: Any,
    *,
    script: ReceiveScript,
    profile: ServerProfile,
    backend: Backend,
    scope: dict[str, Any] | None = None,
    bounds: Bounds = Bounds(),
    virtual_time: bool = True,
    observer: Any = None,
) -> Drive:
    conn = Connection(backend)
    if observer is not None:
        # What the endpoint may ask of the client's side while it runs (was the response complete
        # when the background task ran?), never what it can change.
        observer.response_complete = lambda: conn.response_complete
    receive = ScriptedReceive(script, profile, conn)
    send = RecordingSend(profile, conn)
    if scope is None:
        scope = make_scope(profile, body=script.body)

    async def call_app() -> None:
        await app(scope, receive, send)

    started = time.perf_counter()
    result = await backend.supervise(call_app, receive.run_client, bounds.timeout, bounds.real_timeout)
    elapsed = time.perf_counter() - started
    clock = "virtual " if virtual_time and backend.virtual_time_capable else ""
    outcome, detail, info = conn.classify(
        result.exc, result.timed_out, lambda: _hang_detail(conn, bounds, clock, elapsed)
    )
    return Drive(outcome, detail, info, conn, elapsed, result.timed_out, result.leaked_tasks)


def _hang_detail(conn: Connection, bounds: Bounds, clock: str, elapsed: float) -> str:
    if elapsed >= bounds.real_timeout:
        bound = f"{bounds.real_timeout:g} s wall clock"
    else:
        bound = f"{bounds.timeout:g} s {clock}time"
    calls = conn.receive_calls
    waiting = f" while blocked in receive() call #{len(calls)}" if calls and calls[-1] == "<cancelled>" else ""
    sent = ", ".join(m.type for m in conn.sent) or "nothing"
    return f"did not finish within {bound}{waiting}; had sent {sent}"
