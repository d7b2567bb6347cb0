"""Apps that misbehave towards the process they run in, for tests/test_isolation.py.

Each is a plain ASGI app that answers ``/`` normally and misbehaves on the path that names it, so
one selection holds runs that behave and runs that do not.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any


async def _answer(send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


#: Requests this process has served (``/exit-second`` ends the process on its second).
SERVED = 0


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    global SERVED
    SERVED += 1
    path = scope["path"]
    if path == "/exit-second" and SERVED >= 2:
        os._exit(9)  # only a process that served before: a fresh one answers
    if path == "/sys-exit":
        sys.exit(5)
    if path == "/os-exit":
        os._exit(7)
    if path == "/block":
        time.sleep(30)  # blocks the event loop: its own timer cannot fire
    if path == "/thread":
        threading.Thread(target=time.sleep, args=(3600,), name="left-by-app").start()
    await _answer(send)
