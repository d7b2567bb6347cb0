"""trio behind the backend interface: trio's own MockClock for virtual time (at real speed while a
thread or the app's I/O works), a seeded scheduler, and each run in a ``trio.run`` of its own so
that its seed replays it whatever ran before (``_replay``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from harness.run._outcome import exit_status
from harness.run.backends._base import AppResult, Backend, Bounded, Event, only_cancellations
from harness.run.backends._realwork import POLL_S, busy_threads
from harness.run.backends._replay import QuietCollector, deterministic_scheduling

T = TypeVar("T")


def seed_trio_scheduler(seed: int) -> None:
    """Make trio's scheduling reproducible.

    Trio reverses each batch of runnable tasks at random to shake out order dependencies; the random
    source is the private ``trio._core._run._r``. This is the only place the harness touches it.
    """
    from trio._core import _run

    _run._r.seed(seed)


class _HeldClock:
    """trio's MockClock, jumping when every task is blocked, except while there is real work
    (``_realwork``: a busy thread, or a task waiting on a descriptor of the app's own): then it runs
    at rate 1, so timers fire at their real time, and the run loop asks again every ``POLL_S``.

    MockClock cannot be subclassed, so the instance's autojump hook (what the run loop calls once
    every task is blocked) is wrapped. ``note_own_io()`` is called at the start of the run's main
    task: the descriptors waited on then are trio's own (its entry queue's wakeup socket).
    """

    def __init__(self) -> None:
        import trio.testing

        self.clock = trio.testing.MockClock(autojump_threshold=0)
        self._jump = self.clock._autojump
        self._own_io: int | None = None
        self._real = False
        self.clock._autojump = self._autojump

    async def note_own_io(self) -> None:
        import trio.lowlevel

        for _ in range(3):  # let the system tasks reach their waits (trio shuffles each batch)
            await trio.lowlevel.checkpoint()
        self._own_io = _waiting_io()

    def _autojump(self) -> None:
        waiting = _waiting_io()
        own = waiting if self._own_io is None else self._own_io
        real = waiting > own or busy_threads() > 0  # threads first: a finished one has handed back
        if _handed_back():
            return  # a thread's result waits in the entry queue: the loop runs it next round
        if real != self._real:
            self._real = real
            self.clock.rate = 1.0 if real else 0.0
            self.clock.autojump_threshold = POLL_S if real else 0
        if not real:
            self._jump()


def _waiting_io() -> int:
    import trio.lowlevel

    io = trio.lowlevel.current_statistics().io_statistics
    return int(getattr(io, "tasks_waiting_read", 0)) + int(getattr(io, "tasks_waiting_write", 0))


def _handed_back() -> bool:
    """Whether a thread has queued a callback for the loop (``run_sync_soon``), which the run loop
    will run on its next round: jumping now would fire a timeout before the result it races."""
    from trio._core import _run

    runner = getattr(_run.GLOBAL_RUN_CONTEXT, "runner", None)
    entry = getattr(runner, "entry_queue", None)
    return bool(getattr(entry, "queue", None) or getattr(entry, "idempotent_queue", None))


class TrioBackend(Backend):
    name = "trio"
    seeded = True
    needs_anyio = True
    requires = "trio"

    def run_batch(
        self,
        calls: Sequence[tuple[int | None, Callable[[], Awaitable[T]]]],
        *,
        virtual_time: bool,
        on_result: Callable[[T], None],
    ) -> None:
        """Every call in a ``trio.run`` of its own, scheduled in creation order (then, as trio does,
        as is or reversed: ``_replay.NativeCoin``) and with the garbage
        collector held off, so its outcome depends on its seed alone, not on the runs before it
        (``_replay`` says what each of these removes, as measured). An empty batch touches nothing:
        where trio is not installed, every trio job is not_applicable and none reaches here."""
        if not calls:
            return
        restore = deterministic_scheduling()
        try:
            with QuietCollector() as collector:
                for seed, call in calls:
                    collector.between_runs()
                    on_result(self._run_alone(seed, call, virtual_time=virtual_time))
        finally:
            restore()

    def _run_alone(self, seed: int | None, call: Callable[[], Awaitable[T]], *, virtual_time: bool) -> T:
        results: list[T] = []

        async def alone() -> None:
            await self.quiesce()  # as in a shared loop: trio's own tasks have reached their waits
            if seed is not None:
                self.seed(seed)
            results.append(await call())

        self._run_loop(alone, virtual_time=virtual_time)
        return results[0]

    def _run_loop(self, main: Callable[[], Awaitable[None]], *, virtual_time: bool) -> None:
        import trio
        import trio.testing

        if not virtual_time:
            trio.run(main)
            return
        held = _HeldClock()

        async def noting_own_io() -> None:
            await held.note_own_io()
            await main()

        trio.run(noting_own_io, clock=held.clock)

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
                if exit_status(e) is not None:
                    raise  # the app ends the process, as it would a server's: recorded from outside
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
                    if exit_status(e) is not None:
                        raise  # the app ends the process: recorded from outside (run._isolated)
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
