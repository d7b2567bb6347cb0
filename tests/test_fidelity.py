"""What a run observed, beside its outcome: the response, each layer's trace, and the scenario's own
expectations, checked apart from the verdict (against the Starlette installed here)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.run import run_one
from harness.scenario import Scenario, load_catalogue
from harness.scenario import starlette_version as installed

CATALOGUE = {s.name: s for s in load_catalogue()}


def one(name: str, backend: str = "asyncio", profile: str = "uvicorn", **changes: Any) -> dict[str, Any]:
    scenario = CATALOGUE[name]
    if changes:
        import dataclasses

        scenario = dataclasses.replace(scenario, **changes)
    return run_one(scenario, backend=backend, profile=profile, seed=0).to_json()


def adhoc(stack: str, endpoint: str, receive: str, expectations: tuple[str, ...] = ()) -> Scenario:
    return Scenario("adhoc", "test", "test", stack, endpoint, receive, expectations=expectations)


def test_the_seed_on_a_current_release_is_ok_with_its_send_gen_expectation_recorded_as_not_met():
    if installed().major < 1:
        pytest.skip("the newest releases send the whole response; this suite runs against one of them")
    r = one("pr1634-seed", profile="gen-end")
    assert r["outcome"] == "ok"
    assert r["expectations"] == [
        {
            "name": "only-start-sent",
            "met": False,
            "detail": "sent http.response.start, http.response.body, http.response.body",
        }
    ]
    assert r["response"] == "complete"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_layer_reports_what_call_next_gave_it_and_whether_its_code_went_on(backend):
    r = run_one(adhoc("base*3", "fast", "request", ("every-layer-completed",)), backend=backend, profile="uvicorn")
    rec = r.to_json()
    assert rec["outcome"] == "ok" and rec["response"] == "complete"
    assert [la["layer"] for la in rec["layers"]] == [1, 2, 3]
    assert all(la["call_next"] == "response" and la["after_call_next"] for la in rec["layers"])
    assert rec["raised_in"] is None
    assert rec["expectations"][0]["met"] is True


def test_the_layer_an_exception_began_in_is_named_and_the_endpoint_is_layer_zero():
    rec = run_one(adhoc("base*2", "raises", "request"), backend="asyncio", profile="uvicorn").to_json()
    assert rec["outcome"] == "exception"
    assert rec["raised_in"] == 0
    assert all(la["call_next"].startswith("raised EndpointError") for la in rec["layers"])
    assert all(not la["after_call_next"] for la in rec["layers"])


def test_a_silent_inner_app_makes_the_innermost_layer_raise_no_response_returned():
    rec = run_one(adhoc("base*3", "silent", "request"), backend="asyncio", profile="uvicorn").to_json()
    assert rec["outcome"] == "no_response_returned"
    assert rec["raised_in"] == 3, rec["layers"]
    assert rec["layers"][2]["raised"] == "RuntimeError: No response returned."
    assert rec["response"] == "none"


def test_what_each_layer_received_is_recorded():
    rec = run_one(adhoc("asgi,base", "body", "request:hi"), backend="asyncio", profile="uvicorn").to_json()
    assert rec["layers"][0]["received"][0] == "http.request"
    assert "call_next" not in rec["layers"][0], "a pure ASGI layer has no dispatch to trace"
    assert rec["layers"][1]["dispatched"] is True


def test_an_unknown_expectation_is_one_line_naming_the_scenario():
    from harness.errors import UsageError

    with pytest.raises(UsageError, match="scenario 'adhoc': unknown expectation 'nope'; choose from"):
        adhoc("base", "fast", "request", ("nope",)).validate()


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_trace_does_not_change_what_the_app_does(backend):
    """The recorder around each layer adds no scheduling point: every seed gives the same outcome,
    receive calls and messages with the trace as without it, and on trio the very same number of
    task steps (a checkpoint added anywhere would show there)."""
    import trio
    import trio.testing

    from harness.run import drive, get_backend, make_scope
    from harness.run.backends import VirtualTimeLoop, seed_trio_scheduler
    from harness.scenario import (
        EndpointState,
        StackTrace,
        build_endpoint,
        build_stack,
        get_profile,
        parse_script,
        parse_stack,
    )

    class Steps(trio.abc.Instrument):
        count = 0

        def before_task_step(self, task: Any) -> None:
            self.count += 1

    def once(traced: bool, seed: int) -> tuple[Any, ...]:
        b = get_backend(backend)
        result: list[Any] = []

        async def main() -> None:
            trace = StackTrace(loop=b) if traced else None
            app = build_stack(parse_stack("asgi,base*4"), build_endpoint("slow", b, EndpointState()), trace)
            profile = get_profile("hypercorn")
            d = await drive(
                app,
                script=parse_script("request,wait:idle,disconnect"),
                profile=profile,
                backend=b,
                scope=make_scope(profile),
            )
            result.append((d.outcome, d.conn.receive_calls, [m.type for m in d.conn.sent]))

        if backend == "trio":
            seed_trio_scheduler(seed)
            steps = Steps()
            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0), instruments=[steps])
            return (*result[0], steps.count)
        import asyncio

        loop = VirtualTimeLoop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
            asyncio.set_event_loop(None)
        return result[0]

    for seed in range(8 if backend == "trio" else 1):
        assert once(True, seed) == once(False, seed), seed


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_background_task_runs_after_the_whole_response_since_1_7(backend):
    if installed() < __import__("packaging.version").version.Version("1.7.0"):
        pytest.skip("1.7.0 made the final send wait for the outer response (#3476)")
    for depth in (1, 4):
        rec = one(f"background-after-response-sent[depth={depth}]", backend=backend)
        assert rec["outcome"] == "ok"
        assert all(e["met"] for e in rec["expectations"]), rec["expectations"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_background_tasks_error_reaches_the_server_since_0_46(backend):
    if installed() < __import__("packaging.version").version.Version("0.46.0"):
        pytest.skip("0.46.0 re-raises the background task's exception (#2812)")
    for depth in (1, 4):
        rec = one(f"background-error-raised[depth={depth}]", backend=backend)
        assert rec["outcome"] == "exception" and rec["exception"]["type"].endswith("EndpointError")
        assert rec["response"] == "complete"
        assert all(e["met"] for e in rec["expectations"]), rec["expectations"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_error_caught_around_call_next_is_not_raised_again_since_0_46_2(backend):
    if installed() < __import__("packaging.version").version.Version("0.46.2"):
        pytest.skip("0.46.2 stopped re-raising a caught exception (#2911)")
    for depth in (1, 4):
        rec = one(f"caught-endpoint-error[depth={depth}]", backend=backend)
        assert rec["outcome"] == "ok" and rec["response"] == "complete"
        assert all(e["met"] for e in rec["expectations"]), rec["expectations"]
