"""The client side against a real server: a raw socket playing a receive script.

A real client does not hand the app messages; it writes bytes and closes its socket. The same
receive script that drives the scripted ``receive`` is played here as socket actions:

- ``request[:BODY][+more]``: the request head (first time) and the body bytes; a script whose last
  request has ``+more`` declares a longer Content-Length than it sends, so the server is still
  waiting for body bytes when the client closes ("before the body ends");
- ``wait:start`` / ``wait:chunks=N`` / ``wait:complete``: read the response until its headers, its
  Nth body chunk, or its end ("after the response headers", "mid-stream");
- ``wait:idle`` / ``wait:receive``: a short real pause (``settle``) so the app is blocked by then;
  ``wait:N`` (scheduling points) has no socket equivalent and is played as no wait;
- ``disconnect``: close the socket. Anything already received is read first, so the close is a FIN
  (closing with unread data makes the kernel send RST instead).

Every read is bounded by a deadline; the client never waits on a server for longer than that.
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from harness.scenario import Disconnect, ReceiveScript, Request, Wait
from harness.servers._recorder import RUN_HEADER

#: Bytes declared but never sent when a script ends its body with ``+more`` before disconnecting.
PENDING_BODY = 16


@dataclass
class ClientResult:
    """What the client saw: the point where it closed and what had arrived by then."""

    closed_at: str = "after the response"
    status: int | None = None
    received_bytes: int = 0
    headers_done: bool = False
    body_chunks: int = 0
    complete: bool = False
    server_closed: bool = False
    error: str | None = None
    elapsed_s: float = 0.0
    actions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Response:
    """An incremental HTTP/1.1 response reader, enough for Content-Length and chunked bodies."""

    def __init__(self) -> None:
        self.data = b""
        self.status: int | None = None
        self.headers_done = False
        self.chunks = 0
        self.complete = False
        self._body_start = 0
        self._length: int | None = None
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self.data += data
        if not self.headers_done:
            end = self.data.find(b"\r\n\r\n")
            if end < 0:
                return
            self.headers_done = True
            self._body_start = end + 4
            head = self.data[:end].decode("latin-1").split("\r\n")
            with contextlib.suppress(IndexError, ValueError):
                self.status = int(head[0].split()[1])
            for line in head[1:]:
                name, _, value = line.partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    self._length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    self._chunked = True
        self._scan_body()

    def _scan_body(self) -> None:
        body = self.data[self._body_start :]
        if self._chunked:
            self.chunks, self.complete = _count_chunks(body)
        elif self._length is not None:
            self.chunks = 1 if self._length and len(body) >= self._length else 0
            self.complete = len(body) >= self._length


def _count_chunks(body: bytes) -> tuple[int, bool]:
    pos, chunks = 0, 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return chunks, False
        try:
            size = int(body[pos:line_end].split(b";")[0], 16)
        except ValueError:
            return chunks, False
        if size == 0:
            return chunks, True
        if len(body) < line_end + 2 + size + 2:
            return chunks, False
        chunks += 1
        pos = line_end + 2 + size + 2


def request_head(method: str, path: str, run: int, content_length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"{RUN_HEADER.decode()}: {run}"]
    if content_length is not None:
        lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def play(
    port: int,
    script: ReceiveScript,
    *,
    run: int,
    method: str = "GET",
    path: str = "/",
    settle: float = 0.05,
    timeout: float = 10.0,
) -> ClientResult:
    """Play ``script`` against 127.0.0.1:``port``; never longer than ``timeout`` seconds."""
    result = ClientResult()
    started = time.monotonic()
    deadline = started + timeout
    response = _Response()
    requests = [s for s in script.steps if isinstance(s, Request)]
    body = b"".join(r.body for r in requests)
    pending = PENDING_BODY if requests and requests[-1].more_body and script.disconnects else 0
    declared = len(body) + pending if (body or pending or method not in ("GET", "HEAD")) else None
    head_sent = False
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=max(0.1, deadline - time.monotonic()))
    except OSError as e:
        result.error = f"connect: {e}"
        result.closed_at = "never connected"
        return result
    try:
        for step in script.steps:
            if isinstance(step, Request):
                data = step.body
                if not head_sent:
                    data = request_head(method, path, run, declared) + data
                    head_sent = True
                sock.sendall(data)
                result.actions.append(str(step))
            elif isinstance(step, Wait):
                _wait(sock, step, response, result, settle, deadline)
                result.actions.append(str(step))
            elif isinstance(step, Disconnect):
                result.closed_at = _where(response, head_sent, pending)
                _drain(sock, response, result)
                result.actions.append("close")
                break
        else:
            _read_until(sock, response, result, deadline, lambda: response.complete)
            result.actions.append("read to the end, close")
    except OSError as e:
        result.error = f"{type(e).__name__}: {e}"
    finally:
        sock.close()
        result.status = response.status
        result.received_bytes = len(response.data)
        result.headers_done = response.headers_done
        result.body_chunks = response.chunks
        result.complete = response.complete
        result.elapsed_s = round(time.monotonic() - started, 4)
    return result


def _where(response: _Response, head_sent: bool, pending: int) -> str:
    if not head_sent:
        return "before the request"
    if pending:
        return "before the body ends"
    if response.complete:
        return "after the response"
    if response.chunks:
        return "mid-stream"
    if response.headers_done:
        return "after the response headers"
    return "before any response byte" if not response.data else "mid-headers"


def _wait(
    sock: socket.socket, step: Wait, response: _Response, result: ClientResult, settle: float, deadline: float
) -> None:
    if step.until in ("idle", "receive"):
        time.sleep(min(settle, max(0.0, deadline - time.monotonic())))
    elif step.until == "start":
        _read_until(sock, response, result, deadline, lambda: response.headers_done)
    elif step.until == "chunks":
        _read_until(sock, response, result, deadline, lambda: response.chunks >= step.n or response.complete)
    elif step.until == "complete":
        _read_until(sock, response, result, deadline, lambda: response.complete)


def _read_until(sock: socket.socket, response: _Response, result: ClientResult, deadline: float, done: Any) -> None:
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.error = "timed out waiting for the server"
            return
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            result.error = "timed out waiting for the server"
            return
        if not data:
            result.server_closed = True
            return
        response.feed(data)


def _drain(sock: socket.socket, response: _Response, result: ClientResult) -> None:
    sock.setblocking(False)
    try:
        while data := sock.recv(65536):
            response.feed(data)
        result.server_closed = True
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        sock.setblocking(True)
