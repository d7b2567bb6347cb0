"""Whether the process is waiting on something real, so a virtual clock must hold still.

Virtual time makes idle waiting free: when every task is blocked, the clock jumps to the next timer.
That is only honest while the tasks wait on time alone. A task may instead wait for a worker thread
(a sync endpoint, ``run_in_threadpool``, ``anyio.to_thread``) or for real I/O (a socket, a
subprocess pipe): jumping then would fire timeouts that a real clock would not reach. Both loops ask
``real_work()`` before they jump and, while it is true, let real time pass instead (polling briefly,
woken early when the thread or the I/O hands its result back).

A thread counts as working unless it sits in the standard library's (or trio's thread cache's)
wait for new work: an idle worker of a pool is not a reason to hold the clock.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

#: Where an idle pool thread waits for its next job (the innermost Python frame's file).
_IDLE_WAITS = (
    "/threading.py",
    "/queue.py",
    "/concurrent/futures/thread.py",
    "/selectors.py",
    "/trio/_core/_thread_cache.py",
)

#: Real seconds a loop waits per poll while real work goes on (a finished thread wakes it sooner).
POLL_S = 0.005


def settled_busy_threads(wait: Callable[[float], object]) -> int:
    """``busy_threads()``, asked twice when other threads exist: work just handed to a pool is
    still in its queue for a moment (the worker looks idle), so ``wait(POLL_S)`` lets it start."""
    busy = busy_threads()
    if busy or threading.active_count() <= 1:
        return busy
    wait(POLL_S)
    return busy_threads()


def busy_threads() -> int:
    """Threads other than this one that are running code rather than waiting for work."""
    me = threading.get_ident()
    count = 0
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        if not frame.f_code.co_filename.replace("\\", "/").endswith(_IDLE_WAITS):
            count += 1
    return count
