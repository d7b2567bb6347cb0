"""The interface every event loop implements, so the driver never asks which loop it runs on.

The harness does not use anyio itself: Starlette 0.13-0.14 predates it, and anyio 3 and 4 differ in
exactly the places under test (exception groups, cancel scopes). Each backend offers the few
primitives the driver, the endpoints and the real-server recorder need, natively:

- ``checkpoint()``: one scheduling point, the unit in which scripts measure delays;
- ``wait_all_tasks_blocked()``: "after every task is blocked", the other unit;
- ``sleep(seconds)``: on a *virtual* clock, so a "slow" endpoint (``sleep(5)`` as in the PR test) costs
  no wall-clock time and a deadlock reaches the run's timeout at once instead of after seconds;
- ``supervise(...)``: run the app with a bounded timeout beside the client task;
- ``bounded(call, seconds)``: run a call in the current task, cancelled after ``seconds`` on the
  loop's own clock (what a server's app task and a probe need);
- ``is_cancellation(exc)``: whether an exception is this loop's cancellation, not the app's own.

Virtual time jumps only when every task is blocked on time alone, so the order of events is the one
a real clock would give; what changes is that idle waiting is free. While a worker thread runs (sync
endpoints, ``run_in_threadpool``, a thread of the app's own) or a task waits on real I/O, the clock
follows real time (``_realwork``), so user apps run on virtual time too; ``virtual_time=False`` is
the real clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")

#: How long a cancelled app may take to unwind before the run is abandoned (real seconds).
GRACE_S = 1.0


class Event(Protocol):
    """What ``Backend.event()`` returns: the loop's own event (asyncio's or trio's)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...

    async def wait(self) -> object: ...


@dataclass(frozen=True)
class Bounded:
    """How a bounded call ended: the exception it raised (None if it returned or was cut off by the
    bound itself) and whether the bound cut it off."""

    exc: BaseException | None
    timed_out: bool


@dataclass
class AppResult:
    """What happened to the app coroutine: finished, raised, or still running at the deadline."""

    finished: bool
    exc: BaseException | None
    timed_out: bool
    #: Tasks the app started and left running after it returned (old Starlette's bare asyncio
    #: tasks); the driver cancels them so they cannot leak into the next run.
    leaked_tasks: int = 0


class Backend:
    """One way of running the driver: a name, scheduling primitives and a ``run`` entry point."""

    name: str = ""
    virtual_time_capable: bool = True
    #: The scheduler makes random choices that a seed fixes (trio's): runs record their seed.
    seeded: bool = False
    #: Runs only on a Starlette built on anyio (0.15.0 and later).
    needs_anyio: bool = False
    #: The module that must be installed for this backend, when it is not the standard library's.
    requires: str | None = None

    def run_batch(
        self,
        calls: Sequence[tuple[int | None, Callable[[], Awaitable[T]]]],
        *,
        virtual_time: bool,
        on_result: Callable[[T], None],
    ) -> None:
        """Run many calls one after another in one event loop, reporting each result.

        Before each call the loop is brought to rest (every task blocked) and, on trio, the scheduler
        is seeded, so a call behaves the same in a batch of thousands as alone: a repro command runs
        a batch of one. A call whose app cannot be cancelled poisons the loop, and the rest of the
        batch continues in a fresh one. (trio overrides this: a fresh loop for every call, since one
        loop's history changes what a trio run does; see ``_replay``.)
        """
        done = 0
        while done < len(calls):
            self.poisoned = False

            async def batch() -> None:
                nonlocal done
                while done < len(calls) and not self.poisoned:
                    if not await self.quiesce():
                        self.poisoned = True  # something keeps running: go on in a fresh loop
                        break
                    seed, call = calls[done]
                    if seed is not None:
                        self.seed(seed)
                    result = await call()
                    done += 1
                    on_result(result)

            self._run_loop(batch, virtual_time=virtual_time)

    def _run_loop(self, main: Callable[[], Awaitable[None]], *, virtual_time: bool) -> None:
        raise NotImplementedError

    def seed(self, seed: int) -> None:
        """Seed the scheduler's random choices (only trio has any)."""

    async def quiesce(self) -> bool:
        """Wait until every task is blocked; False if the loop never comes to rest."""
        await self.wait_all_tasks_blocked()
        return True

    poisoned: bool = False

    def drain_loop_errors(self) -> list[str]:
        """Errors the event loop logged since the last call (asyncio's "Task exception was never
        retrieved" from old Starlette's bare tasks), kept as observations instead of stderr noise."""
        return []

    async def checkpoint(self) -> None:
        raise NotImplementedError

    async def wait_all_tasks_blocked(self) -> None:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def event(self) -> Event:
        """An event with ``set()``, ``is_set()`` and ``await wait()``."""
        raise NotImplementedError

    async def supervise(
        self,
        app_call: Callable[[], Awaitable[None]],
        client_call: Callable[[], Awaitable[None]],
        timeout: float,
        real_timeout: float,
    ) -> AppResult:
        """Run the app beside the client; stop it at ``timeout`` on the run's clock (virtual or
        real) or at ``real_timeout`` wall-clock seconds, whichever comes first (a livelock never lets
        virtual time advance, so the wall clock is the backstop)."""
        raise NotImplementedError

    def is_cancellation(self, exc: BaseException) -> bool:
        """Whether ``exc`` is this loop's cancellation (an app unwinding), not an error of its own."""
        raise NotImplementedError

    async def bounded(self, call: Callable[[], Awaitable[None]], seconds: float) -> Bounded:
        """Run ``call`` in the current task, cancelled after ``seconds`` on this loop's clock."""
        raise NotImplementedError


def only_cancellations(exc: BaseException, cancelled: type[BaseException]) -> bool:
    """Every leaf of ``exc`` (a group or a single exception) is a ``cancelled``."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)) and inner:
        return all(only_cancellations(e, cancelled) for e in inner)
    return isinstance(exc, cancelled)
