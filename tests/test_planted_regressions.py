"""Two regressions planted into the installed (newest) Starlette's ``base.py`` at test time, and the
gate must fail on each, naming the observation that got worse.

The module is patched in memory: its source is read, one change is made, and the result replaces
``BaseHTTPMiddleware`` for the duration of the test (site-packages is never touched). A planted
change whose anchor is no longer in the source fails loudly instead of testing nothing.
"""

from __future__ import annotations

import inspect
import types

import pytest

from harness.results import compare, failing
from harness.run import RunConfig, plan, run_jobs
from harness.scenario import load_catalogue, select

SELECTION = [
    "stacked-client-disconnected[depth=2]",
    "stacked-client-disconnected[depth=10]",
    "background-on-disconnect[depth=1]",
    "depth-sweep[depth=2,endpoint=streaming,when=now]",
    "no-disconnect[stack=base*4,endpoint=slow]",
]

#: The task group of the middleware is cancelled as soon as the inner app reads http.disconnect:
#: no layer's code after call_next runs and nothing is sent (the fidelity issue's first example).
CANCEL_ON_DISCONNECT = [
    (
        "        async def call_next(request: Request) -> Response:\n",
        "        async def call_next(request: Request) -> Response:\n            _outer = task_group\n",
    ),
    (
        '                if response_sent.is_set():\n                    return {"type": "http.disconnect"}\n\n'
        "                return message\n",
        '                if message["type"] == "http.disconnect":\n'
        "                    _outer.cancel_scope.cancel()\n"
        '                if response_sent.is_set():\n                    return {"type": "http.disconnect"}\n\n'
        "                return message\n",
    ),
]

#: The response call_next returns stops sending once the client's http.disconnect arrives, as
#: StreamingResponse's disconnect listener made it do on 0.28.0 - 0.38.2.
STOP_ON_DISCONNECT = [
    (
        "                await response(scope, wrapped_receive, send)\n",
        "                async with anyio.create_task_group() as _listener:\n\n"
        "                    async def _listen() -> None:\n"
        "                        while True:\n"
        '                            if (await wrapped_receive())["type"] == "http.disconnect":\n'
        "                                _listener.cancel_scope.cancel()\n"
        "                                return\n\n"
        "                    _listener.start_soon(_listen)\n"
        "                    await response(scope, wrapped_receive, send)\n"
        "                    _listener.cancel_scope.cancel()\n",
    ),
]


def planted(changes: list[tuple[str, str]]) -> type:
    """``BaseHTTPMiddleware`` from the installed source with ``changes`` made, in a fresh module."""
    import starlette.middleware.base as base

    source = inspect.getsource(base)
    for old, new in changes:
        assert source.count(old) == 1, f"the planted change no longer fits this Starlette: {old!r}"
        source = source.replace(old, new)
    module = types.ModuleType("starlette.middleware.base_planted")
    exec(compile(source, "<planted base.py>", "exec"), module.__dict__)
    return module.BaseHTTPMiddleware


def records(backend: str) -> list[dict[str, object]]:
    scenarios = select(load_catalogue(), SELECTION)
    jobs = plan(scenarios, backends=[backend], profiles=["uvicorn", "hypercorn"], repeats=3)
    return [r.to_json() for r in run_jobs(jobs, RunConfig())]


@pytest.fixture
def with_planted(monkeypatch: pytest.MonkeyPatch) -> object:
    import starlette.middleware.base as base

    def plant(changes: list[tuple[str, str]]) -> None:
        monkeypatch.setattr(base, "BaseHTTPMiddleware", planted(changes))

    return plant


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("changes", "observation"),
    [(CANCEL_ON_DISCONNECT, "layers skipped"), (STOP_ON_DISCONNECT, "response")],
    ids=["task-group-cancelled-on-disconnect", "response-stops-on-disconnect"],
)
def test_the_gate_fails_on_a_planted_regression_naming_the_observation(with_planted, backend, changes, observation):
    before = records(backend)
    with_planted(changes)  # type: ignore[operator]
    after = records(backend)
    diffs, _, _ = compare(before, after)
    bad = failing(diffs, strict=False)
    assert bad, "the gate passed a planted regression"
    named = [d for d in bad if observation in d.why]
    assert named, [(d.scenario, d.why) for d in bad]
    assert not any(d.verdict == "better" for d in diffs), [(d.scenario, d.why) for d in diffs if d.verdict == "better"]
