"""A FastAPI service as an application team writes one: its own settings file read with a
third-party package (PyYAML), five BaseHTTPMiddleware layers, one of them ``@app.middleware("http")``,
and an endpoint that takes its time. The harness's own tests point the gate, bisect and the pytest
plugin at it; importing it starts nothing.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import yaml
from fastapi import FastAPI
from starlette.middleware.base import BaseHTTPMiddleware

SETTINGS = yaml.safe_load((Path(__file__).with_name("settings.yaml")).read_text())


class Timing(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        response = await call_next(request)
        response.headers["x-timing"] = "1"
        return response


class RequestId(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return await call_next(request)


class Auth(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return await call_next(request)


class Audit(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return await call_next(request)


app = FastAPI()
for layer in (Audit, Auth, RequestId, Timing):
    app.add_middleware(layer)


@app.middleware("http")
async def log_requests(request, call_next):
    return await call_next(request)


@app.get("/items")
async def items() -> dict[str, object]:
    await anyio.sleep(SETTINGS["db_delay_s"])  # a database call
    return {"items": [1, 2, 3], "service": SETTINGS["name"]}
