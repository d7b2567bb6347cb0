"""asyncio (and uvloop) behind the backend interface, with a virtual clock for asyncio's own loop."""

from __future__ import annotations

import asyncio
import gc
import selectors
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.run._outcome import exit_status
from harness.run.backends._base import GRACE_S, AppResult, Backend, Bounded
from harness.run.backends._realwork import POLL_S, busy_threads


class _VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0


class _JumpingSelector(selectors.BaseSelector):
    """A selector that, when nothing is ready, advances the virtual clock instead of waiting.

    asyncio's loop asks the selector to wait exactly until the next timer; answering "nothing
    happened" after moving the clock to that timer makes the loop fire it straight away. Real I/O
    is still polled, and while a thread works or the app has descriptors of its own, the loop
    waits for real and the clock follows real time (``_realwork``).
    """

    def __init__(self, clock: _VirtualClock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock
        #: (monotonic deadline, callback): the real-time backstop, checked on every loop iteration.
        self.watchdog: tuple[float, Callable[[], None]] | None = None
        #: The loop's own descriptors (its self-pipe), which are never real work.
        self.own_fds: set[int] = set()
        #: (monotonic, virtual) when real work began: the clock then moves with the real one.
        self._real_since: tuple[float, float] | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self.watchdog is not None and time.monotonic() > self.watchdog[0]:
            callback, self.watchdog = self.watchdog[1], None
            callback()
            return []
        real = self._real_work()  # before polling: a thread that finished since has already written
        ready = self._inner.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if real:
            # A thread works or the app waits on real I/O: the clock runs at real speed meanwhile.
            if self._real_since is None:
                self._real_since = (time.monotonic(), self._clock.now)
            ready = self._inner.select(POLL_S if timeout is None else min(timeout, POLL_S))
            self._clock.now = self._real_since[1] + time.monotonic() - self._real_since[0]
            return ready
        self._real_since = None
        if timeout is None:
            return ready
        self._clock.now += timeout
        return []

    def _real_work(self) -> bool:
        """A busy thread, or a file descriptor the app registered (a socket, a pipe): waiting on it
        is real waiting (``_realwork``). The loop's own self-pipe does not count."""
        if any(key.fd not in self.own_fds for key in self._inner.get_map().values()):
            return True
        return busy_threads() > 0

    def close(self) -> None:
        self._inner.close()

    def get_map(self) -> Any:
        return self._inner.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._vclock = _VirtualClock()
        selector = _JumpingSelector(self._vclock)
        super().__init__(selector)
        selector.own_fds = {key.fd for key in selector.get_map().values()}

    def time(self) -> float:
        return self._vclock.now


class AsyncioBackend(Backend):
    name = "asyncio"

    def __init__(self) -> None:
        self._loop_errors: list[str] = []

    def _new_loop(self, virtual_time: bool) -> asyncio.AbstractEventLoop:
        return VirtualTimeLoop() if virtual_time else asyncio.new_event_loop()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        self._loop_errors.append(f"{context.get('message', 'error')}{detail}")

    def drain_loop_errors(self) -> list[str]:
        errors, self._loop_errors = self._loop_errors, []
        return errors

    def _run_loop(self, main: Callable[[], Awaitable[None]], *, virtual_time: bool) -> None:
        loop = self._new_loop(virtual_time and self.virtual_time_capable)
        loop.set_exception_handler(self._on_loop_error)
        try:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(main())
        finally:
            _close_asyncio_loop(loop)
            gc.collect()  # tasks old Starlette never awaited report their exceptions when freed
            late = self.drain_loop_errors()
            if late:
                print(
                    f"harness: {len(late)} asyncio error(s) logged after their runs ended, e.g. {late[0]}",
                    file=sys.stderr,
                )

    def is_cancellation(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncio.CancelledError)

    async def bounded(self, call: Callable[[], Awaitable[None]], seconds: float) -> Bounded:
        task = asyncio.current_task()
        assert task is not None
        fired: list[bool] = []

        def fire() -> None:
            fired.append(True)
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        try:
            await call()
        except asyncio.CancelledError as e:
            if not fired:
                return Bounded(e, False)  # cancelled from outside (the server): the caller decides
            if sys.version_info >= (3, 11):
                task.uncancel()
            return Bounded(None, True)
        except BaseException as e:
            if exit_status(e) is not None:
                raise  # the app ends the process, as it would a server's: recorded from outside
            return Bounded(e, False)
        finally:
            handle.cancel()
        if fired and sys.version_info >= (3, 11):
            task.uncancel()  # fired as the call returned: the cancel is still pending, take it back
        return Bounded(None, False)

    async def checkpoint(self) -> None:
        await asyncio.sleep(0)

    async def wait_all_tasks_blocked(self) -> None:
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        if ready is None:  # uvloop keeps its ready queue private: approximate with many yields
            for _ in range(64):
                await asyncio.sleep(0)
            return
        # After our own sleep(0) we are at the back of the ready queue; when we run again with the
        # queue empty, every other task is waiting on something that is not a plain reschedule.
        while True:
            await asyncio.sleep(0)
            if not ready:
                return

    async def quiesce(self) -> bool:
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        for _ in range(10_000):
            await asyncio.sleep(0)
            if not ready:
                return True
        return ready is None

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def event(self) -> asyncio.Event:
        return asyncio.Event()

    async def supervise(
        self,
        app_call: Callable[[], Awaitable[None]],
        client_call: Callable[[], Awaitable[None]],
        timeout: float,
        real_timeout: float,
    ) -> AppResult:
        loop = asyncio.get_running_loop()
        before = asyncio.all_tasks(loop)
        client = asyncio.ensure_future(client_call())
        task = asyncio.ensure_future(app_call())
        selector = getattr(loop, "_selector", None)
        fired: list[bool] = []

        def backstop() -> None:
            fired.append(True)
            task.cancel()

        if isinstance(selector, _JumpingSelector):
            selector.watchdog = (time.monotonic() + real_timeout, backstop)
        else:
            timeout = min(timeout, real_timeout)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if isinstance(selector, _JumpingSelector):
            selector.watchdog = None
        timed_out = not done or bool(fired)
        if timed_out:
            task.cancel()
            await _wait_real(task, GRACE_S)
        client.cancel()
        await _wait_real(client, GRACE_S)
        leaked = [t for t in asyncio.all_tasks(loop) - before if not t.done() and t is not client and t is not task]
        for t in leaked:
            t.cancel()
        for t in leaked:
            await _wait_real(t, GRACE_S)
        if any(not t.done() for t in leaked):
            self.poisoned = True
        _raise_if_failed(client)
        if not task.done():
            self.poisoned = True
            return AppResult(finished=False, exc=None, timed_out=True, leaked_tasks=len(leaked))
        if task.cancelled():
            exc: BaseException | None = None if timed_out else asyncio.CancelledError()
        else:
            exc = task.exception()
        return AppResult(finished=not timed_out, exc=exc, timed_out=timed_out, leaked_tasks=len(leaked))


def _raise_if_failed(client: asyncio.Future[Any]) -> None:
    """The client is the harness's own script: its failure is a harness bug, never the app's
    verdict, so it leaves the run, as it does on trio (whose nursery raises it)."""
    failed = None if client.cancelled() or not client.done() else client.exception()
    if failed is not None:
        raise failed


async def _wait_real(task: asyncio.Future[Any], seconds: float) -> None:
    # Under virtual time a timeout would elapse instantly; count scheduling rounds as well so a task
    # that needs a few iterations to unwind gets them.
    for _ in range(1000):
        if task.done():
            return
        await asyncio.sleep(0)
    await asyncio.wait({task}, timeout=seconds)


def _close_asyncio_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=GRACE_S))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class UvloopBackend(AsyncioBackend):
    """asyncio on uvloop: real time only (uvloop's clock cannot be replaced)."""

    name = "asyncio+uvloop"
    requires = "uvloop"
    virtual_time_capable = False

    def _new_loop(self, virtual_time: bool) -> asyncio.AbstractEventLoop:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop
