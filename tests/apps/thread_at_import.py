"""A module that starts a thread that never ends while it is imported (tests/test_isolation.py)."""

import threading
import time

threading.Thread(target=time.sleep, args=(3600,), name="started-at-import").start()


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
