"""The whole scenario catalogue against the Starlette installed here, on asyncio and trio.

Runs through anyio's own pytest plugin (the ``anyio_backend`` fixture in conftest gives it the
harness's virtual clock). Two kinds of expectation:

- rules that hold on every release (the no-disconnect controls are ``ok`` with a complete
  response; a silent inner app is "No response returned."; an endpoint's exception surfaces);
- the recorded baseline (``tests/baseline.json``, written from the full matrix): the outcome here
  must be one of the outcomes recorded for this release (or, for a release the baseline does not
  know, such as a development checkout, for the newest release it knows).

A mismatch fails with the command that reproduces it. Every outcome is listed in the terminal
summary.
"""

from __future__ import annotations

import pytest

from harness import Job, RunConfig, environment, load_catalogue, run_job
from harness.results import Baseline, run_command
from harness.scenario import DEFAULT_PROFILES
from tests.conftest import CATALOGUE_OUTCOMES

pytestmark = pytest.mark.anyio

CATALOGUE = load_catalogue()
ENV = environment()
BASELINE = Baseline.load()
REFERENCE = BASELINE.reference_version(ENV["starlette"] or "")


def _profiles(scenario):
    return scenario.profiles or DEFAULT_PROFILES


@pytest.mark.parametrize("scenario", CATALOGUE, ids=[s.name for s in CATALOGUE])
async def test_scenario(scenario, backend):
    from harness.scenario import dist_version

    missing = [name for name in scenario.needs if dist_version(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (run in a FastAPI matrix cell: nox -s matrix -- --fastapi ...)")
    records = []
    for profile in _profiles(scenario):
        await backend.wait_all_tasks_blocked()
        backend.seed(0)
        job = Job(scenario, backend.name, profile, 0, 0 if backend.name == "trio" else None)
        record = await run_job(job, backend, RunConfig(), ENV)
        CATALOGUE_OUTCOMES[(scenario.name, backend.name, profile)][record.outcome] += 1
        records.append(record)

    for r in records:
        assert r.outcome != "not_applicable", r.detail
        if scenario.family == "no-disconnect":
            assert (r.outcome, r.complete_response) == ("ok", True), r.detail
        elif scenario.family == "silent-inner":
            assert r.outcome == "no_response_returned", r.detail
        elif scenario.family == "endpoint-raises":
            assert r.outcome == "exception", r.detail
            assert r.exception["type"] == "harness.scenario.EndpointError", r.detail

    for r in records:
        expected = BASELINE.expected(r.scenario, r.backend, r.profile, REFERENCE)
        repro = run_command(r.to_json())
        assert expected is not None, (
            f"no baseline entry for {r.scenario} {r.backend} {r.profile}; "
            "run nox -s matrix && nox -s baseline and commit tests/baseline.json"
        )
        assert r.outcome in expected, (
            f"Starlette {ENV['starlette']}: {r.outcome} ({r.detail}), but the baseline for {REFERENCE} "
            f"records {'/'.join(sorted(expected))}; reproduce with: {repro}"
        )
