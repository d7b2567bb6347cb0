"""Recorded expectations: what each (scenario, backend, profile) did on each release, as ranges.

The baseline is written from a full matrix report (``nox -s baseline``) and committed, so a change
in Starlette's behaviour shows up as a small diff of ranges. Each range holds the *set* of outcomes
seen across the repeats (``no_response_returned+ok`` for a flaky range): a later run agrees with it
when every outcome it sees is in the set, so a flaky cell does not fail by chance while a new
outcome always does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from harness.defaults import PROJECT_ROOT
from harness.errors import HarnessError
from harness.results._files import write_atomic
from harness.results._report import Report

DEFAULT_PATH = Path(os.environ.get("HARNESS_BASELINE") or PROJECT_ROOT / "tests" / "baseline.json")
SCHEMA = 1


def row_key(scenario: str, backend: str, profile: str) -> str:
    return f"{scenario} | {backend} | {profile}"


def from_report(report: Report, *, resolution: str, note: str = "") -> dict[str, Any]:
    rows: dict[str, str] = {}
    for row in report.rows.values():
        parts = []
        for first, last, outcomes, _ in report.ranges(row):
            span = first if first == last else f"{first}..{last}"
            parts.append(f"{span} {'+'.join(outcomes)}")
        rows[row_key(row.scenario, row.backend, row.profile)] = "; ".join(parts)
    return {
        "schema": SCHEMA,
        "resolution": resolution,
        "note": note,
        "versions": [c.id for c in report.cells],
        "rows": dict(sorted(rows.items())),
    }


def write(data: dict[str, Any], path: Path = DEFAULT_PATH) -> None:
    # One row per line: a behaviour change is a one-line diff.
    head = {k: v for k, v in data.items() if k != "rows"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append('  "rows": {')
    items = list(data["rows"].items())
    for i, (k, v) in enumerate(items):
        lines.append(f"    {json.dumps(k)}: {json.dumps(v)}{',' if i < len(items) - 1 else ''}")
    lines.append("  }")
    lines.append("}")
    write_atomic(path, lines)


@dataclass(frozen=True)
class Baseline:
    versions: tuple[str, ...]
    rows: dict[str, list[tuple[str, str, frozenset[str]]]]
    resolution: str

    @classmethod
    def load(cls, path: Path = DEFAULT_PATH) -> Baseline:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HarnessError(f"{path}: no baseline; write one with nox -s matrix && nox -s baseline") from None
        except ValueError as e:
            raise HarnessError(f"{path}: not valid JSON ({e}); regenerate it with nox -s baseline") from None
        if data.get("schema") != SCHEMA:
            raise HarnessError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA}; regenerate it")
        rows = {}
        for key, text in data["rows"].items():
            ranges = []
            for part in text.split("; "):
                span, _, outcomes = part.partition(" ")
                first, _, last = span.partition("..")
                ranges.append((first, last or first, frozenset(outcomes.split("+"))))
            rows[key] = ranges
        return cls(tuple(data["versions"]), rows, data.get("resolution", "pinned"))

    def reference_version(self, installed: str) -> str:
        """The baseline release to compare ``installed`` with: itself, or the newest one recorded
        (a development checkout or a release newer than the baseline)."""
        if installed in self.versions:
            return installed
        return max(self.versions, key=Version)

    def expected(self, scenario: str, backend: str, profile: str, version: str) -> frozenset[str] | None:
        ranges = self.rows.get(row_key(scenario, backend, profile))
        if ranges is None:
            return None
        position = self.versions.index(version)
        for first, last, outcomes in ranges:
            if self.versions.index(first) <= position <= self.versions.index(last):
                return outcomes
        return None
