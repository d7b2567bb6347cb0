"""Forks a helper process at import that keeps every descriptor the worker had (as a fork, a
multiprocessing child or os.system do), for tests/test_isolation.py. The helper lets go of stdout
and stderr, so only what the harness itself holds stays open."""

from __future__ import annotations

import os
import time
from typing import Any

if os.fork() == 0:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    time.sleep(30)
    os._exit(0)


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/os-exit":
        os._exit(7)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
