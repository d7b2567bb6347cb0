"""Fitting a profile's receive() delay: the weights that best explain a real server's rates."""

from __future__ import annotations

import random

import pytest

from harness.errors import UsageError
from harness.servers import FitCell, cells_from_agreement, fit_weights

# Three cells whose outcome turns at different delays, like 0.37.2's depths 4, 5 and 6 under granian.
BY_DELAY = {
    "depth4": ["lost", "ok", "ok", "ok", "ok"],
    "depth5": ["lost", "lost", "ok", "ok", "ok"],
    "depth6": ["lost", "lost", "lost", "lost", "ok"],
}


def _sample(weights: list[float], n: int, seed: int) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    out: dict[str, dict[str, int]] = {}
    for name, by in BY_DELAY.items():
        counts: dict[str, int] = {}
        for k in rng.choices(range(len(weights)), weights, k=n):
            counts[by[k]] = counts.get(by[k], 0) + 1
        out[name] = counts
    return out


def test_the_fit_recovers_the_weights_the_runs_were_drawn_from():
    truth = [0.1, 0.2, 0.3, 0.0, 0.4]  # delays 2 and 3 give the same outcomes: their sum is what counts
    real = _sample(truth, 4000, seed=1)
    fit = fit_weights([FitCell(n, real[n], by) for n, by in BY_DELAY.items()])
    w = fit.weights
    assert abs(sum(w) - 1) < 0.01
    assert abs(w[0] - 0.1) < 0.02 and abs(w[1] - 0.2) < 0.02 and abs(w[2] + w[3] - 0.3) < 0.02
    assert abs(w[4] - 0.4) < 0.02
    assert fit.unexplained == 0 and fit.runs == 3 * 4000


def test_predicted_rates_match_the_real_ones_of_a_fitted_cell():
    real = {"depth4": {"ok": 90, "lost": 10}, "depth5": {"ok": 70, "lost": 30}, "depth6": {"ok": 20, "lost": 80}}
    cells = [FitCell(n, real[n], by) for n, by in BY_DELAY.items()]
    fit = fit_weights(cells)
    for c in cells:
        assert abs(fit.predicted(c).get("lost", 0) - c.real["lost"] / 100) < 0.02


def test_a_rare_delay_the_runs_need_is_never_rounded_away():
    # One run in 5,000 is only explained by delay 0 ("lost" at depth 4): its weight is ~0.0002.
    real = {"depth4": {"ok": 4999, "lost": 1}, "depth5": {"ok": 5000}, "depth6": {"ok": 5000}}
    fit = fit_weights([FitCell(n, real[n], by) for n, by in BY_DELAY.items()])
    assert 0 < fit.weights[0] <= 0.002, fit.weights
    assert fit.predicted(FitCell("depth4", real["depth4"], BY_DELAY["depth4"])).get("lost", 0) > 0


def test_outcomes_no_delay_gives_and_requests_never_served_are_kept_out_and_counted():
    cells = [FitCell("c", {"ok": 5, "exception": 2, "not_applicable": 3}, ["ok", "ok"])]
    fit = fit_weights(cells)
    assert fit.unexplained == 2 and fit.runs == 7


def test_only_done_cells_of_the_named_server_with_per_delay_outcomes_are_used():
    rows = [
        {
            "server": "granian",
            "status": "done",
            "starlette": "0.37.2",
            "scenario": "a",
            "real": {"ok": 1},
            "scripted_by_delay": ["ok"],
        },
        {
            "server": "granian",
            "status": "crashed",
            "starlette": "0.37.2",
            "scenario": "b",
            "real": {},
            "scripted_by_delay": ["ok"],
        },
        {"server": "uvicorn-h11", "status": "done", "starlette": "0.37.2", "scenario": "c", "real": {"ok": 1}},
    ]
    assert [c.name for c in cells_from_agreement(rows, "granian")] == ["0.37.2 a"]
    with pytest.raises(UsageError, match="no cell carries scripted_by_delay"):
        fit_weights(cells_from_agreement(rows, "hypercorn-asyncio"))


def test_a_run_under_a_profile_with_a_delay_distribution_records_its_seed_and_the_delay_it_drew():
    from harness.run import plan, run_jobs
    from harness.scenario import Scenario, get_profile

    s = Scenario("adhoc", "test", "test", "base*2", "fast", "request,disconnect")
    jobs = plan([s], backends=["asyncio"], profiles=["granian", "uvicorn"], repeats=6, seed=40)
    records = run_jobs(jobs)
    granian = [r for r in records if r.profile == "granian"]
    assert [r.seed for r in granian] == list(range(40, 46))
    assert [r.receive_delay for r in granian] == [get_profile("granian").for_run(r.seed).receive_delay for r in granian]
    assert all(r.seed is None and r.receive_delay is None for r in records if r.profile == "uvicorn")


def test_a_drawn_delay_of_zero_is_recorded_as_zero_not_as_none(monkeypatch):
    import dataclasses

    from harness.run import plan, run_jobs
    from harness.scenario import Scenario, get_profile
    from harness.scenario import _profiles as profiles

    half = dataclasses.replace(get_profile("granian"), name="half", receive_delay_weights=(0.5, 0.5))
    monkeypatch.setitem(profiles.PROFILES, "half", half)
    s = Scenario("adhoc", "test", "test", "base*2", "fast", "request,disconnect")
    records = run_jobs(plan([s], backends=["asyncio"], profiles=["half"], repeats=20, seed=1))
    assert sorted({r.receive_delay for r in records}) == [0, 1], [r.receive_delay for r in records]
