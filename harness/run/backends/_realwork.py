"""Whether the process is waiting on something real, so a virtual clock must follow real time.

Virtual time makes idle waiting free: when every task is blocked, the clock jumps to the next timer.
That is only honest while the tasks wait on time alone. A task may instead wait for a worker thread
(a sync endpoint, ``run_in_threadpool``, ``anyio.to_thread``), for a thread of the app's own (a
client library's I/O thread, a metrics flusher) or for real I/O (a socket, a subprocess pipe).
Jumping then would fire timeouts that a real clock would not reach; freezing the clock instead
would starve every timer beside the real work. So both loops ask ``busy_threads()`` (and look for
descriptors of the app's own) before they jump, and while there is real work the virtual clock
runs at the speed of the real one: a timer fires at its real time, neither early nor never.

A thread counts as idle only when it is a pool worker waiting for its next job with no job queued
for it (the standard library's ``queue.Queue.get``, ``concurrent.futures``' worker, trio's thread
cache); every other thread, in a selector, a lock, a sleep or running code, is real work. That is
conservative: an app with a thread of its own runs at real speed, which is slow but never wrong.

The order of the checks matters. A worker hands its result back (asyncio's self-pipe, trio's entry
queue) *before* it goes back to waiting, so a loop that first finds every thread idle and only then
looks for ready events never misses a result that finished in between.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType

#: Real seconds a loop waits per poll while real work goes on (a finished thread wakes it sooner).
POLL_S = 0.005


def busy_threads() -> int:
    """Threads other than this one that are doing, or have been handed, real work."""
    me = threading.get_ident()
    return sum(1 for ident, frame in sys._current_frames().items() if ident != me and not _waits_for_work(frame))


def _file(frame: FrameType) -> str:
    return frame.f_code.co_filename.replace("\\", "/")


def _waits_for_work(innermost: FrameType) -> bool:
    """Whether this thread is a pool worker blocked on an empty job queue.

    Each pool is recognised by the frame that waits and what it holds: a ``queue.Queue`` job stays
    unfinished until the worker has handed its result back (anyio calls ``task_done``), and trio's
    thread cache clears ``_job`` only inside the job's own frame, so neither looks idle while it
    has work. ``concurrent.futures`` (Starlette 0.13's ``run_in_executor``) keeps a gap of a few
    bytecodes between taking a job and binding ``work_item``, in which a worker can look idle.
    """
    frame: FrameType | None = innermost
    while frame is not None and _file(frame).endswith("/threading.py"):  # Condition.wait, Lock
        frame = frame.f_back
    if frame is None:
        return False
    file, name, local = _file(frame), frame.f_code.co_name, frame.f_locals
    if file.endswith("/queue.py") and name == "get":  # anyio's workers, and anyone's queue consumer
        # A job taken but not yet bound to ``item`` is still unfinished (anyio calls task_done
        # when it has handed the result back); a get with a timeout is a timed sleep, real work.
        queue = local.get("self")
        waiting = "item" not in local and local.get("block", True) and local.get("timeout") is None
        empty = len(getattr(queue, "queue", (None,))) == 0 and getattr(queue, "unfinished_tasks", 1) == 0
        return bool(waiting) and empty
    if file.endswith("/concurrent/futures/thread.py") and name == "_worker":  # run_in_executor
        jobs = local.get("work_queue")
        return "work_item" not in local and jobs is not None and bool(jobs.empty())
    if file.endswith("/trio/_core/_thread_cache.py") and name == "_work":  # trio.to_thread
        return getattr(local.get("self"), "_job", True) is None
    return False
