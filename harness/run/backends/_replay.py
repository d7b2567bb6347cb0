"""What a trio run must not inherit from the runs before it in the process, so a seed replays it.

A record names its seed so that ``--seed`` replays the run alone, and a batch of thousands is only
trustworthy if each run in it behaves as it would alone. Seeding trio's scheduler RNG before each
run was not enough. Measured with 3,000 fuzzed trio runs in one process on Starlette 0.20.4 (trio
0.21): run forward, reversed and forward again, 5-7 of them changed outcome (ok vs
``BrokenResourceError``, ok vs hang); after an asyncio batch, 6-15. Three causes, each removed here
or in ``TrioBackend.run_batch``:

1. **Memory addresses order the run queue** (the cause of every outcome change measured). Trio wakes
   tasks in the iteration order of sets of tasks (a cancel scope's tasks, a nursery's children) and
   breaks ties by ``id()`` (deadlines, ``wait_all_tasks_blocked`` waiters); both follow the
   addresses objects happen to get, which depend on every allocation before. The seeded coin then
   reverses a batch whose order was already arbitrary. Trio's own remedy, the switch Hypothesis
   flips for reproducible tests (``_ALLOW_DETERMINISTIC_SCHEDULING``), sorts each batch by task
   creation order before a seeded shuffle: ``deterministic_scheduling`` turns it on for the
   harness's runs only, with trio's native coin (as is or reversed) in place of the full shuffle
   (``NativeCoin``: the shuffle would run orders production trio never takes). Alone (measured
   with the shuffle) it took the 3,000 runs to 0 changed outcomes in either order (1 left in one
   of two tries after an asyncio batch); a fresh loop per run or the collector alone left 4-8.
2. **A run's leftovers land in the next run.** With one loop for the whole batch, an async
   generator a run abandoned (Starlette's ``body_stream``, a ``StreamingResponse`` body cut off by a
   disconnect) can be freed during the next run, and trio then schedules its ``aclose`` as a system
   task in that run: in 30 of 1,200 runs after an asyncio batch such a task ran in a different run
   than in forward order. The virtual clock also carried on from run to run (``now + 0.3`` and
   ``(now + 0.1) + 0.2`` tie at one ``now`` and not at another). Each run therefore gets a fresh
   ``trio.run`` with a fresh clock at 0, which closes what the run abandoned at its own end and
   leaves no task, deadline, waiter, instrument or hook behind: 0 such runs. It costs about 0.3 ms
   a run (0.45 -> 0.75 ms per fuzzed run on the newest release; the other two fixes cost nothing).
3. **The garbage collector's timing.** The cyclic collector runs when allocation counts carried
   over from earlier runs say so, and then frees objects (and runs their finalizers: an async
   generator's ``aclose``, a ``__del__``, a weakref callback) in the middle of whatever run is
   current: it ran inside 214 of 600 runs, and did something different in 316 of them depending
   on the order. ``QuietCollector`` collects before each run and keeps the collector off during it:
   no collection inside any run.

After all three, the 3,000 runs replay in every order, and 600 runs give the same records in three
processes with different ``PYTHONHASHSEED`` (no set of strings decides a schedule). Python's
``random`` module is not used by Starlette, anyio or trio at run time (only trio's private ``_r``,
which the seed fixes), and the harness's own draws use ``random.Random`` of a string seed.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Callable
from types import TracebackType
from typing import Any


class NativeCoin(random.Random):
    """Trio's own scheduling choice, made over the creation order.

    Under its deterministic switch trio sorts a batch of runnable tasks by creation and then
    *shuffles* it: every order of n tasks becomes possible, where trio as it runs in production only
    ever runs a batch as it stands or reversed (a coin per batch). A result found in an order trio
    never takes would be no finding. So the shuffle trio asks this generator for is trio's native
    coin: the batch, in creation order, as it stands or reversed. Replay independence comes from
    the creation order (no memory address decides anything); the space of schedules stays trio's:
    two per batch.
    """

    def shuffle(self, x: Any) -> None:  # type: ignore[override]
        if self.random() < 0.5:
            x.reverse()


def deterministic_scheduling() -> Callable[[], None]:
    """Turn on trio's creation-order scheduling, with ``NativeCoin`` as its random source (carrying
    the generator's state over); return what puts the previous switch and generator back."""
    from trio._core import _run

    switch, generator = bool(getattr(_run, "_ALLOW_DETERMINISTIC_SCHEDULING", False)), _run._r
    coin = NativeCoin()
    coin.setstate(generator.getstate())
    setattr(_run, "_r", coin)  # noqa: B010 - the seeding reseeds whatever _r is
    setattr(_run, "_ALLOW_DETERMINISTIC_SCHEDULING", True)  # noqa: B010 - Final in trio's stubs

    def restore() -> None:
        setattr(_run, "_ALLOW_DETERMINISTIC_SCHEDULING", switch)  # noqa: B010
        setattr(_run, "_r", generator)  # noqa: B010

    return restore


class QuietCollector:
    """The cyclic garbage collector held off during runs and run between them.

    A full collection of the harness's heap costs 20-50 ms, more than a run; so after each one the
    survivors are frozen (``gc.freeze``) and the next collection only looks at what the last run
    allocated, which makes it nearly free. Everything is unfrozen when the batch ends. A process
    that froze objects of its own (a forking server) keeps its freeze: then every collection is full.
    """

    def __enter__(self) -> QuietCollector:
        self._was_enabled = gc.isenabled()
        self._freeze = gc.get_freeze_count() == 0
        gc.disable()
        return self

    def between_runs(self) -> None:
        gc.collect()
        if self._freeze:
            gc.freeze()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._freeze:
            gc.unfreeze()
        if self._was_enabled:
            gc.enable()
