"""A module that blocks while it is imported (tests/test_isolation.py)."""

import time

time.sleep(120)


async def app(scope, receive, send):  # type: ignore[no-untyped-def]  # never reached
    pass
