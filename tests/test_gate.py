"""The upgrade gate's rules, its outputs, and the report merge that CI fan-out relies on."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.results import BETTER, CHANGED, SAME, WORSE, compare, failing, judge, load_files, publish
from tests.conftest import run_harness

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ({"ok": 5}, {"ok": 5}, SAME),
        ({"ok": 5}, {"no_response_returned": 5}, WORSE),
        ({"ok": 5}, {"ok": 4, "no_response_returned": 1}, WORSE),
        ({"exception": 5}, {"exception": 3, "ok": 2}, WORSE),  # a new flake
        ({"exception": 5}, {"hang": 5}, WORSE),  # a new hang
        ({"exception": 5}, {"exited": 5}, WORSE),  # the app now ends its process
        ({"no_response_returned": 5}, {"ok": 5}, BETTER),
        ({"no_response_returned": 5}, {"exception": 5}, CHANGED),
    ],
)
def test_what_counts_as_worse(before, after, verdict):
    assert judge(Counter(before), Counter(after))[0] == verdict


def observed(**values):
    return {k.replace("_", " "): set(v) for k, v in values.items()}


@pytest.mark.parametrize(
    ("before", "after", "obs_before", "obs_after", "verdict", "why"),
    [
        # the planted regression of the fidelity issue: exception -> ok, but nothing reaches the client
        (
            {"exception": 5},
            {"ok": 5},
            observed(response={"partial"}),
            observed(response={"none"}),
            WORSE,
            "response partial -> none",
        ),
        ({"ok": 5}, {"ok": 5}, observed(response={"complete"}), observed(response={"none"}), WORSE, "response"),
        ({"ok": 5}, {"ok": 5}, observed(layers_skipped={0}), observed(layers_skipped={0, 3}), WORSE, "layers skipped"),
        (
            {"ok": 5},
            {"ok": 5},
            observed(background_task={"ran"}),
            observed(background_task={"did not run"}),
            WORSE,
            "background task ran -> did not run",
        ),
        ({"ok": 5}, {"ok": 5}, observed(endpoint={"finished"}), observed(endpoint={"cancelled"}), WORSE, "endpoint"),
        # better only when no observation got worse
        (
            {"no_response_returned": 5},
            {"ok": 5},
            observed(response={"none"}),
            observed(response={"complete"}),
            BETTER,
            "response none -> complete",
        ),
        # same class, an observation moved for the better: a change, not a pass in silence
        ({"ok": 5}, {"ok": 5}, observed(response={"partial"}), observed(response={"complete"}), CHANGED, "response"),
        ({"ok": 5}, {"ok": 5}, observed(response={"complete"}), observed(response={"complete"}), SAME, ""),
        # an endpoint that is no longer called is not an improvement, whatever the class did
        (
            {"exception": 5},
            {"ok": 5},
            observed(endpoint={"finished"}),
            observed(endpoint={"not started"}),
            WORSE,
            "endpoint",
        ),
        # sometimes complete before, never now: worse even though the worst value is the same
        (
            {"ok": 3, "no_response_returned": 2},
            {"no_response_returned": 5},
            observed(response={"complete", "none"}),
            observed(response={"none"}),
            WORSE,
            "response complete/none -> none",
        ),
        # a scenario's own expectation that no longer holds
        (
            {"ok": 5},
            {"ok": 5},
            {"expectation context-exited": {"met"}},
            {"expectation context-exited": {"not met"}},
            WORSE,
            "expectation context-exited met -> not met",
        ),
    ],
)
def test_a_cell_is_judged_on_what_the_app_did_not_only_on_its_class(before, after, obs_before, obs_after, verdict, why):
    got, message = judge(Counter(before), Counter(after), obs_before, obs_after)
    assert got == verdict and why in message, message


def rec(version, scenario, outcome, repeat=0, **extra):
    return {
        "schema": 1,
        "starlette": version,
        "scenario": scenario,
        "backend": "asyncio",
        "profile": "uvicorn",
        "outcome": outcome,
        "repeat": repeat,
        "seed": None,
        "params": {},
        "python": "3.11.7",
        "anyio": "4.16.0",
        "trio": "0.35.0",
        "resolution": "pinned",
        "elapsed_s": 0.001,
        "detail": "",
        "sent": [],
        "receive_calls": [],
        **extra,
    }


def test_the_gate_fails_on_worse_cells_and_says_so_in_junit_and_the_step_summary(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    before = [rec("0.27.0", "a", "ok"), rec("0.27.0", "b", "no_response_returned")]
    after = [rec("0.28.0", "a", "no_response_returned"), rec("0.28.0", "b", "ok")]
    diffs, b, a = compare(before, after)
    assert [d.verdict for d in diffs] == [WORSE, BETTER]
    junit = tmp_path / "junit.xml"
    assert publish(diffs, False, b, a, junit) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase[@name='a']/failure")
    assert failure is not None
    assert "ok -> no_response_returned" in (failure.get("message") or "")
    assert "python -m harness run --scenario a" in (failure.text or "")
    text = summary.read_text()
    assert "0.27.0 → 0.28.0: FAIL" in text
    assert "| `a` | asyncio | uvicorn | ok → no_response_returned | worse (was ok) |" in text


def test_strict_fails_on_any_change_and_a_same_run_passes():
    same = compare([rec("1.0.0", "a", "ok")], [rec("1.1.0", "a", "ok")])[0]
    assert failing(same, strict=True) == []
    better = compare([rec("1.0.0", "a", "exception")], [rec("1.1.0", "a", "ok")])[0]
    assert failing(better, strict=False) == []
    assert len(failing(better, strict=True)) == 1


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_the_cli_gate_reads_result_files_and_sets_the_exit_status(tmp_path):
    old = write_jsonl(tmp_path / "old.jsonl", [rec("0.27.0", "a", "ok")])
    new = write_jsonl(tmp_path / "new.jsonl", [rec("0.28.0", "a", "hang")])
    out = run_harness("gate", "--baseline", str(old), "--candidate", str(new))
    assert out.returncode == 1, out.stderr
    assert "gate FAIL" in out.stdout
    ok = run_harness("gate", "--baseline", str(old), "--candidate", str(old))
    assert ok.returncode == 0


def test_a_results_file_of_another_schema_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "old.jsonl"
    bad.write_text(json.dumps({**rec("0.27.0", "a", "ok"), "schema": 0}) + "\n")
    out = run_harness("gate", "--baseline", str(bad), "--candidate", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip() == f"harness: error: {bad}:1: schema 0, expected 1; re-run the cell that wrote it"


def test_merging_refuses_conflicting_environments_and_duplicated_shards(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [rec("0.28.0", "x", "ok")])
    b = write_jsonl(tmp_path / "b.jsonl", [rec("0.28.0", "y", "ok", anyio="3.7.1")])
    with pytest.raises(HarnessError, match="different environments"):
        load_files([a, b])
    c = write_jsonl(tmp_path / "c.jsonl", [rec("0.28.0", "x", "ok")])
    with pytest.raises(HarnessError, match="repeats runs already in"):
        load_files([a, c])
    d = write_jsonl(tmp_path / "d.jsonl", [rec("0.28.0", "y", "ok")])
    assert {len(v) for v in load_files([a, d]).values()} == {2}
