"""Server profiles: what a real server's ``receive``/``send`` do around a disconnect.

The same Starlette code gives different verdicts behind different servers, because servers disagree
on what ``receive()`` returns after a disconnect and whether ``send()`` raises. A profile bundles those
choices with the ``scope["asgi"]["spec_version"]`` the server announces (Starlette's StreamingResponse
stops listening for disconnects at spec >= 2.4 from 0.42.0, FileResponse too from 1.8.0).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Literal

from harness import defaults
from harness.errors import UsageError

AfterDisconnect = Literal["repeat", "once", "end"]
AfterComplete = Literal["disconnect", "block"]
ContentLength = Literal["always", "connected", "never"]


@dataclass(frozen=True)
class ServerProfile:
    """How a server behaves once the client has gone, or once the response is complete."""

    name: str
    description: str
    #: ``repeat``: every later ``receive()`` returns ``http.disconnect``; ``once``: the first does,
    #: later calls block forever; ``end``: later calls raise ``StopAsyncIteration`` (an exhausted
    #: async generator, as in the PR #1634 test).
    after_disconnect: AfterDisconnect
    #: ``disconnect``: once the final body is sent, ``receive()`` returns ``http.disconnect`` at once;
    #: ``block``: it waits for the real disconnect.
    after_complete: AfterComplete
    spec_version: str | None
    #: ASGI 2.4 lets ``send`` raise an ``OSError`` after the client disconnected.
    send_raises_after_disconnect: bool = False
    #: A pending disconnect wins over body chunks not yet read by the app.
    disconnect_preempts_body: bool = False
    #: Whether ``send`` raises when the body disagrees with the declared ``Content-Length`` (more
    #: bytes, or a final body leaving fewer): ``always`` (hypercorn: every message still reaches
    #: h11, whose ``LocalProtocolError`` the app gets even after the client left), ``connected``
    #: (uvicorn: h11/httptools check, but after a disconnect ``send`` returns before them), ``never``.
    content_length: ContentLength = "never"
    #: The client's close (a FIN) reaches ``receive()`` while the app runs. hypercorn before 0.14.4
    #: did not notice a clean close at all: ``http.disconnect`` came only once the response completed.
    notices_close: bool = True
    #: Scheduling points every ``receive()`` takes before it answers: the message crosses from the
    #: server's own thread (granian's Rust runtime) and reaches the loop a little later, so a
    #: ``send`` racing it can win. The delay of one run; see ``receive_delay_weights``.
    receive_delay: int = 0
    #: When the delay is a race against another thread, it is no single number: weight ``i`` is the
    #: probability that a run's delay is ``i`` checkpoints, drawn once per run from the run's seed
    #: (``for_run``), so the scripted side reports a rate and every run still replays.
    receive_delay_weights: tuple[float, ...] = ()

    @property
    def randomised(self) -> bool:
        """Whether a run of this profile draws something from its seed."""
        return sum(1 for w in self.receive_delay_weights if w > 0) > 1

    def for_run(self, seed: int | None, receive_delay: int | None = None) -> ServerProfile:
        """The profile one run plays: the delay drawn from ``seed`` (or forced), weights dropped."""
        if receive_delay is None and not self.receive_delay_weights:
            return self
        if receive_delay is None:
            rng = random.Random(f"{self.name}:{seed}")
            receive_delay = rng.choices(range(len(self.receive_delay_weights)), self.receive_delay_weights)[0]
        return dataclasses.replace(self, receive_delay=receive_delay, receive_delay_weights=())


PROFILES: dict[str, ServerProfile] = {
    p.name: p
    for p in (
        # uvicorn 0.54.0 (same in 0.27.1-0.29.0), uvicorn/protocols/http/h11_impl.py and
        # httptools_impl.py, RequestResponseCycle.receive: `if self.disconnected or
        # self.response_complete: return {"type": "http.disconnect"}`, checked before the buffered
        # body, on every call. RequestResponseCycle.send: `if self.disconnected: return` (dropped).
        # H11Protocol.handle_events: scope "asgi": {"version": ..., "spec_version": "2.3"}.
        ServerProfile(
            name="uvicorn",
            description="repeated disconnect, disconnect right after completion, spec 2.3",
            after_disconnect="repeat",
            after_complete="disconnect",
            spec_version="2.3",
            disconnect_preempts_body=True,
            content_length="connected",
        ),
        # uvicorn 0.28.0, same files: spec_version "2.4" (h11_impl.py l.207) and
        # RequestResponseCycle.send raising ClientDisconnected (uvicorn/protocols/utils.py,
        # `class ClientDisconnected(IOError)`) after the disconnect. 0.29.0 dropped the raise but
        # kept announcing 2.4.
        ServerProfile(
            name="uvicorn-0.28",
            description="uvicorn 0.28.0: spec 2.4, send raises an OSError after disconnect",
            after_disconnect="repeat",
            after_complete="disconnect",
            spec_version="2.4",
            send_raises_after_disconnect=True,
            disconnect_preempts_body=True,
            content_length="connected",
        ),
        # hypercorn 0.18.0, hypercorn/protocol/http_stream.py, HTTPStream.handle: on StreamClosed it
        # puts exactly one {"type": "http.disconnect"} on the app queue (asyncio/task_group.py,
        # TaskGroup.spawn_app: receive is app_queue.get), behind any queued body chunks; later
        # receive() calls wait forever. HTTPStream._send_closed closes the stream as soon as the
        # response completes, so that one disconnect is queued then too. Scope "spec_version": "2.1".
        # HTTPStream.app_send passes every response message on to h11 (protocol/h11.py,
        # _send_h11_event), disconnected or not, so a final body short of the declared
        # Content-Length raises h11's LocalProtocolError("Too little data for declared
        # Content-Length") into the app: found by the real-server agreement check (0.37.2, depth 3,
        # trio worker), where BaseHTTPMiddleware ends a 4-byte response with no body.
        ServerProfile(
            name="hypercorn",
            description="disconnect delivered once (also at completion), then receive() blocks; spec 2.1",
            after_disconnect="once",
            after_complete="disconnect",
            spec_version="2.1",
            content_length="always",
        ),
        # hypercorn 0.14.3 and earlier (asyncio/tcp_server.py, TCPServer._read_data): a clean EOF ends
        # the read loop without protocol.handle(Closed()) (only read errors did that; 0.14.4 moved
        # it after the loop), so the app is never told of a client's close until its response
        # completes. Found by the real-server check on Starlette 0.20.4 (hypercorn 0.14.3 is the
        # newest whose trio worker runs on trio 0.21): ok where the hypercorn profile predicted the bug.
        ServerProfile(
            name="hypercorn-0.14",
            description="hypercorn < 0.14.4: a client's clean close is not noticed while the app runs",
            after_disconnect="once",
            after_complete="disconnect",
            spec_version="2.1",
            content_length="always",
            notices_close=False,
        ),
        # daphne 4.2.3, daphne/http_protocol.py, WebRequest.connectionLost and finish put one
        # http.disconnect on the application's asyncio.Queue; daphne/server.py,
        # Server.create_application: scope.setdefault("asgi", {"version": "3.0"}) (no
        # spec_version). Not modelled: daphne starts the app only once the whole body has arrived,
        # and cancels it application_close_timeout (10 s) after the disconnect.
        ServerProfile(
            name="daphne",
            description="disconnect delivered once (also at completion), then receive() blocks; no spec_version",
            after_disconnect="once",
            after_complete="disconnect",
            spec_version=None,
        ),
        # granian 2.8.9 (Rust; observed with a raw-socket probe, not read from source; the servers
        # session pins this release): receive() returns http.disconnect on every call once the
        # client is gone or the response is complete; scope "spec_version": "2.3" (also in
        # granian/asgi.py, LifespanProtocol). Its receive() answers from the Rust runtime's thread,
        # so a send racing it often wins, and how often is a race against that thread: the delay is
        # a distribution, drawn per run from the run's seed. Fitted by `python -m harness fit-delay`
        # (maximum likelihood) on `nox -s servers -- --server granian --repeat 60` (833 real runs
        # over the 14 default cells, every one explained by some delay): 0.37.2 loses the response
        # at depth 6 in 5/59 real runs and at depth 5 in 2/58, 0.20.4's seed never (delay 0 would).
        # Delays 1-3, 4-6 and 7+ are indistinguishable on those cells, so EM spreads each class's
        # weight evenly over it. granian 2.8.7 raced differently (depth 6: 15/20 lost): re-fit when
        # the pin moves (README, "Real servers").
        ServerProfile(
            name="granian",
            description="repeated disconnect, disconnect right after completion, spec 2.3, receive() answers late",
            after_disconnect="repeat",
            after_complete="disconnect",
            spec_version="2.3",
            receive_delay_weights=(
                0.0,
                0.011,
                0.011,
                0.011,
                0.017,
                0.017,
                0.017,
                0.153,
                0.153,
                0.153,
                0.153,
                0.153,
                0.153,
            ),
        ),
        # Starlette PR #1634/#1715 test: `recv_gen` yields http.request then http.disconnect and
        # ends, so a third receive() raises StopAsyncIteration; the scope has no "asgi" key.
        ServerProfile(
            name="gen-end",
            description="the PR #1634 test's recv_gen: the generator ends after one disconnect",
            after_disconnect="end",
            after_complete="block",
            spec_version=None,
        ),
        # The same thread, acjh's variant: the generator keeps yielding http.disconnect.
        ServerProfile(
            name="gen-repeat",
            description="the PR #1634 test's recv_gen with the disconnect repeated",
            after_disconnect="repeat",
            after_complete="block",
            spec_version=None,
        ),
    )
}

DEFAULT_PROFILES = defaults.PROFILES


def get_profile(name: str) -> ServerProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
