"""Runs bounded from outside their event loop: a supervisor process and a worker it can replace.

An event loop's own timer cannot end a run whose app blocks the loop (``time.sleep`` in an async
endpoint, a busy loop, a C call that never returns), and nothing inside a process survives an app
that ends it (``sys.exit`` inside the ASGI call, ``os._exit``, a fatal signal). So ``harness run``
is two processes. The *worker* imports the app, plans the runs and plays them, appending each
record to the results file as it finishes (memory stays flat for any repeat count) and telling the
supervisor, on a pipe, which run it is starting. The *supervisor* only watches: a run that does not
finish within its real-time bound, or a worker that dies, becomes that run's record (``hang`` with
where every thread was, from ``faulthandler``; ``exited`` with the status), and a fresh worker
takes over where the last one stopped. A run that ended its worker is tried once more at the start
of a fresh worker (so what ran before it in the process cannot be the cause); if the fresh one ends
too, the record says so, else the fresh run's record stands and keeps the first attempt beside it.

The supervisor imports nothing of the app and no event loop: it cannot be taken down by either.

Events, one JSON object per line, worker to supervisor::

    {"event": "ready", "runs": N}             the app imported, N runs planned (after a resume: left)
    {"event": "start", "base": {...}}         a run begins; ``base`` is its record's known fields
    {"event": "exit", "code": 5}              the app raised SystemExit (sent just before dying)
    {"event": "refused", "code": 2}           bad input met while running (the worker printed it)
    {"event": "fault"}                        a bug of the harness itself (its traceback follows)
    {"event": "done", "threads": [...]}       every run recorded; threads the app left running
"""

from __future__ import annotations

import functools
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from harness.errors import AppImportError, HarnessError, Unavailable
from harness.run._outcome import EXITED, HANG, Outcome, RunRecord, exit_status

#: Real seconds a run may take beyond its in-loop backstop before the supervisor calls it blocked:
#: the loop's own bound, its cancellation and the driver's cleanup all fit in it.
WATCHDOG_GRACE = 5.0

#: Real seconds the worker gets to end once it said it is done (threads it joins on the way out).
EXIT_GRACE = 3.0

#: Real seconds the worker gets to write its thread dumps after SIGUSR1, before SIGKILL.
DUMP_GRACE = 1.0
#: Dumps asked for, this far apart: one dump can catch a loop between two steps of the app.
DUMPS, DUMP_GAP = 3, 0.1
#: How often the supervisor looks whether a silent worker is still alive.
POLL = 0.25


# --- the worker's side --------------------------------------------------------------------------


class Channel:
    """The worker's line to its supervisor. A write to a supervisor that is gone raises
    BrokenPipeError, which ends the worker: an orphan has nobody to report to."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)  # a process the app starts must not hold the supervisor's end of file
        self._file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)

    def send(self, event: str, **fields: Any) -> None:
        self._file.write(json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n")
        self._file.flush()


def become_worker(supervisor_pid: int, dump: Path) -> None:
    """Arm what lets the supervisor see inside and outlive this process: on SIGUSR1 every thread's
    stack is written to ``dump`` (by faulthandler's C handler, which runs while Python code is
    blocked); on Linux the kernel kills this process when the supervisor dies."""
    import faulthandler

    dump_file = dump.open("w", encoding="utf-8")
    faulthandler.register(signal.SIGUSR1, file=dump_file, all_threads=True)
    _die_with_parent()
    if os.getppid() != supervisor_pid:
        os._exit(1)  # the supervisor died before the guard was armed: nobody wants these runs


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere an orphaned worker ends at its next event, on the broken pipe
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (ImportError, OSError, AttributeError):
        pass


@contextmanager
def reporting_exits(channel: Channel) -> Iterator[None]:
    """An app's SystemExit is reported, then ends the worker with its status (what a server process
    would do); the supervisor records it and goes on in a fresh worker. Bad input met on the way
    (a HarnessError) is reported as such, so its exit status is not taken for the app's."""
    try:
        yield
    except HarnessError as e:
        channel.send("refused", code=3 if isinstance(e, Unavailable) else 2)
        raise
    except BaseException as e:
        code = exit_status(e)
        if isinstance(e, KeyboardInterrupt):
            raise
        if code is None:
            channel.send("fault")  # not the app's doing: nothing to record, nothing to retry
            raise
        if isinstance(e, SystemExit) and isinstance(e.code, str):
            print(e.code, file=sys.stderr)  # what sys.exit("...") would have printed
        channel.send("exit", code=code)
        _hard_exit(code)


def lingering_threads(before: Sequence[Any]) -> list[Any]:
    """Threads that would keep the process alive at exit, started by the app (not before it ran,
    not a thread pool's worker, which interpreter shutdown ends)."""
    import threading

    try:
        from concurrent.futures.thread import _threads_queues as pool_threads
    except ImportError:  # pragma: no cover - a private name; without it every thread counts
        pool_threads = {}
    return [
        t
        for t in threading.enumerate()
        if t.is_alive() and not t.daemon and t is not threading.main_thread() and t not in before
        if t not in pool_threads
    ]


def _hard_exit(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- the supervisor's side ----------------------------------------------------------------------


@dataclass
class Supervised:
    """What the supervisor saw, for the caller to report."""

    #: The worker's exit status when it ended before being ready (bad input: it printed why).
    refused: int | None = None
    #: Runs recorded by the supervisor because they ended or blocked their worker.
    taken_over: list[dict[str, Any]] = field(default_factory=list)
    workers: int = 0
    #: Threads the app left running, which the supervisor ended with the last worker.
    threads_left: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bounds:
    #: Real seconds for one run, from its start event to the next event.
    run: float
    #: Real seconds for the worker to import the app and plan its runs.
    start: float


class _Watch:
    """One worker process and the events it sends, read with a deadline."""

    def __init__(self, command: list[str], read_fd: int, write_fd: int) -> None:
        self.proc = subprocess.Popen(command, pass_fds=(write_fd,), stdin=subprocess.DEVNULL)
        os.close(write_fd)
        self._fd = read_fd
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(read_fd, selectors.EVENT_READ)
        self.eof = False

    def events(self, deadline: Callable[[], float]) -> Iterator[dict[str, Any] | None]:
        """Events as they come; None when ``deadline()`` (a monotonic time) passes first."""
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # not ours (nothing else writes here): ignore rather than guess
            if self.eof:
                return
            wait = deadline() - time.monotonic()
            if wait <= 0:
                yield None
                return
            if not self._selector.select(min(wait, POLL)):
                if self.proc.poll() is not None and not self._selector.select(0):
                    self.eof = True  # it ended, though something it started may hold the pipe open
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                self.eof = True
            self._buffer += chunk

    def kill(self) -> None:
        _signal(self.proc, signal.SIGKILL)
        self.proc.wait()

    def stop(self, dump: bool) -> int:
        """End the worker (asking for its thread dump first when ``dump``); its exit status."""
        for _ in range(DUMPS if dump else 0):
            _signal(self.proc, signal.SIGUSR1)
            time.sleep(DUMP_GAP)
        try:  # after an end of file the worker is on its way out: let it finish exiting
            self.proc.wait(DUMP_GRACE if dump else EXIT_GRACE)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.poll() is None:
            _signal(self.proc, signal.SIGKILL)
        code = self.proc.wait()
        self._selector.close()
        os.close(self._fd)
        return code


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


@dataclass
class _Ending:
    """How one worker ended, as its events and exit status tell."""

    ready: bool = False
    done: bool = False
    #: The status of the app's SystemExit, when the worker reported one before dying.
    exit_code: int | None = None
    #: The known fields of the run it was playing (the last start event), or None.
    current: dict[str, Any] | None = None
    started: int = 0
    threads: list[str] = field(default_factory=list)
    timed_out: bool = False
    status: int = 0
    #: The harness's own exit status for bad input the worker met mid-way (it printed the line).
    refused: int | None = None
    #: The worker failed in the harness's own code (it printed the traceback).
    fault: bool = False


def _watch(watch: _Watch, bounds: Bounds) -> _Ending:
    """Follow one worker's events until it ends or stops making progress within its bound."""
    end = _Ending()
    limit = [time.monotonic() + bounds.start]
    for event in watch.events(lambda: limit[0]):
        if event is None:
            break
        kind = event.get("event")
        if kind == "ready":
            end.ready = True
        elif kind == "start":
            end.current, end.started = event.get("base"), end.started + 1
        elif kind == "exit":
            end.exit_code = int(event.get("code", 1))
        elif kind == "refused":
            end.refused = int(event.get("code", 2))
        elif kind == "fault":
            end.fault = True
        elif kind == "done":
            end.done, end.threads = True, list(event.get("threads", ()))
            limit[0] = time.monotonic() + EXIT_GRACE
            continue
        limit[0] = time.monotonic() + bounds.run
    end.timed_out = not watch.eof
    end.status = watch.stop(dump=end.timed_out and not end.done)
    return end


def _one_worker(command: Callable[..., list[str]], bounds: Bounds) -> _Ending:
    read_fd, write_fd = os.pipe()
    watch = _Watch(command(write_fd), read_fd, write_fd)
    try:
        return _watch(watch, bounds)
    except BaseException:  # Ctrl-C, SIGTERM: the worker goes too, now
        watch.kill()
        raise


def _refused(end: _Ending, bounds: Bounds, dump: Path) -> int:
    """A worker that ended before it was ready: the app did not import (an error to show), or the
    input was bad (the worker printed why: its status is the answer)."""
    if end.refused is not None:
        return end.refused
    if end.timed_out:
        raise AppImportError(_start_blocked(bounds.start, dump))
    if end.exit_code is not None:
        raise AppImportError(f"importing the app ended the process: SystemExit({end.exit_code})")
    if end.status in (2, 3):
        return end.status
    raise AppImportError(f"importing the app ended the process ({_status_text(end.status)})")


class Incomplete(Exception):
    """The selection could not be finished: the worker failed in the harness's own code (its
    traceback is above), kept dying between runs, or a fresh one could not start. The runs
    recorded so far stay; the caller says what is missing and exits non-zero."""


def supervise(
    worker_command: Callable[..., list[str]],
    results: Path,
    dump: Path,
    bounds: Bounds,
    append: Callable[[dict[str, Any]], None],
) -> Supervised:
    """Run workers until every run is recorded in ``results``.

    ``worker_command(write_fd, resume=, first_attempt=)`` is the worker's command line: it writes
    events to ``write_fd``, skips the first ``resume`` runs (recorded already) and attaches
    ``first_attempt`` to the record of the first run it plays. ``append`` adds a record the
    supervisor made to ``results``. Raises ``Incomplete`` when the selection cannot be finished.
    """
    seen = Supervised()
    retry: dict[str, Any] | None = None  # the first attempt of the run a fresh worker tries again
    #: Cells (scenario, backend, profile) whose run ended a fresh worker too: their other repeats
    #: that do the same are recorded at once (each retry costs a process start).
    confirmed: set[tuple[str, str, str]] = set()
    stalled_at: int | None = None  # where a worker last ended between runs
    while True:
        resume = _count_lines(results)
        _truncate_lines(results, resume)  # a record half-written by a killed worker
        dump.write_text("", encoding="utf-8")  # no stack of an earlier worker can be taken for this one's
        end = _one_worker(functools.partial(worker_command, resume=resume, first_attempt=retry), bounds)
        seen.workers += 1
        if end.done:
            if end.threads or end.timed_out:
                seen.threads_left = end.threads or ["(a thread the app started)"]
            return seen
        if end.fault or end.refused is not None or not end.ready:
            seen.refused = _not_playing(end, seen.workers > 1, results, append, retry, bounds, dump)
            return seen
        recorded = _count_lines(results) - resume
        if recorded:
            retry = None  # the retried run finished in the fresh worker, which took its note along
        if end.current is None or recorded >= end.started:
            # Ended between runs: not the app's doing as far as we can tell; tried again once.
            if stalled_at == resume + recorded:
                raise Incomplete(f"the worker ended twice after run {stalled_at} ({_status_text(end.status)})")
            stalled_at = resume + recorded
            continue
        record = _taken_over(end, bounds.run, dump)
        cell = (record["scenario"], record["backend"], record["profile"])
        if retry is None and cell not in confirmed:
            retry = {"outcome": record["outcome"], "detail": record["detail"], "base": end.current}
            continue
        if retry is not None:
            same = retry["outcome"] == record["outcome"]
            record["detail"] += "; the same in a fresh process" if same else f" (first attempt: {retry['outcome']})"
            record["first_attempt"] = {k: v for k, v in retry.items() if k != "base"}
            confirmed.add(cell)
        _truncate_lines(results, resume + recorded)  # nothing half-written before the supervisor's record
        append(record)
        seen.taken_over.append(record)
        retry = None


def _not_playing(
    end: _Ending,
    replaced: bool,
    results: Path,
    append: Callable[[dict[str, Any]], None],
    retry: dict[str, Any] | None,
    bounds: Bounds,
    dump: Path,
) -> int:
    """A worker that ended without playing on: the harness failed, bad input, or an app that
    would not import (in the first worker) or start again (in a fresh one)."""
    if end.fault:
        raise Incomplete(f"the harness failed in its worker after {_count_lines(results)} runs")
    if replaced and not end.ready and end.refused is None:
        _record_unfinished(results, append, retry, end)
        raise Incomplete(f"a fresh worker could not start after a run ended the last one ({_why_not(end)})")
    return _refused(end, bounds, dump)


def _record_unfinished(
    results: Path, append: Callable[[dict[str, Any]], None], retry: dict[str, Any] | None, end: _Ending
) -> None:
    """The run whose retry never started keeps its first attempt as its record."""
    if retry is None or retry.get("base") is None:
        return
    _truncate_lines(results, _count_lines(results))
    record = RunRecord(outcome=retry["outcome"], detail=retry["detail"], **retry["base"]).to_json()
    record["detail"] += f"; a fresh process could not start to try it again ({_why_not(end)})"
    append(record)


def _why_not(end: _Ending) -> str:
    if end.timed_out:
        return "its start did not finish in time"
    if end.exit_code is not None:
        return f"SystemExit({end.exit_code}) while it started"
    return _status_text(end.status)


def _taken_over(end: _Ending, bound: float, dump: Path) -> dict[str, Any]:
    """The record of the run that blocked or ended its worker."""
    outcome: Outcome
    if end.timed_out:
        outcome, detail = HANG, f"the run did not end within {bound:g} s of real time" + _where(dump)
    elif end.exit_code is not None:
        outcome, detail = (
            EXITED,
            (
                f"the app raised SystemExit({end.exit_code}) out of the ASGI call, which ends the process "
                "unless the server catches it"
            ),
        )
    else:
        outcome, detail = EXITED, f"the app ended the process ({_status_text(end.status)})"
    return RunRecord(outcome=outcome, detail=detail, **(end.current or {})).to_json()


def _status_text(status: int) -> str:
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}, e.g. os._exit({status})"


_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')
_HARNESS = str(Path(__file__).resolve().parent.parent)


def _where(dump: Path) -> str:
    """Where the app was, from the worker's thread dump: per thread its innermost frame that is not
    the harness's, the event loop's or the standard library's (the app's own line)."""
    try:
        text = dump.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    places = []
    for block in re.split(r"\n(?=(?:Current thread|Thread) 0x)", text):
        frames = [m for m in map(_FRAME.match, block.splitlines()) if m]
        mine = [m for m in frames if not _infrastructure(m["file"])]
        if mine:
            m = mine[0]
            places.append(f"{m['file']}:{m['line']} in {m['func']}")
    return f"; the app was at {', '.join(dict.fromkeys(places))}" if places else "; no app frame was running"


def _infrastructure(path: str) -> bool:
    import sysconfig

    if path.startswith(_HARNESS) or path.startswith("<"):
        return True
    stdlib = sysconfig.get_paths()["stdlib"]
    return (path.startswith(stdlib) and "site-packages" not in path) or _is_loop_library(path)


def _is_loop_library(path: str) -> bool:
    return any(f"{os.sep}{name}{os.sep}" in path for name in ("anyio", "trio", "sniffio", "outcome"))


def _start_blocked(bound: float, dump: Path) -> str:
    return f"importing the app did not finish within {bound:g} s{_where(dump)}; see --import-timeout"


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _truncate_lines(path: Path, keep: int) -> None:
    """Drop anything after the first ``keep`` complete lines (a record half-written by a worker
    that was killed mid-write)."""
    with path.open("r+b") as f:
        offset = 0
        for _ in range(keep):
            line = f.readline()
            if not line.endswith(b"\n"):
                break
            offset += len(line)
        f.truncate(offset)
