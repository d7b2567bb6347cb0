"""Virtual time for any app: sleeping costs nothing, but a worker thread, a thread of the app's own
or real I/O takes its real time, and the virtual clock runs at real speed meanwhile, so no timeout
fires early and no timer beside the real work starves (``backends._realwork``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.run import RunConfig, run_one
from harness.scenario import AppSpec, Scenario

BACKENDS = ["asyncio", "trio"]


def run(app: Any, *, backend: str, timeout: float = 60.0) -> tuple[Any, float]:
    spec = AppSpec(f"<test app {id(app):#x}>", instance=app)
    scenario = Scenario("app[test]", "test", "test", "app", "app", "request", app=spec)
    started = time.perf_counter()
    record = run_one(scenario, backend=backend, profile="uvicorn", config=RunConfig(timeout=timeout))
    return record, time.perf_counter() - started


@contextlib.contextmanager
def a_byte_arrives_after(seconds: float) -> Iterator[socket.socket]:
    """A non-blocking socket that a timer thread writes one byte to after ``seconds`` of real time."""
    a, b = socket.socketpair()
    a.setblocking(False)
    timer = threading.Timer(seconds, lambda: b.send(b"x"))
    timer.start()
    try:
        yield a
    finally:
        timer.join()
        a.close()
        b.close()


def answering(work: Any, seen: dict[str, float]) -> Any:
    """An app that awaits ``work()``, noting the virtual clock around it, then answers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        import anyio

        await receive()
        before = anyio.current_time()
        await work()
        seen["virtual"] = anyio.current_time() - before
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    return app


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_long_sleep_costs_no_real_time(backend):
    import anyio

    seen: dict[str, float] = {}
    record, real = run(answering(lambda: anyio.sleep(30), seen), backend=backend)
    assert record.outcome == "ok" and record.response == "complete"
    assert seen["virtual"] >= 30 and real < 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_thread_takes_its_real_time_and_no_timeout_fires_meanwhile(backend):
    import anyio

    seen: dict[str, float] = {}
    # The run's timeout is 1 virtual second; the thread works for 0.4 real seconds. Were the clock
    # to jump while the loop waits for the thread, the run would be a hang at once.
    work = lambda: anyio.to_thread.run_sync(time.sleep, 0.4)  # noqa: E731
    record, real = run(answering(work, seen), backend=backend, timeout=1.0)
    assert record.outcome == "ok", record.detail
    assert real >= 0.4
    assert 0.4 <= seen["virtual"] < 1.0, "the clock ran at real speed while the thread worked"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sleep_beside_a_working_thread_waits_for_real(backend):
    import anyio

    async def both() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, time.sleep, 0.3)
            await anyio.sleep(0.1)

    seen: dict[str, float] = {}
    record, real = run(answering(both, seen), backend=backend, timeout=5.0)
    assert record.outcome == "ok", record.detail
    assert real >= 0.3


def test_real_io_holds_the_clock_until_the_bytes_arrive():
    seen: dict[str, float] = {}
    with a_byte_arrives_after(0.3) as sock:

        async def recv() -> None:
            import asyncio

            await asyncio.get_running_loop().sock_recv(sock, 10)

        record, real = run(answering(recv, seen), backend="asyncio", timeout=1.0)
    assert record.outcome == "ok", record.detail
    assert real >= 0.3 and seen["virtual"] < 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_io_on_either_loop_is_waited_for_even_when_it_is_awaited_first(backend):
    # The app's socket is waited on from the run's first idle moment: that wait is not the loop's own.
    import anyio

    wait_readable = getattr(anyio, "wait_readable", None) or anyio.wait_socket_readable
    with a_byte_arrives_after(0.3) as sock:
        record, real = run(answering(lambda: wait_readable(sock), {}), backend=backend, timeout=1.0)
    assert record.outcome == "ok", record.detail
    assert real >= 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_quick_thread_never_races_the_jump_to_the_timeout(backend):
    # A thread that finishes at once hands its result back while the loop decides whether to jump;
    # deciding on an idle thread before looking at the result would jump to the 60 s timeout: a hang.
    import anyio

    work = lambda: anyio.to_thread.run_sync(lambda: None)  # noqa: E731
    outcomes = [run(answering(work, {}), backend=backend, timeout=60.0)[0].outcome for _ in range(150)]
    assert outcomes.count("ok") == len(outcomes), {o: outcomes.count(o) for o in set(outcomes)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sync_starlette_endpoint_is_ok_on_virtual_time(backend):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def endpoint(request: Any) -> PlainTextResponse:  # a sync endpoint: Starlette's thread pool
        time.sleep(0.01)
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/", endpoint)])
    outcomes = [run(app, backend=backend, timeout=60.0)[0].outcome for _ in range(30)]
    assert outcomes.count("ok") == len(outcomes), {o: outcomes.count(o) for o in set(outcomes)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_timer_beside_a_thread_of_the_apps_own_fires_at_its_real_time(backend):
    # A background thread that never ends (a metrics flusher): the clock may neither jump past it
    # nor freeze, or the endpoint's own sleep would never end and the run would be a hang.
    import anyio

    stop = threading.Event()
    flusher = threading.Thread(target=lambda: [time.sleep(0.01) for _ in iter(stop.is_set, True)], daemon=True)
    flusher.start()
    seen: dict[str, float] = {}
    try:
        record, real = run(answering(lambda: anyio.sleep(0.2), seen), backend=backend, timeout=5.0)
    finally:
        stop.set()
        flusher.join()
    assert record.outcome == "ok", record.detail
    assert 0.2 <= real < 2 and seen["virtual"] >= 0.2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_thread_waiting_in_a_selector_is_real_work(backend):
    # A client library's I/O thread waits in select() for a reply that comes in 0.3 s; the app
    # polls for it with short sleeps. Counting the waiting thread as idle would let the polls race
    # through 60 virtual seconds at once.
    import selectors as sel

    import anyio

    got: list[bytes] = []

    async def poll() -> None:
        while not got:
            await anyio.sleep(0.05)

    with a_byte_arrives_after(0.3) as sock:

        def io_thread() -> None:
            with sel.DefaultSelector() as selector:
                selector.register(sock, sel.EVENT_READ)
                selector.select(5)
                got.append(sock.recv(10))

        thread = threading.Thread(target=io_thread, daemon=True)
        thread.start()
        record, real = run(answering(poll, {}), backend=backend, timeout=2.0)
        thread.join()
    assert record.outcome == "ok", record.detail
    assert real >= 0.3


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_app_that_never_returns_is_still_a_hang_at_its_virtual_timeout(backend):
    import anyio

    record, real = run(answering(anyio.sleep_forever, {}), backend=backend, timeout=60.0)
    assert record.outcome == "hang" and real < 2


def test_a_deterministic_cell_settles_after_two_agreeing_runs_and_a_seeded_one_keeps_every_repeat():
    from harness.run import plan, run_settled

    calls = {"n": 0}

    async def alternating(scope: Any, receive: Any, send: Any) -> None:
        calls["n"] += 1
        await receive()
        if calls["n"] % 2 == 0:
            raise RuntimeError("every second call fails")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def steady(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def scenario(name: str, app: Any) -> Scenario:
        return Scenario(name, "t", "t", "app", "app", "request", app=AppSpec(name, instance=app))

    jobs = plan([scenario("steady", steady)], backends=["asyncio", "trio"], profiles=["uvicorn"], repeats=5)
    jobs += plan([scenario("alternating", alternating)], backends=["asyncio"], profiles=["uvicorn"], repeats=5)
    records = run_settled(jobs, settle=2)
    count = {(r.scenario, r.backend): 0 for r in records}
    for r in records:
        count[(r.scenario, r.backend)] += 1
    assert count == {("steady", "asyncio"): 2, ("steady", "trio"): 5, ("alternating", "asyncio"): 5}
