"""What the client does, as data: the receive script.

A script is a sequence of steps the client side plays out on its own timeline, independently of
whether the app is calling ``receive()`` at that moment (a real client's network events do not wait
for the app):

- ``request[:BODY][+more]``: an ``http.request`` message (``+more`` sets ``more_body``);
- ``wait:N`` (N scheduling points), ``wait:idle`` (until every task is blocked), ``wait:start``
  (until ``http.response.start`` was sent), ``wait:chunks=N`` (until N body messages were sent),
  ``wait:complete`` (until the final body was sent), ``wait:receive`` (until the app is waiting in
  ``receive()``);
- ``disconnect``: the client goes away. What ``receive()`` does afterwards belongs to the server
  profile (repeat, once then block, or end like an exhausted generator).

Delays are scheduling points, never wall-clock sleeps, so a script is exact and fast. The compact text
form (``request,wait:idle,disconnect``) is the one used in scenario files, on the command line and in
result records, so every record carries a script a user can paste back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from harness.errors import ScriptError

#: What a ``wait`` step waits for: a number of scheduling points, or one of ``WAIT_CONDITIONS``.
WaitUntil = Literal["checkpoints", "idle", "start", "chunks", "complete", "receive"]
WAIT_CONDITIONS: tuple[WaitUntil, ...] = ("idle", "start", "chunks", "complete", "receive")
_STEP_HELP = (
    "steps are request[:BODY][+more], wait:N, wait:idle, wait:start, wait:chunks=N, wait:complete, "
    "wait:receive, disconnect"
)


@dataclass(frozen=True)
class Request:
    """Deliver one ``http.request`` message."""

    body: bytes = b""
    more_body: bool = False

    def __str__(self) -> str:
        text = "request"
        if self.body:
            text += ":" + self.body.decode("latin-1")
        return text + ("+more" if self.more_body else "")


@dataclass(frozen=True)
class Wait:
    """Hold the client's next step until a condition holds (``checkpoints`` counts scheduling points)."""

    until: WaitUntil
    n: int = 0

    def __str__(self) -> str:
        if self.until == "checkpoints":
            return f"wait:{self.n}"
        if self.until == "chunks":
            return f"wait:chunks={self.n}"
        return f"wait:{self.until}"


@dataclass(frozen=True)
class Disconnect:
    """The client closes the connection."""

    def __str__(self) -> str:
        return "disconnect"


Step = Request | Wait | Disconnect


@dataclass(frozen=True)
class ReceiveScript:
    """A validated sequence of client steps."""

    steps: tuple[Step, ...]

    def __str__(self) -> str:
        return ",".join(str(s) for s in self.steps)

    @property
    def disconnects(self) -> bool:
        return any(isinstance(s, Disconnect) for s in self.steps)

    @property
    def body(self) -> bytes:
        return b"".join(s.body for s in self.steps if isinstance(s, Request))


@lru_cache(maxsize=4096)
def parse_script(text: str) -> ReceiveScript:
    """Parse the compact text form; raise ``ScriptError`` naming the bad step and what is allowed."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ScriptError(f"receive script {text!r} has an empty step; {_STEP_HELP}")
    steps = tuple(_parse_step(p, text) for p in parts)
    script = ReceiveScript(steps)
    validate(script, text)
    return script


def _parse_step(part: str, text: str) -> Step:
    head, _, arg = part.partition(":")
    if head == "disconnect" and not arg:
        return Disconnect()
    if head == "request":
        more = arg.endswith("+more")
        body = arg[: -len("+more")] if more else arg
        if part == "request+more":
            body, more = "", True
        return Request(body.encode("latin-1"), more)
    if head == "request+more" and not arg:
        return Request(b"", True)
    if head == "wait":
        if arg.isdigit():
            return Wait("checkpoints", int(arg))
        name, _, n = arg.partition("=")
        if name == "chunks" and n.isdigit() and int(n) >= 1:
            return Wait("chunks", int(n))
        if name in WAIT_CONDITIONS and name != "chunks" and not n:
            return Wait(name)
    raise ScriptError(f"receive script {text!r}: bad step {part!r}; {_STEP_HELP}")


def validate(script: ReceiveScript, text: str | None = None) -> None:
    """Reject scripts no client could play: steps after a disconnect, body after the last chunk."""
    label = text if text is not None else str(script)
    body_done = False
    for i, step in enumerate(script.steps):
        if isinstance(step, Disconnect) and i != len(script.steps) - 1:
            raise ScriptError(f"receive script {label!r}: 'disconnect' must be the last step")
        if isinstance(step, Request):
            if body_done:
                raise ScriptError(
                    f"receive script {label!r}: a request step follows the final body chunk; "
                    "mark earlier chunks with +more"
                )
            body_done = not step.more_body
    if isinstance(script.steps[-1], Wait):
        raise ScriptError(f"receive script {label!r}: a wait must be followed by a step")
