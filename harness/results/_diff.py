"""The upgrade gate: the same selection on two Starlette versions, compared cell by cell.

A cell is (scenario, backend, profile); its value is the set of outcomes of its repeats and what
those runs observed (``_observations``: the response, the layers' code after ``call_next``, the
endpoint, the background task). A cell gets *worse* when it was ``ok`` and is not any more, when it
becomes flaky, when it starts to hang, or when any observation got worse, whatever its class did
(``ok`` with no response at all is not better than an exception). It is *better* only when its
class improves and no observation got worse. Worse fails the gate; any other change is reported,
and fails only with ``strict``.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results._observations import changed, observe, worse
from harness.results._report import label
from harness.results._repro import run_command

Key = tuple[str, str, str]

SAME, BETTER, WORSE, CHANGED, ADDED, REMOVED = "same", "better", "worse", "changed", "added", "removed"


@dataclass(frozen=True)
class CellDiff:
    scenario: str
    backend: str
    profile: str
    before: Counter[str] | None
    after: Counter[str] | None
    verdict: str
    why: str
    repro: str

    @property
    def before_label(self) -> str:
        return label(self.before) if self.before else "-"

    @property
    def after_label(self) -> str:
        return label(self.after) if self.after else "-"


@dataclass
class _Side:
    """One side's cells: outcome counts, observations, and an example run (a bad one if any)."""

    counts: dict[Key, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    observed: dict[Key, dict[str, set[Any]]] = field(default_factory=dict)
    example: dict[Key, dict[str, Any]] = field(default_factory=dict)
    versions: set[str] = field(default_factory=set)


def _cells(records: Iterable[dict[str, Any]]) -> _Side:
    side = _Side()
    for r in records:
        key = (r["scenario"], r["backend"], r["profile"])
        side.counts[key][r["outcome"]] += 1
        for name, value in observe(r).items():
            side.observed.setdefault(key, {}).setdefault(name, set()).add(value)
        side.versions.add(
            f"fastapi {r['fastapi']} (starlette {r['starlette']})" if r.get("fastapi") else r["starlette"]
        )
        if key not in side.example or (r["outcome"] != "ok" and side.example[key]["outcome"] == "ok"):
            side.example[key] = r
    return side


def _judge_class(b: set[str], a: set[str]) -> tuple[str, str]:
    if b == a:
        return SAME, ""
    if b == {"ok"}:
        return WORSE, "was ok"
    if len(a) > 1 and len(b) == 1:
        return WORSE, "new flake"
    if "hang" in a and "hang" not in b:
        return WORSE, "new hang"
    if "exited" in a and "exited" not in b:
        return WORSE, "now ends the process"
    if a == {"ok"}:
        return BETTER, "now ok"
    return CHANGED, "outcome changed"


def judge(
    before: Counter[str],
    after: Counter[str],
    before_observed: Mapping[str, set[Any]] | None = None,
    after_observed: Mapping[str, set[Any]] | None = None,
) -> tuple[str, str]:
    """The verdict on one cell and why, naming the observation that moved."""
    verdict, why = _judge_class(set(before), set(after))
    b_obs, a_obs = before_observed or {}, after_observed or {}
    got_worse = worse(b_obs, a_obs)
    if verdict == WORSE:
        return WORSE, "; ".join([why, *got_worse])
    if got_worse:
        return WORSE, "; ".join(got_worse) + (f" (although {why})" if why else "")
    moved = changed(b_obs, a_obs)
    if verdict == SAME and moved:
        return CHANGED, "; ".join(moved)
    if verdict != SAME and moved:
        return verdict, "; ".join([why, *moved])
    return verdict, why


def compare(before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]) -> tuple[list[CellDiff], str, str]:
    old, new = _cells(before), _cells(after)
    if not old.counts or not new.counts:
        raise HarnessError("the gate needs runs on both sides; one of the result sets is empty")
    diffs = []
    for key in sorted(set(old.counts) | set(new.counts)):
        b, a = old.counts.get(key), new.counts.get(key)
        if b is None:
            verdict, why = ADDED, "only in the candidate"
        elif a is None:
            verdict, why = REMOVED, "only in the baseline"
        else:
            verdict, why = judge(b, a, old.observed.get(key), new.observed.get(key))
        example = new.example.get(key)
        repro = run_command(example) if example is not None else ""
        diffs.append(CellDiff(*key, b, a, verdict, why, repro))
    return diffs, ", ".join(sorted(old.versions)), ", ".join(sorted(new.versions))


def failing(diffs: Sequence[CellDiff], strict: bool) -> list[CellDiff]:
    return [d for d in diffs if d.verdict == WORSE or (strict and d.verdict != SAME)]


def to_junit(diffs: Sequence[CellDiff], strict: bool, before: str, after: str, path: Path) -> None:
    bad = failing(diffs, strict)
    suite = ET.Element(
        "testsuite",
        name=f"starlette {before} -> {after}",
        tests=str(len(diffs)),
        failures=str(len(bad)),
        errors="0",
        skipped="0",
    )
    for d in diffs:
        case = ET.SubElement(suite, "testcase", classname=f"{d.backend}.{d.profile}", name=d.scenario)
        if d in bad:
            failure = ET.SubElement(case, "failure", message=f"{d.before_label} -> {d.after_label} ({d.why})")
            failure.text = f"reproduce on {after}: {d.repro}"
    root = ET.Element("testsuites", tests=str(len(diffs)), failures=str(len(bad)))
    root.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="unicode", xml_declaration=True)


def to_markdown(diffs: Sequence[CellDiff], strict: bool, before: str, after: str) -> str:
    bad = failing(diffs, strict)
    changed = [d for d in diffs if d.verdict != SAME]
    head = (
        f"### {title(before, after)}: {'FAIL' if bad else 'pass'}\n\n"
        f"{len(diffs)} cells compared; {len(changed)} changed, {len(bad)} fail the gate"
        f"{' (strict)' if strict else ''}.\n"
    )
    if not changed:
        return head
    lines = [head, "| scenario | backend | profile | before → after | verdict | repro |", "|---|---|---|---|---|---|"]
    for d in changed:
        lines.append(
            f"| `{d.scenario}` | {d.backend} | {d.profile} | {d.before_label} → {d.after_label} | "
            f"{d.verdict}{' (' + d.why + ')' if d.why else ''} | `{d.repro}` |"
        )
    return "\n".join(lines) + "\n"


def title(before: str, after: str) -> str:
    """``Starlette 0.27.0 → 0.37.2``, or ``fastapi 0.106.0 (starlette 0.27.0) → ...`` for FastAPI sides."""
    return f"{before} → {after}" if before.startswith("fastapi") else f"Starlette {before} → {after}"


_ORDER = {WORSE: 0, REMOVED: 1, CHANGED: 2, ADDED: 3, BETTER: 4}


def family(scenario: str) -> str:
    return scenario.split("[", 1)[0]


def size(scenario: str) -> tuple[int, int, str]:
    """How small a case is: its depth or stack layers (from its name's parameters), then its name."""
    from harness.results._summary import name_params, stack_size

    _, params = name_params(scenario)
    depth = params.get("depth", "")
    layers = int(depth) if depth.isdigit() else stack_size(params["stack"]) if "stack" in params else 10**6
    return layers, len(scenario), scenario


def _smallness(d: CellDiff) -> tuple[Any, ...]:
    return (size(d.scenario), d.backend, d.profile)


@dataclass
class Group:
    """Changed cells of one family that moved the same way."""

    verdict: str
    family: str
    why: str
    cells: list[CellDiff]
    failing: bool

    @property
    def moves(self) -> list[tuple[str, int]]:
        """``ok -> no_response_returned``: how many cells, most first."""
        tally = Counter(f"{d.before_label} → {d.after_label}" for d in self.cells)
        return tally.most_common()

    @property
    def smallest(self) -> CellDiff:
        return min(self.cells, key=_smallness)

    def to_json(self) -> dict[str, Any]:
        small = self.smallest
        return {
            "verdict": self.verdict,
            "family": self.family,
            "why": self.why,
            "fails_the_gate": self.failing,
            "cells": len(self.cells),
            "moves": [{"move": m, "cells": n} for m, n in self.moves],
            "smallest": {"scenario": small.scenario, "backend": small.backend, "profile": small.profile},
            "repro": small.repro,
            "members": [
                {
                    "scenario": d.scenario,
                    "backend": d.backend,
                    "profile": d.profile,
                    "before": d.before_label,
                    "after": d.after_label,
                }
                for d in self.cells
            ],
        }


_MOVE = re.compile(r"^(?P<name>.+) (?P<was>\S+) -> (?P<now>\S+)$")
_COUNT = re.compile(r"^[\d/]+$")


def observation(why: str) -> str:
    """What moved, without the amounts that differ from one depth to the next: ``layers skipped
    0 -> 3`` and ``0 -> 5`` are one observation (``layers skipped``); ``response partial -> none``
    and ``response complete -> none`` stay two."""
    parts = []
    for part in why.split("; "):
        m = _MOVE.match(part)
        if m and _COUNT.match(m["was"]) and _COUNT.match(m["now"]):
            part = f"{m['name']} (more)" if _total(m["now"]) > _total(m["was"]) else f"{m['name']} (changed)"
        parts.append(part)
    return "; ".join(parts)


def _total(counts: str) -> int:
    return max(int(n) for n in counts.split("/"))


def grouped(diffs: Sequence[CellDiff], strict: bool) -> list[Group]:
    """The changed cells by (verdict, family, what moved), worst and largest first."""
    bad = set(map(id, failing(diffs, strict)))
    out: dict[tuple[str, str, str], list[CellDiff]] = {}
    for d in diffs:
        if d.verdict != SAME:
            out.setdefault((d.verdict, family(d.scenario), observation(d.why)), []).append(d)
    groups = [
        Group(v, f, w, sorted(cells, key=_smallness), any(id(c) in bad for c in cells))
        for (v, f, w), cells in out.items()
    ]
    return sorted(groups, key=lambda g: (not g.failing, _ORDER.get(g.verdict, 9), -len(g.cells), g.family))


#: Where-lines a group shows in a terminal before "and N more" (report.md lists them all).
WHERE_LINES = 4


def _where(cells: Sequence[CellDiff]) -> list[str]:
    """``scenario: backend/profile, ...`` per scenario of a group."""
    by_scenario: dict[str, list[str]] = {}
    for d in cells:
        by_scenario.setdefault(d.scenario, []).append(f"{d.backend}/{d.profile}")
    return [f"{name}: {', '.join(where)}" for name, where in by_scenario.items()]


def print_table(diffs: Sequence[CellDiff], strict: bool, before: str, after: str) -> None:
    """The gate's answer for a terminal: changes grouped by family and what moved (as the report
    groups them), names wrapped inside their column (rows never break apart), the first few cells
    and the smallest case's repro per group; fits 80 columns and follows ``COLUMNS``."""
    changed = [d for d in diffs if d.verdict != SAME]
    bad = failing(diffs, strict)
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency; plain text keeps the gate usable
        print(to_markdown(diffs, strict, before, after))
        return
    console = Console()
    console.print(escape(title(before, after)), style="bold", soft_wrap=True)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for g in grouped(diffs, strict):
        style = "red" if g.failing else ("green" if g.verdict == BETTER else "yellow")
        moves = "; ".join(f"{m} ({n})" if len(g.moves) > 1 else m for m, n in g.moves)
        head = f"{g.family}: {moves}" + (f" ({g.why})" if g.why else "") + f": {len(g.cells)} cell"
        grid.add_row(f"[{style}]{g.verdict.upper()}[/]", escape(head + "s" * (len(g.cells) != 1)))
        where = _where(g.cells)
        for line in where[:WHERE_LINES]:
            grid.add_row("", escape(line))
        if len(where) > WHERE_LINES:
            grid.add_row("", f"and {len(where) - WHERE_LINES} more scenarios (report.md lists them)")
        if g.failing and g.smallest.repro:
            grid.add_row("", escape(f"reproduce: {g.smallest.repro}"))
    if changed:
        console.print(grid)
    verdict = "FAIL" if bad else "pass"
    console.print(
        f"gate {verdict}: {len(diffs)} cells, {len(changed)} changed, {len(bad)} failing{' (strict)' if strict else ''}"
    )


def publish(diffs: Sequence[CellDiff], strict: bool, before: str, after: str, junit: Path | None) -> int:
    """Print, write JUnit and the GitHub step summary; the exit status of the gate."""
    print_table(diffs, strict, before, after)
    if junit is not None:
        to_junit(diffs, strict, before, after, junit)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(to_markdown(diffs, strict, before, after) + "\n")
    return 1 if failing(diffs, strict) else 0
