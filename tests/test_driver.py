"""The driver's semantics, specified against tiny hand-written ASGI apps (no Starlette involved).

Each test reads as a rule of the model: what ``receive()`` returns around a disconnect under each
server profile, what ``send`` accepts, how a hang and an exception group are classified.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from harness.errors import ClientDisconnected
from harness.run import Bounds, drive
from harness.scenario import get_profile, parse_script

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

pytestmark = pytest.mark.anyio


def reader(n: int, log: list[Any]) -> Any:
    """An app that calls receive() n times and logs what it got, then answers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(n):
            log.append((await receive())["type"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def run(app: Any, script: str, profile: str, backend: Any, **kw: Any) -> Any:
    return await drive(app, script=parse_script(script), profile=get_profile(profile), backend=backend, **kw)


async def test_uvicorn_repeats_the_disconnect_on_every_call(backend):
    log: list[str] = []
    d = await run(reader(4, log), "request,disconnect", "gen-repeat", backend)
    assert log == ["http.request", "http.disconnect", "http.disconnect", "http.disconnect"]
    assert d.conn.receive_calls == log
    assert d.outcome == "ok"


async def test_hypercorn_delivers_the_disconnect_once_then_receive_blocks(backend):
    log: list[str] = []
    started = time.perf_counter()
    d = await run(reader(3, log), "request,disconnect", "hypercorn", backend)
    assert log == ["http.request", "http.disconnect"]
    assert d.conn.receive_calls == ["http.request", "http.disconnect", "<cancelled>"]
    assert d.outcome == "hang"
    assert "blocked in receive()" in d.detail
    assert time.perf_counter() - started < 2, "a deadlock must reach the virtual timeout at once"


async def test_an_ended_generator_raises_stop_async_iteration(backend):
    d = await run(reader(3, []), "request,disconnect", "gen-end", backend)
    assert d.outcome == "exception"
    assert d.exception is not None and d.exception.type == "StopAsyncIteration"
    assert d.conn.receive_calls[-1] == "<StopAsyncIteration>"


async def test_uvicorn_lets_a_pending_disconnect_win_over_unread_body(backend):
    log: list[str] = []
    await run(reader(1, log), "request:abc,disconnect", "uvicorn", backend)
    assert log == ["http.disconnect"]


async def test_hypercorn_delivers_queued_body_before_the_disconnect(backend):
    log: list[str] = []
    await run(reader(2, log), "request:abc,disconnect", "hypercorn", backend)
    assert log == ["http.request", "http.disconnect"]


def after_response_reader(log: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
        log.append((await receive())["type"])
        log.append((await receive())["type"])

    return app


async def test_uvicorn_says_disconnect_right_after_the_response_completes(backend):
    log: list[str] = []
    d = await run(after_response_reader(log), "request", "uvicorn", backend)
    assert log == ["http.disconnect", "http.disconnect"]
    assert d.outcome == "ok" and d.conn.response_complete


async def test_hypercorn_says_disconnect_once_at_completion_then_blocks(backend):
    log: list[str] = []
    d = await run(after_response_reader(log), "request", "hypercorn", backend)
    assert log == ["http.disconnect"]
    assert d.outcome == "hang"


async def test_without_a_disconnect_a_generator_client_keeps_receive_blocked(backend):
    log: list[str] = []
    d = await run(after_response_reader(log), "request", "gen-repeat", backend)
    assert log == [] and d.outcome == "hang"


async def test_wait_steps_follow_what_the_app_sent(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(3):
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            await backend.sleep(1)
        await send({"type": "http.response.body", "body": b""})

    d = await run(app, "request,wait:chunks=2,disconnect", "uvicorn", backend)
    assert d.outcome == "ok" and d.conn.response_complete
    assert d.conn.sent_after_disconnect == 2, "the client left after the second chunk"


async def test_a_client_waiting_on_the_app_while_the_app_waits_on_it_is_a_hang(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()  # waits for the client, which waits for a body chunk

    d = await run(app, "request,wait:chunks=1,disconnect", "uvicorn", backend)
    assert d.outcome == "hang"
    assert "blocked in receive() call #2" in d.detail


async def test_a_started_but_unfinished_response_is_ok_and_says_incomplete(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    d = await run(app, "request", "uvicorn", backend)
    assert (d.outcome, d.detail) == ("ok", "incomplete response: sent only http.response.start")


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([{"type": "http.response.body", "body": b""}], "sent http.response.body before http.response.start"),
        (
            [{"type": "http.response.start", "status": 200}, {"type": "http.response.start", "status": 200}],
            "sent http.response.start twice",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": b""},
                {"type": "http.response.body", "body": b""},
            ],
            "sent http.response.body after the response was complete",
        ),
        ([{"type": "http.response.begin"}], "unknown message type 'http.response.begin'"),
    ],
)
async def test_protocol_violations_are_caught_and_named(backend, messages, problem):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for m in messages:
            await send(m)

    d = await run(app, "request", "uvicorn", backend)
    assert d.outcome == "protocol_error"
    assert d.detail == problem


async def test_sending_the_whole_response_is_legal_asgi_not_a_protocol_error(backend):
    # The PR #1634 test's send_gen allows only the start; that is its expectation, not ASGI's rule.
    d = await run(reader(1, []), "request,disconnect", "uvicorn", backend)
    assert d.outcome == "ok", d.detail
    assert [m.type for m in d.conn.sent] == ["http.response.start", "http.response.body"]


async def test_spec_2_4_profile_raises_an_oserror_from_send_after_disconnect(backend):
    d = await run(reader(2, []), "request,disconnect", "uvicorn-0.28", backend)
    assert d.outcome == "exception"
    assert d.exception is not None and d.exception.type.endswith("ClientDisconnected")
    assert issubclass(ClientDisconnected, OSError)


async def test_an_app_that_never_returns_is_a_hang_within_the_timeout(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await backend.sleep(3600)

    started = time.perf_counter()
    d = await run(app, "request", "uvicorn", backend, bounds=Bounds(timeout=60))
    assert d.outcome == "hang" and d.timed_out
    assert time.perf_counter() - started < 2


async def test_a_livelock_is_stopped_by_the_wall_clock_backstop(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            await backend.checkpoint()

    started = time.perf_counter()
    d = await run(app, "request", "uvicorn", backend, bounds=Bounds(timeout=60, real_timeout=0.3))
    assert d.outcome == "hang"
    assert "wall clock" in d.detail
    assert time.perf_counter() - started < 3


async def test_virtual_time_makes_a_slow_app_cost_no_wall_clock_time(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await backend.sleep(30)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    started = time.perf_counter()
    d = await run(app, "request", "uvicorn", backend)
    assert d.outcome == "ok"
    assert time.perf_counter() - started < 1


class MultiError(Exception):
    """Shaped like trio's old MultiError: a group that is not a BaseExceptionGroup."""

    def __init__(self, exceptions: list[BaseException]) -> None:
        super().__init__("multiple errors")
        self.exceptions = exceptions


@pytest.mark.parametrize(
    ("make", "wrapped"),
    [
        (lambda e: e, []),
        (lambda e: ExceptionGroup("eg", [e]), ["ExceptionGroup"]),
        (lambda e: ExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("x"), e])]), ["ExceptionGroup"]),
        (lambda e: MultiError([KeyError("k"), e]), ["MultiError"]),
    ],
)
async def test_no_response_returned_is_found_inside_any_exception_group(backend, make, wrapped):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise make(RuntimeError("No response returned."))

    d = await run(app, "request", "uvicorn", backend)
    assert d.outcome == "no_response_returned"
    assert d.exception is not None and d.exception.wrapped_in == wrapped


async def test_other_exceptions_are_unwrapped_with_the_group_recorded(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ExceptionGroup("eg", [LookupError("the app's own")])

    d = await run(app, "request", "uvicorn", backend)
    assert d.outcome == "exception"
    assert d.exception is not None
    assert (d.exception.type, d.exception.message, d.exception.wrapped_in) == (
        "LookupError",
        "the app's own",
        ["ExceptionGroup"],
    )
    assert "test_driver.py" in d.exception.where


async def test_checkpoint_waits_let_the_app_run_that_many_steps_first(backend):
    steps: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        for i in range(10):
            steps.append(i)
            await backend.checkpoint()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    d = await run(app, "request,wait:3,disconnect", "uvicorn", backend)
    assert d.outcome == "ok"
    assert d.conn.sent_after_disconnect == 2, "the disconnect arrived while the app was still stepping"


def short_body(wait_for_disconnect: bool) -> Any:
    """An app that declares 4 bytes and ends the body with none (what BaseHTTPMiddleware does when
    the inner response is cut off), optionally after seeing the disconnect."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if wait_for_disconnect:
            await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def test_hypercorn_raises_a_content_length_error_even_after_the_client_left(backend):
    d = await run(short_body(True), "request,disconnect", "hypercorn", backend)
    assert d.outcome == "exception"
    assert d.exception is not None and d.exception.message == "Too little data for declared Content-Length"


async def test_uvicorn_checks_content_length_only_while_the_client_is_connected(backend):
    gone = await run(short_body(True), "request,disconnect", "uvicorn", backend)
    assert gone.outcome == "ok" and gone.detail == "complete response"
    connected = await run(short_body(False), "request", "uvicorn", backend)
    assert connected.outcome == "exception"
    assert connected.exception is not None and "Content-Length" in connected.exception.message


async def test_too_much_body_is_refused_where_the_server_checks(backend):
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        await send({"type": "http.response.body", "body": b"toolong"})

    d = await run(app, "request", "hypercorn", backend)
    assert d.exception is not None and d.exception.message == "Too much data for declared Content-Length"
    assert (await run(app, "request", "gen-repeat", backend)).outcome == "ok"


async def test_old_hypercorn_does_not_tell_the_app_about_a_clean_close(backend):
    log: list[str] = []
    d = await run(reader(2, log), "request,disconnect", "hypercorn-0.14", backend)
    assert log == ["http.request"]  # the second receive() waits: the close never arrives
    assert d.outcome == "hang"
    log2: list[str] = []
    d2 = await run(reader(2, log2), "request,disconnect", "hypercorn", backend)
    assert log2 == ["http.request", "http.disconnect"] and d2.outcome == "ok"


async def test_granians_receive_answers_a_few_scheduling_points_late(backend):
    import anyio

    ticks: dict[str, int] = {}

    def app_for(name: str) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            count = 0

            async def ticker() -> None:
                nonlocal count
                while True:
                    count += 1
                    await anyio.lowlevel.checkpoint()

            await receive()  # the request
            await anyio.wait_all_tasks_blocked()  # the client has disconnected by now
            async with anyio.create_task_group() as tg:
                tg.start_soon(ticker)
                await anyio.lowlevel.checkpoint()
                before = count
                await receive()  # the disconnect, already there: at once, or late
                ticks[name] = count - before
                tg.cancel_scope.cancel()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return app

    await run(app_for("uvicorn"), "request,disconnect", "uvicorn", backend)
    late = get_profile("granian").for_run(seed=None, receive_delay=5)
    await drive(app_for("granian"), script=parse_script("request,disconnect"), profile=late, backend=backend)
    assert ticks["uvicorn"] == 0
    assert ticks["granian"] >= 5 - 1


def test_granians_delay_is_drawn_per_run_from_the_seed_and_replays():
    granian = get_profile("granian")
    assert granian.randomised and not get_profile("uvicorn").randomised
    drawn = [granian.for_run(seed).receive_delay for seed in range(2000)]
    assert drawn == [granian.for_run(seed).receive_delay for seed in range(2000)]  # replays
    support = {k for k, w in enumerate(granian.receive_delay_weights) if w > 0}
    assert set(drawn) == support
    late = sum(1 for k in drawn if k >= 7) / len(drawn)
    assert abs(late - sum(granian.receive_delay_weights[7:])) < 0.03
    assert granian.for_run(3, receive_delay=2).receive_delay == 2  # a forced delay wins
    assert get_profile("uvicorn").for_run(3) is get_profile("uvicorn")
