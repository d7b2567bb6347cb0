"""Fuzzing the harness for its own faults: any run the grammar admits ends classified, in bounds.

Hypothesis draws scenarios from the harness's own registries (``LAYERS`` for stacks, ``ENDPOINTS``,
the receive-script steps with ``WAIT_CONDITIONS``, ``PROFILES``, ``BACKENDS``, ``EXPECTATIONS``) and
run bounds (``RunConfig``), and runs every drawn scenario through the public API (``plan`` and
``run_jobs``), many runs per example. Whatever the app does (raise, hang, break the protocol,
lose its response) is a verdict; what the harness must never do is fail to give one. A run shows a
*harness* fault, and the test fails, when:

1. anything escapes ``plan`` or ``run_jobs``: input drawn within the grammar must never be refused,
   and nothing the app does may reach the caller (the app's exceptions belong in records);
2. the records do not answer the jobs: one record per job, each naming its job's scenario,
   backend, profile and repeat, with an outcome from ``OUTCOMES`` and a line that serialises as
   JSON (the results file's contract);
3. a run took longer than its bounds allow: the wall-clock backstop (``real_timeout``) plus the
   unwinding the backends grant a cancelled app, its client and each leaked task (1 s each, the
   backends' grace); and a ``hang`` says which bound it reached, consistently with its time;
4. a recorded exception was raised from the harness's own code and is not one of the exceptions the
   harness raises into the app on purpose: ``harness.errors``' ``ASGIProtocolError``,
   ``ClientDisconnected`` and ``ContentLengthError`` (what a server raises), the catalogue's
   ``EndpointError`` (the ``raises`` endpoints), and ``StopAsyncIteration`` from ``receive`` under
   a profile whose generator ends (``gen-end``);
5. a recorded exception (or an event-loop error) is a Python programming error (``AttributeError``,
   ``TypeError``, ``KeyError``, ``IndexError``, ``NameError``, ``UnboundLocalError``,
   ``AssertionError``) wherever it was raised: on the installed Starlette, fed a valid ASGI
   conversation, such an error is far more likely the harness handing it something malformed than
   Starlette's own bug, so it is looked at before it is believed;
6. a traced run has not one trace entry per layer of its stack.

The default run is small and derandomised (the same examples every time, no database); ``nox -s
fuzz`` runs the long profile (``HARNESS_FUZZ_EXAMPLES`` examples, random, with a database under
``.cache/`` so a failure replays). A case the long run found is kept below as a plain test.
"""

from __future__ import annotations

import json
import os
import string
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from harness import defaults
from harness.errors import ASGIProtocolError, ClientDisconnected, ContentLengthError
from harness.run import (
    BACKENDS,
    HANG,
    NOT_APPLICABLE,
    OUTCOMES,
    Job,
    RunConfig,
    RunRecord,
    backend_available,
    plan,
    run_jobs,
)
from harness.scenario import (
    ENDPOINTS,
    EXPECTATIONS,
    LAYERS,
    MAX_DEPTH,
    PROFILES,
    WAIT_CONDITIONS,
    Disconnect,
    EndpointError,
    ReceiveScript,
    Request,
    Scenario,
    Wait,
    parse_script,
    parse_stack,
)

ROOT = Path(__file__).resolve().parent.parent

#: Without the explain phase: it reruns a shrunk failure hundreds of times to say which parts of it
#: matter, minutes for runs of a second, and the shrunk case already says it.
PHASES = [p for p in Phase if p != Phase.explain]
#: ``nox -s fuzz`` sets this: the long run's number of examples (random, with a database).
LONG_RUN = os.environ.get("HARNESS_FUZZ_EXAMPLES", "")
if LONG_RUN and not LONG_RUN.isdigit():
    pytest.exit(f"HARNESS_FUZZ_EXAMPLES={LONG_RUN!r}: must be a number of examples, e.g. 3000", returncode=2)
FUZZ_SETTINGS = (
    settings(
        max_examples=int(LONG_RUN),
        deadline=None,
        database=DirectoryBasedExampleDatabase(str(ROOT / defaults.CACHE_DIR / "hypothesis")),
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
        phases=PHASES,
    )
    if LONG_RUN
    else settings(max_examples=40, deadline=None, derandomize=True, database=None, phases=PHASES)
)
#: The exceptions the harness raises into the app on purpose (see the module docstring, rule 4).
INTO_THE_APP = {
    f"{cls.__module__}.{cls.__name__}" for cls in (ASGIProtocolError, ClientDisconnected, ContentLengthError)
} | {f"{EndpointError.__module__}.{EndpointError.__name__}"}
#: Where ``receive`` ends like an exhausted generator (the ``end`` profiles).
GENERATOR_END = ("StopAsyncIteration", "harness/run/_receive.py:")
#: Rule 5: what a valid ASGI conversation should never make anyone raise.
PROGRAMMING_ERRORS = (
    "AttributeError",
    "TypeError",
    "KeyError",
    "IndexError",
    "NameError",
    "UnboundLocalError",
    "AssertionError",
)
#: Real seconds the backends give a cancelled app, its client and each leaked task to unwind.
UNWIND_S = 1.0
#: Scheduling slack on a shared 2-core machine (a run's wall time is measured, not virtual).
SLACK_S = 2.0

#: The backends this environment has (``asyncio+uvloop`` needs uvloop, and runs on the real clock
#: only): a backend that is missing only ever gives ``not_applicable``, which the CLI tests cover.
AVAILABLE = [name for name in BACKENDS if backend_available(name) is None]

#: What the examples drew and ran, printed at the end of the module (``nox -s fuzz`` shows it).
TALLY: Counter[str] = Counter()


# --- strategies: the grammar, from the harness's own registries ---------------------------------------


@st.composite
def stacks(draw: st.DrawFn) -> str:
    """A stack in its text form: ``kind[*n]`` parts from ``LAYERS``, at most ``MAX_DEPTH`` deep."""
    parts = draw(st.lists(st.tuples(st.sampled_from(sorted(LAYERS)), st.integers(1, 8)), max_size=5))
    if not parts:
        return draw(st.sampled_from(["", "none"]))
    total = 0
    kept = []
    for kind, n in parts:
        n = min(n, MAX_DEPTH - total)
        if n < 1:
            break
        kept.append(kind if n == 1 and draw(st.booleans()) else f"{kind}*{n}")
        total += n
    return ",".join(kept)


BODIES = st.text(alphabet=string.ascii_letters + string.digits, max_size=6).map(lambda s: s.encode("latin-1"))
REQUESTS = st.builds(Request, BODIES, st.booleans())
WAITS = st.one_of(
    st.integers(0, 64).map(lambda n: Wait("checkpoints", n)),
    st.sampled_from([c for c in WAIT_CONDITIONS if c != "chunks"]).map(Wait),
    st.integers(1, 5).map(lambda n: Wait("chunks", n)),
)


@st.composite
def scripts(draw: st.DrawFn) -> ReceiveScript:
    """A script the grammar admits: no request after the final body chunk, a disconnect only last,
    never a wait last (a disconnect closes a script that would end on one)."""
    steps: list[Request | Wait | Disconnect] = []
    body_done = False
    for step in draw(st.lists(st.one_of(REQUESTS, WAITS), max_size=6)):
        if isinstance(step, Request):
            if body_done:
                continue
            body_done = not step.more_body
        steps.append(step)
    if draw(st.booleans()) or not steps or isinstance(steps[-1], Wait):
        steps.append(Disconnect())
    return ReceiveScript(tuple(steps))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    return Scenario(
        name="fuzz",
        description="drawn by tests/test_fuzz.py",
        source="tests/test_fuzz.py",
        stack=draw(stacks()),
        endpoint=draw(st.sampled_from(sorted(ENDPOINTS))),
        receive=str(draw(scripts())),
        method=draw(st.sampled_from(["GET", "POST"])),
        expectations=tuple(draw(st.lists(st.sampled_from(sorted(EXPECTATIONS)), max_size=3, unique=True))),
    )


CONFIGS = st.builds(
    RunConfig,
    # Short virtual timeouts cut the app off at every point of its run (receive, send, a layer's
    # stream, a background task), where a harness unwinding the run has the most to get wrong.
    timeout=st.one_of(st.just(defaults.RUN_TIMEOUT), st.floats(0.001, 12.0)),
    # A short wall-clock backstop takes the other way out of a run (the watchdog, not the clock).
    real_timeout=st.one_of(st.just(defaults.REAL_TIMEOUT), st.floats(0.02, 1.0)),
)


# --- the property -------------------------------------------------------------------------------------


def tally_line() -> str:
    outcomes = ", ".join(f"{o} {TALLY[o]}" for o in OUTCOMES if TALLY[o])
    return f"fuzz: {TALLY['examples']} examples, {TALLY['runs']} runs in {time.perf_counter() - STARTED:.0f} s ({outcomes})"


STARTED = time.perf_counter()


@pytest.fixture(scope="module", autouse=True)
def _report_tally() -> Iterator[None]:
    yield
    if TALLY:
        print("\n" + tally_line())


@FUZZ_SETTINGS
@given(
    scenario=scenarios(),
    backends=st.lists(st.sampled_from(AVAILABLE), min_size=1, max_size=len(AVAILABLE), unique=True),
    profiles=st.lists(st.sampled_from(sorted(PROFILES)), min_size=1, max_size=3, unique=True),
    repeats=st.integers(1, 3),
    seed=st.integers(0, 2**16),
    config=CONFIGS,
)
def test_every_run_the_grammar_admits_ends_classified_within_its_bounds(
    scenario: Scenario, backends: list[str], profiles: list[str], repeats: int, seed: int, config: RunConfig
) -> None:
    check_runs(scenario, backends, profiles, repeats, seed, config)


def check_runs(
    scenario: Scenario, backends: list[str], profiles: list[str], repeats: int, seed: int, config: RunConfig
) -> list[RunRecord]:
    """Run the drawn jobs and hold every record to the module docstring's rules; the records."""
    # The grammar's own text forms read back as what was drawn, and the scenario is valid.
    assert parse_stack(str(parse_stack(scenario.stack))) == parse_stack(scenario.stack)
    assert str(parse_script(scenario.receive)) == scenario.receive
    scenario.validate()
    jobs = plan([scenario], backends=backends, profiles=profiles, repeats=repeats, seed=seed)
    started = time.perf_counter()
    records = run_jobs(jobs, config)  # rule 1: nothing escapes
    wall = time.perf_counter() - started
    TALLY["examples"] += 1
    TALLY["runs"] += len(records)
    TALLY.update(r.outcome for r in records)
    if LONG_RUN and TALLY["examples"] % 250 == 0:
        print("\n" + tally_line(), flush=True)  # a long run shows that it is alive, and where it is
    assert len(records) == len(jobs), f"{len(jobs)} jobs gave {len(records)} records"
    for job, record in zip(sorted(jobs, key=_key), sorted(records, key=_key), strict=True):
        check_record(job, record, config)
    budget = sum(config.real_timeout + UNWIND_S * (2 + r.leaked_tasks) for r in records) + SLACK_S
    assert wall <= budget, f"{len(jobs)} runs took {wall:.1f} s, bounds allow {budget:.1f} s"
    return records


def _key(item: Job | RunRecord) -> tuple[str, str, int]:
    return (item.backend, item.profile, item.repeat)


def check_record(job: Job, record: RunRecord, config: RunConfig) -> None:
    """Rules 2-6 for one record of ``job``."""
    where = f"{record.backend}/{record.profile}#{record.repeat} {job.scenario.record_params()}: {record.detail}"
    assert (record.scenario, record.backend, record.profile, record.repeat) == (
        job.scenario.name,
        job.backend,
        job.profile,
        job.repeat,
    )
    assert record.outcome in OUTCOMES, where
    json.dumps(record.to_json())
    bound = config.real_timeout + UNWIND_S * (2 + record.leaked_tasks) + SLACK_S
    assert record.elapsed_s <= bound, f"ran {record.elapsed_s:.2f} s past its bounds: {where}"
    if record.outcome == HANG:
        assert record.detail.startswith("did not finish within"), where
        if "wall clock" in record.detail:
            assert record.elapsed_s >= config.real_timeout, where
    exc = record.exception
    if exc is not None:
        assert not harness_fault(exc), f"harness fault: {exc}: {where}"
    for error in record.loop_errors:
        assert not any(f"{name}:" in error for name in PROGRAMMING_ERRORS), f"loop error {error!r}: {where}"
    if record.outcome != NOT_APPLICABLE:
        assert len(record.layers) == job.scenario.parsed_stack().depth, where


def harness_fault(exc: Any) -> bool:
    """Rules 4 and 5 on a record's ``exception``: raised by the harness and not on purpose, or a
    programming error anywhere."""
    kind, raised_at = str(exc["type"]), str(exc["where"])
    if kind.rsplit(".", 1)[-1] in PROGRAMMING_ERRORS:
        return True
    if not raised_at.startswith("harness/"):
        return False
    if kind in INTO_THE_APP:
        return False
    return not (kind == GENERATOR_END[0] and raised_at.startswith(GENERATOR_END[1]))


# --- the rules themselves can fail --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "fault"),
    [
        # What the app does is a verdict: Starlette's own error, the catalogue's, a server's.
        ({"type": "RuntimeError", "where": "starlette/middleware/base.py:call_next:166"}, False),
        ({"type": "harness.scenario.EndpointError", "where": "harness/scenario/_endpoints.py:raises:120"}, False),
        ({"type": "harness.errors.ContentLengthError", "where": "harness/run/_send.py:_check_length:70"}, False),
        ({"type": "StopAsyncIteration", "where": "harness/run/_receive.py:__call__:84"}, False),
        # The harness's own code raising what it never means to raise, or a programming error anywhere.
        ({"type": "RuntimeError", "where": "harness/run/_receive.py:_next_message:117"}, True),
        ({"type": "StopAsyncIteration", "where": "harness/run/_send.py:__call__:40"}, True),
        ({"type": "KeyError", "where": "starlette/requests.py:receive:230"}, True),
        ({"type": "builtins.AttributeError", "where": "harness/run/_connection.py:notify:70"}, True),
    ],
)
def test_an_exception_is_the_harness_fault_only_when_the_harness_raised_it_by_mistake(exception, fault):
    assert harness_fault(exception) is fault


PLAIN = Scenario(name="fuzz", description="", source="", stack="base", endpoint="fast", receive="request")


def test_a_fault_planted_in_the_harness_send_fails_the_check(monkeypatch):
    """A bug of the harness's ``send`` reaches the record as the app's exception; the rules must
    call it the harness's."""
    from harness.run import RecordingSend

    original = RecordingSend.__call__

    async def broken(self: RecordingSend, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise AttributeError("planted: 'Connection' object has no attribute 'chunks'")
        await original(self, message)

    check_runs(PLAIN, ["asyncio", "trio"], ["uvicorn"], 1, 0, RunConfig())  # sound as it is
    monkeypatch.setattr(RecordingSend, "__call__", broken)
    with pytest.raises(AssertionError, match=r"harness fault: .*AttributeError"):
        check_runs(PLAIN, ["asyncio"], ["uvicorn"], 1, 0, RunConfig())


def test_records_that_do_not_answer_their_jobs_fail_the_check(monkeypatch):
    """A record lost (a poisoned loop that drops a run) is caught by counting records against jobs."""
    import harness.run

    def losing(jobs: Any, config: RunConfig = RunConfig()) -> list[RunRecord]:
        return harness.run.run_jobs(list(jobs)[1:], config)

    monkeypatch.setattr(sys.modules[__name__], "run_jobs", losing)
    with pytest.raises(AssertionError, match="2 jobs gave 1 records"):
        check_runs(PLAIN, ["asyncio"], ["uvicorn"], 2, 0, RunConfig())


# --- cases the fuzz found, kept --------------------------------------------------------------------


def _leaves(exc: BaseException) -> list[BaseException]:
    inner = getattr(exc, "exceptions", None)
    return [leaf for e in inner for leaf in _leaves(e)] if inner else [exc]


#: The fuzz's shrunk case for a client that fails (a fault planted in the client's ``wait:chunks``).
CLIENT_WAITS = Scenario(
    name="fuzz", description="", source="", stack="", endpoint="background", receive="wait:chunks=3,disconnect"
)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_a_failure_of_the_harness_own_client_leaves_the_run_on_every_backend(monkeypatch, backend):
    """Found by fuzzing with a fault planted in the client script: trio's nursery raised it, asyncio
    dropped it and recorded the run ``ok`` (the app never needed the client), hiding a harness bug
    behind a verdict."""
    from harness.run import ScriptedReceive

    async def failing(self: ScriptedReceive) -> None:
        raise KeyError("planted: the client's own bug")

    monkeypatch.setattr(ScriptedReceive, "run_client", failing)
    jobs = plan([CLIENT_WAITS], backends=[backend], profiles=["daphne"])
    with pytest.raises(BaseException) as info:  # noqa: PT011 - trio raises it in a group, asyncio alone
        run_jobs(jobs)
    assert [str(leaf) for leaf in _leaves(info.value)] == ['"planted: the client\'s own bug"']
