"""What a reader of the report sees: the answer first (derived from the range table, never written
by hand), a heatmap page in which no scenario name or detail can become markup, and report.json as
a documented contract (its JSON Schema, checked here)."""

from __future__ import annotations

import json
import re
import shlex
from html.parser import HTMLParser
from typing import Any

import jsonschema
import pytest

from harness.results import CellInfo, build
from harness.results._html import heatmap_data, join_repro
from harness.results._json import schema
from harness.results._summary import summarize
from harness.run import Outcome, RunRecord

VERSIONS = ["0.27.0", "0.28.0", "0.29.0", "0.30.0", "0.31.0"]
COMBOS = [("asyncio", "uvicorn"), ("asyncio", "hypercorn"), ("trio", "uvicorn")]
NRR: Outcome = "no_response_returned"


def runs(
    version: str,
    scenario: str,
    backend: str,
    profile: str,
    outcomes: list[Outcome],
    detail: str = "",
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Records as a run writes them (``RunRecord``), one per repeat."""
    return [
        RunRecord(
            scenario=scenario,
            params=params or {},
            starlette=version,
            anyio="4.16.0",
            trio="0.35.0",
            python="3.11",
            backend=backend,
            profile=profile,
            seed=i if backend == "trio" else None,
            repeat=i,
            outcome=outcome,
            detail=detail or f"{outcome} on {version}",
            resolution="pinned",
        ).to_json()
        for i, outcome in enumerate(outcomes)
    ]


def era_outcomes(version: str, depth: int, backend: str, profile: str, extra: bool) -> list[Outcome]:
    """The synthetic matrix: 0.28.0 - 0.30.0 lose the response from depth 3 on asyncio/uvicorn,
    4 on hypercorn, 3 on trio (flaky at 2); ``extra`` makes 0.31.0 lose it from depth 2 on uvicorn."""
    if extra and version == "0.31.0" and profile == "uvicorn" and backend == "asyncio" and depth >= 2:
        return [NRR] * 3
    if version not in ("0.28.0", "0.29.0", "0.30.0"):
        return ["ok"] * 3
    if backend == "trio":
        return [NRR] * 3 if depth >= 3 else [NRR, "ok", "ok"] if depth == 2 else ["ok"] * 3
    threshold = 3 if profile == "uvicorn" else 4
    return [NRR] * 3 if depth >= threshold else ["ok"] * 3


def small_matrix(extra: bool = False):
    records: dict[str, list[dict[str, Any]]] = {}
    for v in VERSIONS:
        out = records.setdefault(v, [])
        for backend, profile in COMBOS:
            for depth in range(1, 6):
                out += runs(
                    v,
                    f"depth-sweep[depth={depth},endpoint=slow]",
                    backend,
                    profile,
                    era_outcomes(v, depth, backend, profile, extra),
                    params={
                        "depth": depth,
                        "endpoint": "slow",
                        "stack": f"base*{depth}",
                        "receive": "request,disconnect",
                    },
                )
        out += runs(v, "silent-inner[stack=base]", "asyncio", "uvicorn", [NRR] * 3)
        out += runs(v, "calm", "asyncio", "uvicorn", ["ok"] * 3)
    return build([CellInfo(id=v, starlette=v, status="done") for v in VERSIONS], records)


def range_table(markdown: str) -> dict[tuple[str, str, str], list[tuple[str, str, str]]]:
    """The report's own "Outcome ranges" table, read back from report.md."""
    section = markdown.split("## Outcome ranges", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| `(.+?)` \| (\S+) \| (\S+) \| (.+?) \| (.+?) \|$", line)
        if m:
            first, _, last = m.group(4).partition(" – ")  # noqa: RUF001
            rows.setdefault((m.group(1), m.group(2), m.group(3)), []).append((first, last or first, m.group(5)))
    return rows


def expected_from_table(markdown: str) -> dict[str, Any]:
    """The era and the per-release thresholds, worked out from the range table alone."""
    by_release: dict[tuple[str, str, str], dict[str, str]] = {}
    for key, spans in range_table(markdown).items():
        for first, last, outcome in spans:
            for v in VERSIONS[VERSIONS.index(first) : VERSIONS.index(last) + 1]:
                by_release.setdefault(key, {})[v] = outcome
    always = {k for k, cells in by_release.items() if all(NRR in o for o in cells.values())}
    bad = sorted(
        {VERSIONS.index(v) for k, cells in by_release.items() if k not in always for v, o in cells.items() if NRR in o}
    )
    assert bad == list(range(bad[0], bad[-1] + 1)), "the synthetic matrix has one era"
    era = [VERSIONS[i] for i in bad]
    thresholds: dict[str, list[tuple[str, int | None, int | None]]] = {}
    for backend, profile in COMBOS:
        per_release = []
        for v in era:
            depths = {
                int(k[0].split("depth=")[1].split(",")[0]): cells.get(v, "")
                for k, cells in by_release.items()
                if k[0].startswith("depth-sweep") and k[1:] == (backend, profile)
            }
            stable = min((d for d, o in depths.items() if o == NRR), default=None)
            flaky = min(
                (d for d, o in depths.items() if NRR in o and o != NRR and (stable is None or d < stable)), default=None
            )
            if stable is not None or flaky is not None:
                per_release.append((v, stable, flaky))
        thresholds[f"{backend}/{profile}"] = per_release
    fixed = VERSIONS[bad[-1] + 1] if bad[-1] + 1 < len(VERSIONS) else None
    return {"era": (era[0], era[-1], fixed), "thresholds": thresholds, "always": {k[0] for k in always}}


def check_agreement(report) -> list[str]:
    summary = summarize(report)
    want = expected_from_table(report.to_markdown())
    (era,) = summary.eras
    assert (era.first, era.last, era.fixed_in) == want["era"]
    (group,) = era.groups
    for combo, per_release in want["thresholds"].items():
        said = [
            (v, p.stable, p.flaky)
            for p in group.by_combo[combo]
            for v in VERSIONS[VERSIONS.index(p.first) : VERSIONS.index(p.last) + 1]
        ]
        assert said == per_release, combo
    assert {f.family for f in summary.facts} == {s.split("[")[0] for s in want["always"]}
    return summary.lines()


def test_the_summary_agrees_with_the_range_table_it_is_derived_from_and_follows_the_data():
    before = check_agreement(small_matrix())
    assert before[0] == f"0.28.0 – 0.30.0 (fixed in 0.31.0): {NRR} in 9 rows; asyncio, trio; hypercorn, uvicorn"  # noqa: RUF001
    assert before[1] == (
        "  - depth-sweep endpoint=slow: from 4 on asyncio/hypercorn; from 3 on asyncio/uvicorn; "
        "from 3, flaky from 2 (3/9) on trio/uvicorn"
    )
    repro = shlex.split(before[2].split("): ", 1)[1])
    assert repro[2] == "matrix(starlette='0.30.0')" and "depth-sweep[depth=3,endpoint=slow]" in repro
    assert repro[repro.index("--backend") + 1] == "asyncio", "the smallest stable case, without a seed to carry"
    assert (
        before[3] == "On every release it runs on: no_response_returned in silent-inner (1 scenario, asyncio/uvicorn)"
    )

    after = check_agreement(small_matrix(extra=True))
    assert after != before, "new results, a new summary"
    assert after[0].startswith(f"0.28.0 – 0.31.0 (in the newest release too): {NRR} in 10 rows")  # noqa: RUF001
    assert "from 3 in 0.28.0 – 0.30.0, from 2 in 0.31.0 on asyncio/uvicorn" in after[1]  # noqa: RUF001


def test_the_summary_is_a_few_lines_that_wrap_to_the_terminal_width(monkeypatch):
    summary = small_matrix(extra=True).summary()
    monkeypatch.setenv("COLUMNS", "50")
    assert max(len(line) for line in summary.text().splitlines() if " " in line.strip()) <= 50, "COLUMNS is honoured"
    assert len(summary.to_markdown().splitlines()) <= 15
    for width in (80, 60):
        lines = summary.lines(width)
        assert all(len(line) <= width for line in lines if " " in line.strip()), lines
        assert " ".join(" ".join(lines).split()) == " ".join(" ".join(summary.lines()).split()), "nothing lost"


HOSTILE = "evil</script><img src=x onerror=alert(1)>\"'|\n<!--"
HOSTILE_DETAIL = "RuntimeError: \"quoted\" 'single'\nsecond line </script><script>alert(2)</script> & more"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[tuple[str, str]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [(tag, k) for k, _ in attrs if k.startswith("on")]
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def hostile_report():
    records = {
        "0.28.0": runs("0.28.0", HOSTILE, "asyncio", "uvicorn", [NRR, "ok"], detail=HOSTILE_DETAIL)
        + runs("0.28.0", f"fam[depth=2,x={HOSTILE}]", "trio", "uvicorn", [NRR], detail=HOSTILE_DETAIL),
        "0.29.0": runs("0.29.0", HOSTILE, "asyncio", "uvicorn", ["ok"])
        + runs("0.29.0", f"fam[depth=2,x={HOSTILE}]", "trio", "uvicorn", ["ok"]),
    }
    return build([CellInfo(id=v, starlette=v, status="done") for v in records], records)


def test_a_hostile_scenario_name_and_detail_stay_text_in_the_page():
    page = hostile_report().to_html()
    parsed = _Page()
    parsed.feed(page)
    assert "img" not in parsed.tags and parsed.handlers == [], "no element or handler came from the data"
    assert [a.get("type") for a, _ in parsed.scripts] == ["application/json", None], "exactly the page's two scripts"
    (_, data_text), (_, code) = parsed.scripts
    data = json.loads(data_text)
    assert {r["scenario"] for r in data["rows"]} == {HOSTILE, f"fam[depth=2,x={HOSTILE}]"}, "the name survives intact"
    assert {d for r in data["rows"] for d in r["detail"].values()} == {HOSTILE_DETAIL}
    assert "<" not in data_text and ">" not in data_text and "&" not in data_text
    assert HOSTILE not in code and "innerHTML" not in code and "insertAdjacentHTML" not in code
    assert "evil&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page, "escaped where it is shown as text"
    assert 'data-family="fam"' in page and 'id="repro"' in page and "data-cell=" in page
    markdown = hostile_report().to_markdown()
    table = markdown.split("## Outcome ranges", 1)[1].split("\n## ", 1)[0]
    assert all(line.count(" | ") == 4 for line in table.splitlines() if line.startswith("| `")), "no row broken"


def test_the_page_merges_identical_releases_and_folds_sweep_parameters_into_the_family():
    report = small_matrix()
    data = heatmap_data(report)
    assert [(c["first"], c["last"]) for c in data["columns"]] == [
        ("0.27.0", "0.27.0"),
        ("0.28.0", "0.30.0"),
        ("0.31.0", "0.31.0"),
    ]
    families = {f["name"]: f for f in data["families"]}
    assert list(families) == ["depth-sweep", "silent-inner"], "families that lose the response first"
    assert data["quiet_families"] == ["calm"], "ok everywhere: named, not drawn"
    sweep = families["depth-sweep"]
    assert len(sweep["rows"]) == 15 and sweep["cells"][1] == {"classes": {"n": 9, "o": 6}, "flaky": 1}
    trio2 = next(
        data["rows"][i]
        for i in sweep["rows"]
        if data["rows"][i]["scenario"].startswith("depth-sweep[depth=2") and data["rows"][i]["backend"] == "trio"
    )
    assert (trio2["cells"], trio2["flaky"][str(1)], trio2["rate"][str(1)]) == (
        "ono",
        "ok 6/9, no_response_returned 3/9",
        "33%",
    )
    row = report.rows[(trio2["scenario"], "trio", "uvicorn")]
    assert join_repro(trio2["repro"], "0.28.0", trio2["seeds"]["1"]) == report.repro(row, "0.28.0")
    page = report.to_html()
    assert page.count('<tr class="fam"') == 2 and 'data-cell="f0:1"' in page
    assert page.index('id="answer"') < page.index('id="heat"') < page.index('id="details"'), "the answer first"


def test_report_json_is_valid_against_its_schema_and_holds_ready_commands():
    report = small_matrix(extra=True)
    report.cells.append(CellInfo(id="0.32.0", starlette="0.32.0", status="install_failed", reason="no wheel"))
    data = json.loads(json.dumps(report.to_json()))
    jsonschema.validate(data, schema())
    commands = [
        c
        for r in data["rows"]
        for c in [r["repro"], *(x["repro"] for x in r["not_ok"].values()), *(g.get("pip_repro") for g in r["ranges"])]
        if c
    ]
    assert commands and not [c for c in commands if "{" in c], "no template left to fill"
    assert data["summary"]["eras"][0]["from"] == "0.28.0"
    assert data["summary"]["not_run"] == [{"cell": "0.32.0", "status": "install_failed", "reason": "no wheel"}]
    assert "Did not run (not in the summary): 0.32.0 install_failed (no wheel)" in data["summary"]["lines"]
    broken = json.loads(json.dumps(data))
    bad_row = next(r for r in broken["rows"] if r["not_ok"])
    del bad_row["not_ok"][next(iter(bad_row["not_ok"]))]["repro"]
    with pytest.raises(jsonschema.ValidationError, match="'repro' is a required property"):
        jsonschema.validate(broken, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "format": 1}, schema())


def test_the_charts_written_beside_the_report_are_shown_in_it(tmp_path):
    folder = tmp_path / "report"
    small_matrix().write(folder)
    assert (folder / "steps.svg").exists(), "the matrix has a depth sweep to chart"
    page, markdown = (folder / "report.html").read_text(), (folder / "report.md").read_text()
    assert '<img class="chart" src="steps.svg"' in page, "the page of the same write shows it"
    assert "](steps.svg)" in markdown
    assert "sequence.svg" not in page or (folder / "sequence.svg").exists()


def test_every_outcome_class_has_a_colour_on_the_page_and_a_place_in_the_schema():
    from harness.results import report_schema
    from harness.results._html import CLASSES
    from harness.run import OUTCOMES

    def enums(node: object) -> set[str]:
        if isinstance(node, dict):
            return set(node.get("enum", ())) | {e for v in node.values() for e in enums(v)}
        if isinstance(node, list):
            return {e for v in node for e in enums(v)}
        return set()

    assert set(OUTCOMES) <= set(CLASSES)
    assert set(OUTCOMES) <= enums(report_schema())


def test_outside_text_stays_inert_in_the_markdown_report():
    """A name with backticks, HTML, a fold's end and a comment, and a cell reason with a newline,
    neither end their code span or cell nor become live in a viewer that renders report.md."""
    name = "evil`</details><!--<img src=x onerror=alert(1)>|x"
    records = {
        "0.28.0": runs("0.28.0", name, "asyncio", "uvicorn", [NRR]),
        "0.29.0": runs("0.29.0", name, "asyncio", "uvicorn", ["ok"]),
    }
    cells = [CellInfo(id=v, starlette=v, status="done") for v in records]
    cells.append(CellInfo(id="0.30.0", starlette="0.30.0", status="crashed", reason="one\n| <b>two</b> </details>"))
    markdown = build(cells, records).to_markdown()
    # Code spans are literal in Markdown (CommonMark 6.1): what is left outside them is what renders.
    outside = re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)  # a \` is no fence
    assert outside.count("</details>") == 1, "only the report's own fold ends"
    assert "<img" not in outside and "<!--" not in outside and "<b>" not in outside
    assert "``evil`</details><!--<img src=x onerror=alert(1)>\\|x``" in markdown, "the name, whole, in its span"
    table = markdown.split("## Outcome ranges", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ``")]
    assert rows and all(line.count(" | ") == 4 for line in rows), "the name stays in its code span and cell"
    assert "| crashed: one \\| &lt;b&gt;two&lt;/b&gt; &lt;/details&gt; |" in markdown


def test_markdown_prose_keeps_brackets_readable_but_makes_no_link():
    from harness.results._mdsafe import md_text

    assert md_text("pins[0].python") == "pins[0].python"
    assert md_text("[click](https://example.invalid)") == "[click\\](https://example.invalid)"
