"""The scripted ``receive``: a client timeline played out beside the app.

The client runs as its own task and walks the script (deliver a message, wait for a condition,
disconnect), as network events arrive on their own at a real server. ``receive()`` hands the app what
has arrived, or waits; after the disconnect it behaves as the server profile says. Every call is
recorded in order with what it returned (``<blocked>`` for a call that never returned,
``<StopAsyncIteration>`` when the script ended like an exhausted generator).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from harness.run._connection import Connection
from harness.scenario import Disconnect, ReceiveScript, Request, ServerProfile, Wait

_DISCONNECT = {"type": "http.disconnect"}


class ScriptedReceive:
    """The client side of one run: ``run_client()`` is its task, ``__call__`` is the app's ``receive``."""

    def __init__(self, script: ReceiveScript, profile: ServerProfile, conn: Connection) -> None:
        self._script = script
        self._profile = profile
        self._conn = conn
        self._inbox: deque[dict[str, Any]] = deque()
        self._disconnect_delivered = False

    async def run_client(self) -> None:
        conn = self._conn
        for step in self._script.steps:
            if isinstance(step, Request):
                self._inbox.append({"type": "http.request", "body": step.body, "more_body": step.more_body})
            elif isinstance(step, Wait):
                await self._wait(step)
            elif isinstance(step, Disconnect):
                conn.client_gone = True
            conn.notify()

    async def _wait(self, step: Wait) -> None:
        backend, conn = self._conn.backend, self._conn
        if step.until == "checkpoints":
            for _ in range(step.n):
                await backend.checkpoint()
            return
        if step.until == "idle":
            await backend.wait_all_tasks_blocked()
            return
        while not self._holds(step):
            await conn.changed.wait()

    def _holds(self, step: Wait) -> bool:
        conn = self._conn
        if step.until == "start":
            return conn.response_started
        if step.until == "chunks":
            return conn.body_chunks >= step.n
        if step.until == "complete":
            return conn.response_complete
        if step.until == "receive":
            return conn.app_waiting_in_receive
        raise AssertionError(step)  # pragma: no cover - parse_script admits nothing else

    async def __call__(self) -> dict[str, Any]:
        conn = self._conn
        index = len(conn.receive_calls)
        conn.receive_calls.append("<blocked>")
        if self._profile.receive_delay:
            await self._answer_late(index)
        while True:
            message = self._next_message()
            if message is not None:
                conn.app_waiting_in_receive = False
                conn.receive_calls[index] = message["type"]
                if message["type"] == "http.disconnect":
                    conn.app_saw_disconnect = True
                return message
            if self._disconnect_delivered:
                conn.app_waiting_in_receive = False
                if self._profile.after_disconnect == "end":
                    conn.receive_calls[index] = "<StopAsyncIteration>"
                    raise StopAsyncIteration
                # "once": a second disconnect never comes; the call blocks for good.
            await self._wait_for_news(index)

    async def _answer_late(self, index: int) -> None:
        """The profile's ``receive_delay``: scheduling points before the server's answer arrives."""
        try:
            for _ in range(self._profile.receive_delay):
                await self._conn.backend.checkpoint()
        except BaseException:
            self._conn.receive_calls[index] = "<cancelled>"
            raise

    async def _wait_for_news(self, index: int) -> None:
        """Block in ``receive()`` until the client or the app changes something, telling waiters
        (``wait:receive``) that the app is waiting here now."""
        conn = self._conn
        changed = conn.changed
        if not conn.app_waiting_in_receive:
            conn.app_waiting_in_receive = True
            conn.notify()
            changed = conn.changed
        try:
            await changed.wait()
        except BaseException:
            conn.app_waiting_in_receive = False
            conn.receive_calls[index] = "<cancelled>"
            raise

    def _next_message(self) -> dict[str, Any] | None:
        conn, profile = self._conn, self._profile
        if self._disconnect_delivered:
            return dict(_DISCONNECT) if profile.after_disconnect == "repeat" else None
        gone = conn.client_gone and profile.notices_close
        if self._inbox and not (gone and profile.disconnect_preempts_body):
            return self._inbox.popleft()
        if gone or (conn.response_complete and profile.after_complete == "disconnect"):
            self._disconnect_delivered = True
            return dict(_DISCONNECT)
        return None
