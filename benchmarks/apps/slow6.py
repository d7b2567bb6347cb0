"""The benchmark's user app: six pass-through BaseHTTPMiddleware layers over an endpoint that sleeps
0.5 s (a slow database call), the shape the upgrade benchmark of issue 10 names."""

from __future__ import annotations

from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse
from starlette.routing import Route


class PassThrough(BaseHTTPMiddleware):
    async def dispatch(self, request: Any, call_next: Any) -> Any:
        return await call_next(request)


async def items(request: Any) -> JSONResponse:
    await anyio.sleep(0.5)
    return JSONResponse({"items": [1, 2, 3]})


app = Starlette(routes=[Route("/items", items)])
for _ in range(6):
    app.add_middleware(PassThrough)
