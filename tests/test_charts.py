"""The report's pictures: the step chart of the smallest failing depth and one run's sequence diagram.

Both are read from what the records say (a sweep's ``params``, a run's per-layer trace), written
next to report.md by ``Report.write``, and are well-formed SVG in which user-controlled text stays
text.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from harness.errors import HarnessError
from harness.results import DONE, CellInfo, build
from harness.results._charts import (
    Step,
    depth_steps,
    pick_sequence,
    readme_images,
    render_png,
    screenshot,
    sequence_svg,
    step_chart_svg,
)
from tests._chromium import find_chromium

SVG = "{http://www.w3.org/2000/svg}"
VERSIONS = ["0.27.0", "0.28.0", "0.38.2", "0.38.3"]
HOSTILE = '</text><script>alert(1)</script><text x="0">'


def _layers(depth: int, raised_at: int | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(1, depth + 1):
        layer: dict[str, object] = {
            "layer": i,
            "kind": "base",
            "dispatched": True,
            "received": ["http.disconnect"],
            "call_next": "response",
            "after_call_next": True,
        }
        if i == raised_at:
            layer.update(call_next="raised RuntimeError: No response returned.", after_call_next=False)
            layer["raised"] = "RuntimeError: No response returned."
        out.append(layer)
    return out


def sweep_record(version: str, depth: int, outcome: str, backend: str = "asyncio", profile: str = "uvicorn") -> dict:
    bad = outcome == "no_response_returned"
    return {
        "starlette": version,
        "scenario": f"depth-sweep[depth={depth},endpoint=slow,when=now]",
        "backend": backend,
        "profile": profile,
        "outcome": outcome,
        "seed": None,
        "detail": "RuntimeError: No response returned." if bad else "",
        "resolution": "pinned",
        "params": {
            "depth": depth,
            "endpoint": "slow",
            "when": "now",
            "stack": f"base*{depth}",
            "receive": "request,disconnect",
        },
        "layers": _layers(depth, 1 if bad else None),
        "raised_in": 1 if bad else None,
        "receive_calls": ["http.disconnect"],
        "sent": [] if bad else [{"type": "http.response.start", "status": 200}],
    }


def sweep_matrix(extra: dict[str, list[dict]] | None = None):
    """0.28.0-0.38.2: uvicorn loses the response from depth 4, hypercorn from 5, trio flaky at 3."""
    records: dict[str, list[dict]] = {v: [] for v in VERSIONS}
    for v in VERSIONS:
        bad_era = v in ("0.28.0", "0.38.2")
        for depth in range(1, 7):
            for profile, threshold in (("uvicorn", 4), ("hypercorn", 5)):
                lost = bad_era and depth >= threshold
                records[v].append(sweep_record(v, depth, "no_response_returned" if lost else "ok", profile=profile))
            records[v].append(
                sweep_record(v, depth, "no_response_returned" if bad_era and depth >= 3 else "ok", "trio")
            )
            if bad_era and depth == 3:
                records[v].append(sweep_record(v, depth, "ok", "trio"))
        records[v] += (extra or {}).get(v, [])
    cells = [CellInfo(id=v, starlette=v, status=DONE, python="3.11") for v in VERSIONS]
    return build(cells, records)


def test_the_step_chart_holds_the_smallest_failing_depth_per_release_per_backend_and_profile():
    steps = depth_steps(sweep_matrix())
    assert list(steps) == ["endpoint=slow, when=now"]
    series = steps["endpoint=slow, when=now"]
    assert series[("asyncio", "uvicorn")] == [
        Step("0.27.0", None, False),
        Step("0.28.0", 4, False),
        Step("0.38.2", 4, False),
        Step("0.38.3", None, False),
    ]
    assert [s.depth for s in series[("asyncio", "hypercorn")]] == [None, 5, 5, None]
    assert series[("trio", "uvicorn")][1] == Step("0.28.0", 3, True)


def test_the_step_chart_is_svg_with_one_step_line_per_series_and_every_release_labelled():
    root = ET.fromstring(step_chart_svg(sweep_matrix()).split("\n", 1)[1])
    assert root.tag == f"{SVG}svg"
    titles = sorted(p.find(f"{SVG}title").text for p in root.iter(f"{SVG}polyline"))
    assert titles == ["asyncio / hypercorn", "asyncio / uvicorn", "trio / uvicorn"]
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert set(VERSIONS) <= texts
    assert len([c for c in root.iter(f"{SVG}circle")]) == 2  # trio's flaky depth 3, on both bad releases


def test_no_step_chart_without_a_depth_sweep():
    cells = [CellInfo(id="0.28.0", starlette="0.28.0", status=DONE)]
    rec = {"starlette": "0.28.0", "scenario": "calm", "backend": "asyncio", "profile": "uvicorn", "outcome": "ok"}
    assert step_chart_svg(build(cells, {"0.28.0": [rec]})) is None


def test_the_sequence_diagram_draws_the_shallowest_lost_response_from_its_trace():
    report = sweep_matrix()
    row, cell = pick_sequence(report)
    assert (row.scenario, row.backend, row.profile, cell) == (
        "depth-sweep[depth=4,endpoint=slow,when=now]",
        "asyncio",
        "uvicorn",
        "0.28.0",
    )
    rec = sweep_record("0.28.0", 4, "no_response_returned")
    root = ET.fromstring(sequence_svg(rec, cell).split("\n", 1)[1])
    texts = [t.text for t in root.iter(f"{SVG}text")]
    lanes = [t for t in texts if t != "raised here"]
    # Lanes: client, the server profile, every layer, the endpoint.
    assert lanes[lanes.index("client") : lanes.index("client") + 7] == [
        "client",
        "server (uvicorn)",
        "1: base",
        "2: base",
        "3: base",
        "4: base",
        "endpoint (slow)",
    ]
    assert texts.count("http.disconnect") == 4  # what each layer's receive() returned
    assert "raised RuntimeError: No response returned." in texts
    assert "raised here" in texts
    # The outermost layer raised: its lane's box is the one marked.
    marked = [r for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#d7263d"]
    assert len(marked) == 1 and float(marked[0].get("x")) + 65 == 80 + 2 * 150


def test_user_text_in_a_picture_stays_text():
    rec = sweep_record("0.28.0", 2, "no_response_returned")
    rec["scenario"] = HOSTILE
    rec["detail"] = HOSTILE
    svg = sequence_svg(rec, "0.28.0")
    root = ET.fromstring(svg.split("\n", 1)[1])
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    assert any(HOSTILE in (t.text or "") for t in root.iter(f"{SVG}text"))
    assert "<script>" not in svg


def test_report_write_puts_both_pictures_next_to_the_markdown_and_drops_stale_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_REPORT_PNG", "0")
    paths = sweep_matrix().write(tmp_path)
    assert {p.name for p in paths} >= {"report.md", "steps.svg", "sequence.svg"}
    seq = ET.parse(tmp_path / "sequence.svg").getroot()
    assert "depth-sweep[depth=4,endpoint=slow,when=now] · asyncio · uvicorn @ 0.28.0" in [
        t.text for t in seq.iter(f"{SVG}text")
    ]
    cells = [CellInfo(id="0.28.0", starlette="0.28.0", status=DONE)]
    rec = {"starlette": "0.28.0", "scenario": "calm", "backend": "asyncio", "profile": "uvicorn", "outcome": "ok"}
    build(cells, {"0.28.0": [rec]}).write(tmp_path)
    assert not (tmp_path / "steps.svg").exists() and not (tmp_path / "sequence.svg").exists()


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH (apt-get install chromium)")
def test_each_picture_is_also_a_png_of_its_own_size_where_chromium_is_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_REPORT_PNG", raising=False)
    (tmp_path / "steps.svg").write_text(step_chart_svg(sweep_matrix()))
    (png,) = render_png([tmp_path / "steps.svg"])
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    svg = ET.parse(tmp_path / "steps.svg").getroot()
    assert struct.unpack(">II", head[16:24]) == (int(svg.get("width")), int(svg.get("height")))


@pytest.mark.browser
@pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH (apt-get install chromium)")
def test_the_readme_pictures_are_the_reports_first_screen_at_1400x900_and_both_charts(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_REPORT_PNG", "0")
    sweep_matrix().write(tmp_path / "results")
    paths = readme_images(tmp_path / "results", tmp_path / "docs")
    assert sorted(p.name for p in paths) == [
        "report.png", "sequence.png", "sequence.svg", "steps.png", "steps.svg"
    ]  # fmt: skip
    head = (tmp_path / "docs" / "report.png").read_bytes()[:24]
    assert struct.unpack(">II", head[16:24]) == (1400, 900)


def test_the_readme_pictures_need_a_report_first(tmp_path):
    with pytest.raises(HarnessError, match="no report to photograph; run nox -s matrix"):
        screenshot(tmp_path / "report.html", tmp_path / "report.png")


def test_the_step_chart_follows_the_lost_response_not_every_outcome_that_is_not_ok():
    extra = {v: [sweep_record(v, 1, "exception", profile="gunicorn")] for v in VERSIONS}
    for v in VERSIONS:
        extra[v].append(sweep_record(v, 4, "no_response_returned" if v == "0.28.0" else "ok", profile="gunicorn"))
    series = depth_steps(sweep_matrix(extra))["endpoint=slow, when=now"][("asyncio", "gunicorn")]
    assert [s.depth for s in series] == [None, 4, None, None]
