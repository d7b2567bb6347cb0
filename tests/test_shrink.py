"""The smallest failing stack: delta debugging down a user app's middleware list."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.run import ddmin
from tests.conftest import run_harness


def test_ddmin_finds_the_entries_a_failure_needs_and_nothing_more():
    tried: list[tuple[int, ...]] = []

    def needs_1_and_3(keep: tuple[int, ...]) -> bool:
        tried.append(keep)
        return {1, 3} <= set(keep)

    assert ddmin(range(8), needs_1_and_3) == (1, 3)
    assert len(tried) < 2**8 // 4, "it halves instead of trying every subset"
    assert ddmin(range(5), lambda keep: True) == (), "a failure with no middleware needs none"
    four = ddmin(range(6), lambda keep: len(keep) >= 4)
    assert len(four) == 4, "depth-like failures shrink to the threshold"


APP = """
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route


class PassThrough(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return await call_next(request)


class Tripwire:
    '''Raises when the client has gone before the response started: the one entry that matters.'''

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def watching():
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("tripwire: client left")
            return message

        await self.app(scope, watching, send)


async def endpoint(request):
    await request.receive()
    return PlainTextResponse("hi")

app = Starlette(
    routes=[Route("/", endpoint)],
    middleware=[Middleware(PassThrough), Middleware(PassThrough), Middleware(Tripwire), Middleware(PassThrough)],
)
"""


def shrink_app(folder: Path, module: str, source: str) -> subprocess.CompletedProcess[str]:
    """``harness shrink`` on the app ``source`` (saved as ``module``), one cell, one run per subset."""
    (folder / f"{module}.py").write_text(source)
    return run_harness(
        "shrink", "--app", f"{module}:app", "--app-dir", str(folder), "--scenario", "app[disconnect-before-body]",
        "--backend", "asyncio", "--profile", "uvicorn", "--repeat", "1", cwd=folder,
    )  # fmt: skip


def test_shrink_names_the_one_entry_that_fails_and_replays_it(tmp_path: Path):
    out = shrink_app(tmp_path, "tripapp", APP)
    assert out.returncode == 0, out.stderr
    assert "4 middleware entries" in out.stdout and "#2 Tripwire" in out.stdout
    assert "exception: RuntimeError with 1 of 4 entries" in out.stdout, out.stdout
    assert "minimal: #2 Tripwire" in out.stdout and "not needed for it: #0, #1, #3" in out.stdout
    import shlex

    replay = shlex.split(out.stdout.split("replay it: ", 1)[1].splitlines()[0])[3:]
    again = run_harness(*replay, cwd=tmp_path)
    assert "exception 1/1" in again.stdout, again.stdout + again.stderr


def test_an_app_without_a_middleware_list_is_one_line(tmp_path: Path):
    (tmp_path / "raw.py").write_text("async def app(scope, receive, send):\n    pass\n")
    out = run_harness("shrink", "--app", "raw:app", "--app-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "has no middleware list (user_middleware)" in out.stderr


GUARD = '''
class Guard:
    """Turns the tripwire's RuntimeError into a ValueError: without it the failure is another one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        try:
            await self.app(scope, receive, send)
        except RuntimeError as e:
            raise ValueError(f"guard: {e}") from None

'''
GUARDED = APP.replace("app = Starlette(", GUARD + "\napp = Starlette(").replace(
    "middleware=[Middleware(PassThrough), Middleware(PassThrough), Middleware(Tripwire), Middleware(PassThrough)]",
    "middleware=[Middleware(PassThrough), Middleware(Guard), Middleware(PassThrough), Middleware(Tripwire)]",
)


def test_a_subset_that_fails_another_way_is_not_kept(tmp_path: Path):
    # Dropping Guard still gives an `exception`, but a RuntimeError, not the ValueError under study.
    out = shrink_app(tmp_path, "guarded", GUARDED)
    assert out.returncode == 0, out.stderr
    assert "exception: ValueError with 2 of 4 entries" in out.stdout, out.stdout
    assert "minimal: #1 Guard, #3 Tripwire" in out.stdout, out.stdout
