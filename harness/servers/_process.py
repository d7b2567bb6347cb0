"""Starting and, above all, stopping a real server process.

The parent binds a listening socket on 127.0.0.1 with an ephemeral port and hands it to the child,
so the port is known before the server starts and nothing but loopback is bound. The child runs in
its own session (its own process group); ``stop`` ends the whole group, first politely, then with
SIGKILL, and runs on every way out: normal exit, exceptions, Ctrl-C, SIGTERM to the harness
(``stop_all`` at exit) and, from the child's side, the death of its parent (see ``served``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.defaults import PROJECT_ROOT
from harness.errors import ServerStartError
from harness.servers._recorder import READY_PATH

ROOT = PROJECT_ROOT
#: Every server process carries this variable, with a value unique to it: tests find leftovers by it.
TOKEN_VAR = "HARNESS_SERVER_TOKEN"
#: Set by whoever wants to find its own servers among others' (a test session, a CI step): every
#: server's token starts with it, and ``running_servers()`` looks only for those.
SCOPE_VAR = "HARNESS_SERVER_SCOPE"
_RUNNING: set[ServerProcess] = set()
_EXIT_HOOK = False


class ServerProcess:
    """One server process serving one recorder; a context manager that always stops it."""

    def __init__(
        self,
        server: str,
        spec: dict[str, Any],
        *,
        log_path: Path,
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ) -> None:
        self.server = server
        self.spec = spec
        self.log_path = log_path
        self.python = python
        self.startup_timeout = startup_timeout
        self.token = _scope() + uuid.uuid4().hex
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._records_fd = -1
        self._buffer = b""

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        read_fd, write_fd = os.pipe()
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            env = dict(os.environ, PYTHONUNBUFFERED="1", **{TOKEN_VAR: self.token})
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "wb") as log:
                cmd = [
                    self.python,
                    "-m",
                    "harness.servers._child",
                    "--server",
                    self.server,
                    "--fd",
                    str(listener.fileno()),
                    "--records-fd",
                    str(write_fd),
                    "--spec",
                    json.dumps(self.spec),
                ]
                self.proc = subprocess.Popen(
                    cmd,
                    pass_fds=(listener.fileno(), write_fd),
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    env=env,
                )
            _track(self)
        finally:
            listener.close()  # the child has its copy; if it dies, connecting fails instead of hanging
            os.close(write_fd)
        self._records_fd = read_fd
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise ServerStartError(f"{self.server} exited at startup: {self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                s.sendall(f"GET {READY_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                s.settimeout(2.0)
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                if data.startswith(b"HTTP/1.1 200") and data.endswith(b"ready"):
                    return
            time.sleep(0.05)
        raise ServerStartError(f"{self.server} did not answer within {self.startup_timeout:g} s: {self.log_tail()}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def next_record(self, timeout: float) -> dict[str, Any] | None:
        """The next record the recorder wrote, or None if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._records_fd < 0:
                return None
            ready, _, _ = select.select([self._records_fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._records_fd, 65536)
            if not chunk:  # the server exited
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        record: dict[str, Any] = json.loads(line)  # the recorder writes one JSON object per line
        return record

    def stop(self, grace: float = 1.0) -> None:
        """End the server's whole process group; idempotent, and safe to call from any exit path."""
        proc = self.proc
        if proc is not None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
            # Whatever the group leader left behind (workers of a multi-process server).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._records_fd >= 0:
            os.close(self._records_fd)
            self._records_fd = -1
        _RUNNING.discard(self)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 3) -> str:
        text = [ln for ln in self.log_text().splitlines() if ln.strip()]
        return " | ".join(text[-lines:]) or "(no output)"


def running_servers() -> list[int]:
    """Every process on this machine started by a ``ServerProcess`` (each carries ``TOKEN_VAR``) in
    this scope (``SCOPE_VAR``, when set): how the tests and CI show that nothing was left running,
    without counting another session's servers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"{TOKEN_VAR}={_scope()}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def _track(server: ServerProcess) -> None:
    """Remember a started server; the first one registers the exit hook that stops them all, so
    importing this module registers nothing."""
    global _EXIT_HOOK
    if not _EXIT_HOOK:
        atexit.register(stop_all)
        _EXIT_HOOK = True
    _RUNNING.add(server)


def _scope() -> str:
    return os.environ.get(SCOPE_VAR, "")


def stop_all() -> None:
    for server in list(_RUNNING):
        server.stop(grace=0.2)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally`` blocks (and so ``stop``) run, as on Ctrl-C."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


#: uvicorn logs ``ERROR:    ...``; hypercorn and granian ``[...] [ERROR] ...``.
_ERROR_LINE = re.compile(r"^ERROR:|\[ERROR\]")
_NOT_FINAL = ("Traceback", "During handling", "The above")


def server_errors(log: str) -> list[str]:
    """The server's own error reports in its log: each error line with the exception that ended its
    traceback (``ERROR: Exception in ASGI application -> RuntimeError: No response returned.``)."""
    out: list[str] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not _ERROR_LINE.search(line):
            continue
        final = ""
        for later in lines[i + 1 :]:
            if _ERROR_LINE.search(later):
                break
            if later and not later[0].isspace() and not later.startswith(_NOT_FINAL):
                final = later.strip()  # the last unindented line: the exception that ended it
        out.append(f"{line.strip()} -> {final}" if final else line.strip())
    return out
