"""trio behind the backend interface: trio's own MockClock for virtual time (held while a thread
works), a seeded scheduler."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.run.backends._base import AppResult, Backend, Bounded, Event, only_cancellations
from harness.run.backends._realwork import POLL_S, settled_busy_threads


def seed_trio_scheduler(seed: int) -> None:
    """Make trio's scheduling reproducible.

    Trio reverses each batch of runnable tasks at random to shake out order dependencies; the random
    source is the private ``trio._core._run._r``. This is the only place the harness touches it.
    """
    from trio._core import _run

    _run._r.seed(seed)


def _held_clock() -> Any:
    """trio's MockClock (jumping when every task is blocked), except that it does not jump while real
    work goes on (``_realwork``): idle rounds then wait ``POLL_S`` of real time, woken early when a
    thread hands its result back. MockClock cannot be subclassed, so its instance's autojump hook
    (what the run loop calls once all tasks are blocked) is wrapped."""
    import trio.lowlevel
    import trio.testing

    clock = trio.testing.MockClock(autojump_threshold=0)
    jump = clock._autojump
    holding = False
    own_io: int | None = None

    def autojump() -> None:
        nonlocal holding, own_io
        io = trio.lowlevel.current_statistics().io_statistics
        waiting_io = getattr(io, "tasks_waiting_read", 0) + getattr(io, "tasks_waiting_write", 0)
        # trio's own entry queue waits on its wakeup socket: the fewest waiters ever seen are trio's.
        own_io = waiting_io if own_io is None else min(own_io, waiting_io)
        hold = waiting_io > own_io or settled_busy_threads(time.sleep) > 0
        if hold != holding:
            holding = hold
            clock.autojump_threshold = POLL_S if hold else 0
        if not hold:
            jump()

    clock._autojump = autojump
    return clock


class TrioBackend(Backend):
    name = "trio"
    seeded = True
    needs_anyio = True
    requires = "trio"

    def _run_loop(self, main: Callable[[], Awaitable[None]], *, virtual_time: bool) -> None:
        import trio
        import trio.testing

        clock = _held_clock() if virtual_time else None
        trio.run(main, clock=clock)

    def seed(self, seed: int) -> None:
        seed_trio_scheduler(seed)

    def is_cancellation(self, exc: BaseException) -> bool:
        import trio

        return isinstance(exc, trio.Cancelled)

    async def bounded(self, call: Callable[[], Awaitable[None]], seconds: float) -> Bounded:
        import trio

        exc: BaseException | None = None
        with trio.move_on_after(seconds) as scope:
            try:
                await call()
            except BaseException as e:
                exc = e
        if scope.cancel_called:
            return Bounded(None if exc is None or only_cancellations(exc, trio.Cancelled) else exc, True)
        return Bounded(exc, False)  # a trio.Cancelled here comes from outside: the caller decides

    async def checkpoint(self) -> None:
        import trio

        await trio.lowlevel.checkpoint()

    async def wait_all_tasks_blocked(self) -> None:
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()

    async def sleep(self, seconds: float) -> None:
        import trio

        await trio.sleep(seconds)

    def event(self) -> Event:
        import trio

        event: Event = trio.Event()
        return event

    async def supervise(
        self,
        app_call: Callable[[], Awaitable[None]],
        client_call: Callable[[], Awaitable[None]],
        timeout: float,
        real_timeout: float,
    ) -> AppResult:
        import trio

        exc: BaseException | None = None
        finished = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client_call)
            with trio.move_on_after(timeout) as scope:
                watchdog = _TrioWatchdog(time.monotonic() + real_timeout, scope)
                trio.lowlevel.add_instrument(watchdog)
                try:
                    await app_call()
                    finished = True
                except BaseException as e:
                    exc = e
                finally:
                    trio.lowlevel.remove_instrument(watchdog)
            nursery.cancel_scope.cancel()
        if scope.cancel_called and exc is not None and only_cancellations(exc, trio.Cancelled):
            exc = None  # our own timeout unwinding the app, not something the app raised
        return AppResult(finished=finished, exc=exc, timed_out=scope.cancel_called)


def _TrioWatchdog(deadline: float, scope: Any) -> Any:  # noqa: N802 - reads as a class at call sites
    """A trio instrument that cancels the run's scope once the wall-clock deadline has passed."""
    import trio

    # Subclassing an Any is an error where trio ships no types (before 0.23), and nothing where it does.
    class Watchdog(trio.abc.Instrument):  # type: ignore[misc, unused-ignore]
        steps = 0

        def before_task_step(self, task: Any) -> None:
            self.steps += 1
            if self.steps % 64 == 0 and time.monotonic() > deadline:
                scope.cancel()

    return Watchdog()
