"""Running one cell: install its pins into its environment, run the harness there, record it.

The harness runs in the cell's own interpreter from this source tree (``python -m harness run``
with the project root as working directory), in one process for every scenario, backend, profile
and repeat. The process is bounded by the cell timeout; an install failure, a crash or a timeout
is recorded as the cell's status and the matrix goes on. Every process started here ends with the
matrix that started it (see ``lifeline`` and ``Children``): a cell that outlived nox would finish
as an orphan and write its results into a folder that a rerun is filling at the same time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness import defaults
from harness.defaults import PROJECT_ROOT
from harness.errors import UsageError
from harness.matrix._cells import Cell
from harness.matrix._config import MatrixConfig
from harness.results import CRASHED, DONE, INSTALL_FAILED, Store, environment_failure, read_records

ROOT = PROJECT_ROOT

#: What ``run`` returns for a cell that a stopping matrix ended or never started: not a status,
#: nothing is recorded, so the next run does the cell.
INTERRUPTED = "interrupted"

#: How long an interrupted cell process has to stop after SIGINT before it is killed.
STOP_GRACE = 5.0

#: How long a cell that ended on SIGINT waits for the matrix to be marked stopping before it is
#: recorded as crashed: one Ctrl-C reaches the cell and nox together, and a cell still starting
#: dies of it before nox's handler has run (which it does in milliseconds, in the main thread).
SAME_CTRL_C = 2.0

# Run as ``python -S -c LIFELINE PARENT_PID COMMAND...``: arm the kernel to SIGKILL this process
# when its parent dies, check the parent did not die before that, then become COMMAND.
_LIFELINE = """\
import os, sys
parent, argv = int(sys.argv[1]), sys.argv[2:]
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
except (ImportError, OSError, AttributeError):
    pass  # no prctl: the command runs unguarded, as it would without this wrapper
if os.getppid() != parent:
    sys.exit(1)  # the matrix died before the guard was armed: nobody wants this cell any more
try:
    os.execvp(argv[0], argv)
except OSError as e:
    print(e, file=sys.stderr)
    sys.exit(127)
"""


def lifeline(cmd: list[str]) -> list[str]:
    """``cmd``, made to die with this process on Linux, however this process dies.

    nox killed alone (SIGKILL, or SIGTERM, which Python does not handle) runs no code of ours, so
    no handler, ``atexit`` or ``finally`` can end its children: only the kernel can. On Linux
    ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` asks it to, and the setting survives ``execve``. It is set
    by a tiny Python guard that then execs the command (same pid, so timeouts and signals reach the
    real process), not by ``preexec_fn``: that runs Python between fork and exec in a process
    whose other threads (the pool's, nox's) may hold locks the child then waits on forever, which
    the subprocess documentation warns against. The guard checks its parent is still the one that
    started it, closing the window in which the parent died before the setting was made. The
    signal is delivered when the parent *thread* ends: the thread that starts a cell waits on it
    until it ends, so that is the process's death or the cell's end, never earlier. SIGKILL rather
    than SIGTERM: the cell cannot outlive nox by ignoring it or by hanging in a handler; what a
    killed writer leaves (temporary files) the next run removes (``Store.discard_partial``).

    Elsewhere (macOS, Windows) there is no such request; the command runs as before, a cell still
    ends with Ctrl-C and with a kill of the process group, but not with a kill of nox alone.
    """
    if not sys.platform.startswith("linux"):
        return cmd
    return [sys.executable, "-S", "-c", _LIFELINE, str(os.getpid()), *cmd]


class Children:
    """The cell processes running now, so that an interrupted matrix ends them and starts no more.

    On Ctrl-C nox returns 130, but Python's exit then joins the pool's threads, which run every
    queued cell first; and a cell process that got the SIGINT too exits 130 and would be recorded as
    crashed. ``stop`` makes new cells refuse to start, sends SIGINT to the running ones (the harness
    exits 130 on it, cleaning what it was writing) and lets their threads record nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[str]] = set()
        self.stopping = threading.Event()

    def start(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[str] | None:
        """The started process, or None once the matrix is stopping."""
        with self._lock:  # held across Popen, so ``stop`` cannot miss a process being started
            if self.stopping.is_set():
                return None
            proc: subprocess.Popen[str] = subprocess.Popen(lifeline(cmd), **kwargs)
            self._procs.add(proc)
            return proc

    def stop_on_sigint(self) -> None:
        """Mark the matrix stopping the moment SIGINT arrives (call from the main thread). Ctrl-C
        reaches the cell processes too, and one may exit 130 on it before the KeyboardInterrupt has
        made its way out of whatever the main thread waits on (an install waits 0.25 s for its
        child first): without the mark, that cell would be recorded as crashed and the next queued
        one started. A SIGINT that is ignored (``nohup``) stays ignored."""
        previous = signal.getsignal(signal.SIGINT)
        if not callable(previous) or threading.current_thread() is not threading.main_thread():
            return

        def on_sigint(signum: int, frame: Any) -> None:
            self.stopping.set()
            previous(signum, frame)

        signal.signal(signal.SIGINT, on_sigint)

    def forget(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop(self) -> None:
        self._each(lambda proc: proc.send_signal(signal.SIGINT))

    def kill(self) -> None:
        self._each(lambda proc: proc.kill())

    def _each(self, action: Callable[[subprocess.Popen[str]], None]) -> None:
        with self._lock:
            self.stopping.set()
            procs = list(self._procs)
        for proc in procs:
            try:
                action(proc)
            except OSError:  # it ended meanwhile
                pass


@dataclass(frozen=True)
class Selection:
    """What a cell runs; the same for every cell of one matrix run."""

    scenarios: tuple[str, ...]
    backends: tuple[str, ...]
    profiles: tuple[str, ...]
    repeats: int
    seed: int
    timeout: float
    real_timeout: float
    #: Extra ``harness run`` arguments, e.g. ``--app module:app --path /items``.
    extra: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        config: MatrixConfig,
        *,
        scenarios: Sequence[str] = (),
        backends: Sequence[str] = (),
        profiles: Sequence[str] = (),
        repeats: int | None = None,
        seed: int | None = None,
        extra: Sequence[str] = (),
    ) -> Selection:
        """The selection a run asks for, with matrix.toml's values wherever it asks for nothing."""
        return cls(
            scenarios=tuple(scenarios or config.scenarios),
            backends=tuple(backends or config.backends),
            profiles=tuple(profiles or config.profiles),
            repeats=config.repeats if repeats is None else repeats,
            seed=config.seed if seed is None else seed,
            timeout=config.timeout,
            real_timeout=config.real_timeout,
            extra=tuple(extra),
        )

    def validate(self) -> Selection:
        """Every name the selection holds is known, checked when the matrix is planned, before the
        first environment is built (a typo would otherwise crash every cell after its install)."""
        from harness.run.backends import backend_class
        from harness.scenario import get_profile

        for b in self.backends:
            backend_class(b)
        for p in self.profiles:
            get_profile(p)
        if self.repeats < 1:
            raise UsageError(f"--repeat {self.repeats}: must be at least 1")
        return self

    @property
    def hash(self) -> str:
        """Identifies what a cell ran (the code it ran is checked apart, from what it imported)."""
        blob = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def harness_args(self) -> list[str]:
        args = ["--backend", ",".join(self.backends), "--profile", ",".join(self.profiles)]
        for s in self.scenarios:
            args += ["--scenario", s]
        args += ["--repeat", str(self.repeats), "--seed", str(self.seed)]
        args += ["--timeout", str(self.timeout), "--real-timeout", str(self.real_timeout)]
        return [*args, *self.extra]

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@functools.cache
def uv_binary() -> str | None:
    try:
        from nox.virtualenv import UV  # the uv nox itself uses, when nox is the caller

        if UV and shutil.which(UV):
            return UV
    except ImportError:
        pass
    return shutil.which("uv")


def install_command(cell: Cell, python: str) -> list[str]:
    uv = uv_binary()
    if uv is None:
        if cell.exclude_newer:
            raise RuntimeError("the as-released resolution needs uv (pip has no --exclude-newer)")
        return [python, "-m", "pip", "install", "--quiet", *cell.requirements]
    cmd = [uv, "pip", "install", "--quiet", "--python", python]
    if cell.resolution == "dev":
        cmd += ["--reinstall-package", "starlette"]
    if cell.exclude_newer:
        cmd += ["--exclude-newer", cell.exclude_newer]
    return [*cmd, *cell.requirements]


def install(cell: Cell, python: str, timeout: float = defaults.INSTALL_TIMEOUT) -> tuple[bool, str]:
    """Install the cell's requirements; on failure, the last meaningful line of the installer."""
    try:
        cmd = lifeline(install_command(cell, python))
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if out.returncode == 0:
        return True, ""
    return False, _last_line(out.stderr or out.stdout) or f"installer exited with {out.returncode}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("hint:", "help:"))] or lines
    return " ".join(useful[-3:])[:500]


def resolution(cell: Cell) -> list[str]:
    """What the cell's requirements resolve to on the index today (``uv pip compile``, nothing
    installed): the pins of every package, sorted. Empty when uv is missing or resolution fails."""
    uv = uv_binary()
    if uv is None:
        return []
    cmd = [uv, "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate", "--python-version", cell.python]
    if cell.exclude_newer:
        cmd += ["--exclude-newer", cell.exclude_newer]
    lines = []
    args = list(cell.requirements)
    while args:
        arg = args.pop(0)
        lines.append(f"{arg} {args.pop(0)}" if arg in ("-r", "-e", "-c") and args else arg)
    try:
        out = subprocess.run(
            cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return sorted(line.strip() for line in out.stdout.splitlines() if line.strip() and not line.startswith("#"))


def run(
    cell: Cell,
    python: str,
    selection: Selection,
    store: Store,
    cell_timeout: float,
    resolved: list[str] | None = None,
    children: Children | None = None,
) -> str:
    """Run the harness for ``cell`` in ``python`` and record the outcome; return the cell status
    (``INTERRUPTED``, recording nothing, when ``children`` is stopped before the cell ends)."""
    children = children or Children()
    started = time.perf_counter()
    store.discard_partial(cell.id)
    out_path = store.results_path(cell.id)
    sources_path = out_path.with_name(f".{out_path.name}.sources.json")
    cmd = [
        python,
        "-m",
        "harness",
        "run",
        "--quiet",
        "--out",
        str(out_path),
        "--resolution",
        cell.resolution,
        "--sources-out",
        str(sources_path),
        *selection.harness_args(),
    ]
    common: dict[str, Any] = dict(selection_hash=selection.hash, selection=selection.to_json())
    proc = children.start(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc is None:
        return INTERRUPTED
    try:
        _, stderr = proc.communicate(timeout=cell_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        store.record(
            cell,
            CRASHED,
            reason=f"cell process did not finish within {cell_timeout:g} s",
            elapsed_s=time.perf_counter() - started,
            **common,
        )
        return CRASHED
    except BaseException:  # Ctrl-C where the caller waits on the cell itself (the gate): end it too
        proc.kill()
        proc.wait()
        raise
    finally:
        children.forget(proc)
    elapsed = time.perf_counter() - started
    if proc.returncode in (130, -signal.SIGINT):  # Ctrl-C reached the cell: wait for nox's own to mark it
        children.stopping.wait(SAME_CTRL_C)
    if proc.returncode != 0 and children.stopping.is_set():
        sources_path.unlink(missing_ok=True)
        return INTERRUPTED
    if proc.returncode != 0 or not out_path.exists():
        store.record(
            cell,
            CRASHED,
            reason=_last_line(stderr) or f"exit status {proc.returncode}",
            elapsed_s=elapsed,
            **common,
        )
        return CRASHED
    records = list(read_records(out_path))
    first = records[0] if records else {}
    environment = {k: first.get(k) for k in ("starlette", "anyio", "trio", "python", "fastapi")}
    try:
        sources = json.loads(sources_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sources = {}  # then the cell is never current, and is redone next time
    finally:
        sources_path.unlink(missing_ok=True)
    # Runs that failed on the environment before reaching Starlette are no verdict on it (results._health).
    broken = environment_failure(records)
    status = CRASHED if broken else DONE
    store.record(
        cell,
        status,
        runs=len(records),
        elapsed_s=elapsed,
        environment=environment,
        sources=sources,
        resolved=resolved,
        reason=broken or "",
        **common,
    )
    return status


def record_install_failure(cell: Cell, selection: Selection, store: Store, reason: str) -> None:
    store.record(cell, INSTALL_FAILED, reason=reason, selection_hash=selection.hash, selection=selection.to_json())
