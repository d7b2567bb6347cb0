"""Plants a bug in the harness's own client (what the fuzz plants), for tests/test_isolation.py:
the run must fail as the harness's, never be recorded as the app's."""

from __future__ import annotations

from typing import Any

from harness.run import ScriptedReceive


async def _failing(self: Any) -> None:
    raise KeyError("planted: a bug of the harness's own client")


ScriptedReceive.run_client = _failing  # type: ignore[method-assign]


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
