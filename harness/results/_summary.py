"""The answer first: where ``No response returned`` appears and what it takes, in a few lines.

A reader brings one question to the report ("which releases lose the response, and under what
conditions?"), and the range table answers it only after 1,500 lines. This module derives the
answer from that same table (``Report.ranges``), never from prose written by hand, so it changes
whenever the results do:

- an **era** is a run of consecutive releases on which some row has the outcome, leaving out the
  rows that have it on every release they can run on (those are facts of the design, not a bug of
  some releases: they are listed apart, as **always** facts). The era names its range, the release
  after it (the fix, or that none is released yet), the backends and profiles it reaches, and a
  repro of its smallest stable case;
- within an era the **smallest condition**: rows are grouped by condition, the scenario family
  with its parameters other than the stack depth (``depth-sweep endpoint=slow when=now``), and
  for each backend/profile the smallest depth that has the outcome in every run (stable) is given,
  and a smaller one that has it in only some runs (flaky, with its rate). Conditions with the same
  thresholds are said once. When the threshold moves inside an era, each part says its releases.

For a terminal (the gate, ``python -m harness report``) ``summarize(report).text()`` wraps the same
lines to ``COLUMNS``; ``lines(width)`` gives them as a list.

The size of a scenario is read from its name (the results contract puts the sweep parameters
there): ``depth=N``, else the layers of ``stack=...``; a scenario without either has no size and
is said to fail as it is.
"""

from __future__ import annotations

import shutil
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.results._counts import ordered
from harness.results._mdsafe import md_code, md_text
from harness.results._store import CRASHED, INSTALL_FAILED, SKIPPED

if TYPE_CHECKING:
    from harness.results._model import ReportData as Report
    from harness.results._model import Row

#: The outcome the report answers for first; the other classes that are not ``ok`` get one line each.
TARGET = "no_response_returned"
QUIET = frozenset({"ok", "not_applicable"})
_NOT_RUN = frozenset({"not_applicable", INSTALL_FAILED, SKIPPED, CRASHED})

#: Condition groups said per era, and always-facts said, before "and N more" (the details list all).
MAX_CONDITIONS = 4
MAX_FACTS = 3
MAX_OTHER = 3


def name_params(scenario: str) -> tuple[str, dict[str, str]]:
    """``depth-sweep[depth=4,endpoint=slow]`` -> (``depth-sweep``, {depth: 4, endpoint: slow});
    a value may hold commas (``stack=asgi,base``), a name without ``key=value`` is its own family."""
    family, bracket, rest = scenario.partition("[")
    if not bracket or not rest.endswith("]"):
        return scenario, {}
    params: dict[str, str] = {}
    key = None
    for part in rest[:-1].split(","):
        k, eq, v = part.partition("=")
        if eq and k and k.replace("_", "").replace("-", "").isalnum():
            key = k
            params[k] = v
        elif key is not None:
            params[key] += "," + part
        else:
            return scenario, {}
    return family, params


def stack_size(stack: str) -> int:
    """Layers in a stack spec (``asgi,base*3`` is 4; ``none`` is 0), without importing Starlette."""
    if stack.strip() in ("", "none"):
        return 0
    total = 0
    for part in stack.split(","):
        _, star, count = part.strip().partition("*")
        total += int(count) if star and count.isdigit() else 1
    return total


def size_and_condition(scenario: str) -> tuple[int | None, str]:
    """The scenario's depth (None when it has none) and its condition: the family and the
    parameters other than the depth, as the summary names them."""
    family, params = name_params(scenario)
    size: int | None = None
    if params.get("depth", "").isdigit():
        size = int(params.pop("depth"))
    elif "stack" in params:
        size = stack_size(params.pop("stack"))
    rest = " ".join(f"{k}={v}" for k, v in params.items())
    return size, f"{family} {rest}".strip()


@dataclass(frozen=True)
class Part:
    """One backend/profile's threshold over a span of releases of an era."""

    first: str
    last: str
    #: The smallest depth with the outcome in every run (-1: the condition has no depth).
    stable: int | None
    #: A smaller depth with the outcome in some runs only, and its runs with it / its runs there.
    flaky: int | None = None
    hits: int = 0
    runs: int = 0

    def text(self) -> str:
        bits = []
        if self.stable is not None:
            bits.append("every run" if self.stable < 0 else f"from {self.stable}")
        if self.flaky is not None:
            at = "" if self.flaky < 0 else f" from {self.flaky}"
            bits.append(f"flaky{at} ({self.hits}/{self.runs})")
        return ", ".join(bits)

    def joins(self, other: Part) -> bool:
        return (self.stable, self.flaky) == (other.stable, other.flaky)


@dataclass
class ConditionGroup:
    """Conditions that share one set of thresholds, and those thresholds per backend/profile."""

    conditions: list[str]
    #: ``asyncio/uvicorn`` -> its parts over the era (one part when the threshold does not move)
    by_combo: dict[str, tuple[Part, ...]]

    def smallest(self) -> int:
        """The smallest depth with the outcome in every run, in any part (a huge number if none)."""
        known = [p.stable for parts in self.by_combo.values() for p in parts if p.stable is not None]
        return min(known) if known else 1 << 30

    def whole(self, era_first: str, era_last: str) -> bool:
        """Whether every backend/profile has one threshold over the whole era."""
        return all(len(ps) == 1 and (ps[0].first, ps[0].last) == (era_first, era_last) for ps in self.by_combo.values())

    def text(self, era_first: str, era_last: str, everywhere: Sequence[str] = ()) -> str:
        grouped: dict[str, list[str]] = defaultdict(list)
        for combo, parts in self.by_combo.items():
            whole = len(parts) == 1 and (parts[0].first, parts[0].last) == (era_first, era_last)
            how = parts[0].text() if whole else ", ".join(f"{p.text()} in {_span(p.first, p.last)}" for p in parts)
            grouped[how].append(combo)
        said = "; ".join(f"{how} on {combos_text(combos, everywhere)}" for how, combos in grouped.items())
        names = ", ".join(self.conditions[:2]) + (f" (+{len(self.conditions) - 2})" if len(self.conditions) > 2 else "")
        return f"{names}: {said}"


def combos_text(combos: Sequence[str], everywhere: Sequence[str] = ()) -> str:
    """``asyncio+trio/uvicorn, asyncio/hypercorn``: backends joined per profile; ``every backend
    and profile`` when these are all the pairs there are (``everywhere``)."""
    if everywhere and set(combos) == set(everywhere) and len(everywhere) > 1:
        return "every backend and profile"
    by_profile: dict[str, list[str]] = defaultdict(list)
    for combo in sorted(combos):
        backend, _, profile = combo.partition("/")
        by_profile[profile].append(backend)
    by_backends: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for profile, backends in by_profile.items():
        by_backends[tuple(backends)].append(profile)
    return ", ".join(f"{'+'.join(b)}/{'+'.join(p)}" for b, p in by_backends.items())


@dataclass
class Era:
    outcome: str
    first: str
    last: str
    #: The release after the era (its fix), or None when the era reaches the newest release.
    fixed_in: str | None
    releases: int
    rows: int
    #: Every ``backend/profile`` the era reaches.
    combos: list[str]
    groups: list[ConditionGroup]
    repro: str
    repro_case: str

    @property
    def backends(self) -> list[str]:
        return sorted({c.partition("/")[0] for c in self.combos})

    @property
    def profiles(self) -> list[str]:
        return sorted({c.partition("/")[2] for c in self.combos})

    def conditions(self) -> list[str]:
        """Each condition group in a line, the smallest first."""
        return [g.text(self.first, self.last, self.combos) for g in self.groups]

    def fixed(self) -> str:
        return f"fixed in {self.fixed_in}" if self.fixed_in else "in the newest release too"

    def head(self) -> str:
        return _span(self.first, self.last) + self.head_rest()

    def head_rest(self) -> str:
        """What the head line says after the range."""
        more = len(self.groups) - MAX_CONDITIONS
        return (
            f" ({self.fixed()}): {self.outcome} in {self.rows} rows; "
            f"{', '.join(self.backends)}; {', '.join(self.profiles)}"
            + (f"; the first {MAX_CONDITIONS} of {len(self.groups)} conditions:" if more > 0 else "")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "from": self.first,
            "to": self.last,
            "fixed_in": self.fixed_in,
            "releases": self.releases,
            "rows": self.rows,
            "backends": self.backends,
            "profiles": self.profiles,
            "conditions": [
                {"conditions": g.conditions, "text": text}
                for g, text in zip(self.groups, self.conditions(), strict=True)
            ],
            "repro": self.repro,
            "repro_case": self.repro_case,
        }


@dataclass
class Fact:
    """A family whose rows have one outcome on every release they run on."""

    outcome: str
    family: str
    scenarios: int
    combos: list[str]

    def text(self, everywhere: Sequence[str] = ()) -> str:
        many = "scenario" if self.scenarios == 1 else "scenarios"
        return f"{self.family} ({self.scenarios} {many}, {combos_text(self.combos, everywhere)})"


@dataclass
class Summary:
    target: str
    eras: list[Era]
    #: Other classes that are not ok, each with its eras.
    others: list[tuple[str, list[Era]]]
    facts: list[Fact]
    releases: int
    rows: int
    #: Every ``backend/profile`` of the report, for "every backend and profile".
    combos: list[str] = field(default_factory=list)
    #: Cells that did not run: (id, status, reason); what the summary cannot speak for.
    not_run: list[tuple[str, str, str]] = field(default_factory=list)

    def not_run_line(self) -> str | None:
        if not self.not_run:
            return None
        said = "; ".join(
            f"{cid} {status}" + (f" ({reason})" if reason else "") for cid, status, reason in self.not_run[:3]
        )
        more = f"; and {len(self.not_run) - 3} more" if len(self.not_run) > 3 else ""
        return f"Did not run (not in the summary): {said}{more}"

    def tail_lines(self) -> list[str]:
        """The lines after the eras: other outcomes, what holds on every release, cells not run."""
        return [line for line in (self.other_line(), *self.fact_lines(), self.not_run_line()) if line]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "releases": self.releases,
            "eras": [e.to_json() for e in self.eras],
            "other_outcomes": [{"outcome": o, "eras": [e.to_json() for e in eras]} for o, eras in self.others],
            "always": [
                {"outcome": f.outcome, "family": f.family, "scenarios": f.scenarios, "where": f.combos}
                for f in self.facts
            ],
            "not_run": [{"cell": cid, "status": status, "reason": reason} for cid, status, reason in self.not_run],
            "lines": self.lines(),
        }

    def fact_lines(self) -> list[str]:
        """One line per outcome: the families that have it on every release they run on."""
        out = []
        by_outcome: dict[str, list[Fact]] = defaultdict(list)
        for fact in self.facts:
            by_outcome[fact.outcome].append(fact)
        for outcome, facts in by_outcome.items():
            said = ", ".join(f.text(self.combos) for f in facts[:MAX_FACTS])
            more = f", and {len(facts) - MAX_FACTS} more families" if len(facts) > MAX_FACTS else ""
            out.append(f"On every release it runs on: {outcome} in {said}{more}")
        return out

    def other_line(self) -> str | None:
        if not self.others:
            return None
        said = "; ".join(
            f"{outcome} " + ", ".join(f"{_span(e.first, e.last)} ({e.rows} rows, {e.fixed()})" for e in eras)
            for outcome, eras in self.others[:MAX_OTHER]
        )
        return f"Other outcomes: {said}"

    def lines(self, width: int | None = None) -> list[str]:
        """The summary as plain lines (a terminal, the gate's output): wrapped to ``width`` with
        a hanging indent, so a long list of conditions wraps its words, never a table row."""
        out: list[str] = []

        def add(text: str, indent: int = 0) -> None:
            if width is None:
                out.append(" " * indent + text)
                return
            out.extend(
                textwrap.wrap(
                    text,
                    max(width, 20),
                    initial_indent=" " * indent,
                    subsequent_indent=" " * (indent + 4),
                    break_on_hyphens=False,
                    break_long_words=False,
                )
            )

        if not self.eras:
            add(f"{self.target}: on none of the {self.releases} releases, beyond what holds on every release")
        for era in self.eras:
            add(era.head())
            for text in era.conditions()[:MAX_CONDITIONS]:
                add("- " + text, 2)
            add(f"- repro ({era.repro_case}): {era.repro}", 2)
        for line in self.tail_lines():
            add(line)
        return out

    def to_markdown(self) -> str:
        """The same lines as a Markdown list: each era's range in bold, repro commands as code."""
        out = []
        if not self.eras:
            out.append(f"- {self.target}: on none of the {self.releases} releases, beyond what holds on every release")
        for era in self.eras:
            out.append(f"- **{md_text(_span(era.first, era.last))}** {md_text(era.head_rest())}")
            out += [f"  - {md_text(text)}" for text in era.conditions()[:MAX_CONDITIONS]]
            out.append(f"  - repro ({md_text(era.repro_case)}): {md_code(era.repro)}")
        out += [f"- {md_text(line)}" for line in self.tail_lines()]
        return "\n".join(out)

    def text(self, width: int | None = None) -> str:
        """The summary for a terminal (the gate's output): wrapped to ``width``, by default the
        terminal's (``COLUMNS`` when set)."""
        return "\n".join(self.lines(width or shutil.get_terminal_size((80, 24)).columns))


def summary_of(report: Report) -> Summary:
    """``summarize(report)``, derived once for the Markdown, the page and the JSON alike (again
    when a cell or a row is added)."""
    key = (tuple(map(id, report.cells)), len(report.rows), sum(len(r.cells) for r in report.rows.values()))
    cached = report.__dict__.get("_summary")
    if cached is None or cached[0] != key:
        cached = report.__dict__["_summary"] = (key, summarize(report))
    summary: Summary = cached[1]
    return summary


def summarize(report: Report, target: str = TARGET) -> Summary:
    """The summary of ``report``, derived from its range table."""
    versions = [c.id for c in report.cells if c.status == "done"] or report.versions
    spans = {key: report.ranges(row) for key, row in report.rows.items()}
    eras, facts = _eras(report, spans, versions, target, with_groups=True)
    others = []
    present = {o for ranges in spans.values() for _, _, k, _ in ranges for o in k}
    for outcome in ordered(present - QUIET - _NOT_RUN - {target}):
        other_eras, other_facts = _eras(report, spans, versions, outcome, with_groups=False)
        facts += other_facts
        if other_eras:
            others.append((outcome, other_eras))
    combos = sorted({f"{k[1]}/{k[2]}" for k in report.rows})
    not_run = [(c.id, c.status, c.reason) for c in report.cells if c.status != "done"]
    return Summary(target, eras, others, facts, len(versions), len(report.rows), combos, not_run)


Spans = dict[tuple[str, str, str], list[tuple[str, str, tuple[str, ...], Any]]]


def _eras(
    report: Report, spans: Spans, versions: Sequence[str], target: str, *, with_groups: bool
) -> tuple[list[Era], list[Fact]]:
    index = {v: i for i, v in enumerate(versions)}
    all_index = {v: i for i, v in enumerate(report.versions)}
    hit_rows: dict[tuple[str, str, str], set[int]] = {}
    always: dict[tuple[str, str, str], bool] = {}
    for key, ranges in spans.items():
        hits: set[int] = set()
        runnable = True
        for a, b, k, _ in ranges:
            releases = [v for v in report.versions[all_index[a] : all_index[b] + 1] if v in index]
            if target in k:
                hits.update(index[v] for v in releases)
            elif set(k) - _NOT_RUN:
                runnable = False
        if hits:
            hit_rows[key] = hits
            always[key] = runnable
    facts = _facts(target, [k for k, a in always.items() if a])
    bad = sorted({i for key, hits in hit_rows.items() if not always[key] for i in hits})
    eras: list[Era] = []
    runs: list[list[int]] = []
    for i in bad:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        era_versions = [versions[i] for i in run]
        era_keys = [k for k, hits in hit_rows.items() if not always[k] and hits & set(run)]
        fixed_in = versions[run[-1] + 1] if run[-1] + 1 < len(versions) else None
        groups = _groups(report, era_keys, era_versions, target) if with_groups else []
        case, repro = _repro(report, era_keys, era_versions, target)
        eras.append(
            Era(
                outcome=target,
                first=era_versions[0],
                last=era_versions[-1],
                fixed_in=fixed_in,
                releases=len(era_versions),
                rows=len(era_keys),
                combos=sorted({f"{k[1]}/{k[2]}" for k in era_keys}),
                groups=groups,
                repro=repro,
                repro_case=case,
            )
        )
    return eras, facts


def _facts(target: str, keys: Iterable[tuple[str, str, str]]) -> list[Fact]:
    by_family: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in keys:
        by_family[name_params(key[0])[0]].append(key)
    return [
        Fact(target, family, len({k[0] for k in ks}), sorted({f"{k[1]}/{k[2]}" for k in ks}))
        for family, ks in sorted(by_family.items())
    ]


def _groups(
    report: Report, keys: Sequence[tuple[str, str, str]], era: Sequence[str], target: str
) -> list[ConditionGroup]:
    """Per condition and backend/profile, the thresholds over the era; conditions with the same
    thresholds said together. Those that hold over the whole era come first (a condition that only
    some releases of the era have is a detail of those releases), the smallest stable depth first."""
    by_condition: dict[str, dict[str, list[tuple[int, Row]]]] = defaultdict(lambda: defaultdict(list))
    for key in keys:
        size, condition = size_and_condition(key[0])
        endpoint = (getattr(report.rows[key], "sweep", None) or {}).get("endpoint")
        if endpoint and "endpoint=" not in condition:  # what the endpoint does is half the condition
            condition += f" endpoint={endpoint}"
        by_condition[condition][f"{key[1]}/{key[2]}"].append((-1 if size is None else size, report.rows[key]))
    groups: dict[tuple[tuple[str, tuple[Part, ...]], ...], list[str]] = defaultdict(list)
    for condition, combos in by_condition.items():
        thresholds = tuple(sorted((combo, _parts(rows, era, target)) for combo, rows in combos.items()))
        groups[thresholds].append(condition)
    out = [ConditionGroup(sorted(conds), dict(t)) for t, conds in groups.items()]
    first, last = era[0], era[-1]
    return sorted(out, key=lambda g: (not g.whole(first, last), g.smallest(), -len(g.by_combo), g.conditions))


def _parts(rows: Sequence[tuple[int, Row]], era: Sequence[str], target: str) -> tuple[Part, ...]:
    """One backend/profile's thresholds release by release, runs of equal ones merged (a flaky
    rate is then over all their runs)."""
    parts: list[Part] = []
    for v in era:
        stable = [size for size, row in rows if set(row.cells.get(v, {})) == {target}]
        low = min(stable) if stable else None
        flaky = sorted(
            (size, row.cells[v][target], sum(row.cells[v].values()))
            for size, row in rows
            if target in row.cells.get(v, {}) and len(row.cells[v]) > 1 and (low is None or size < low)
        )
        if low is None and not flaky:
            continue
        f_size, hits, runs = flaky[0] if flaky else (None, 0, 0)
        part = Part(v, v, low, f_size, hits, runs)
        if parts and parts[-1].joins(part) and era.index(parts[-1].last) == era.index(v) - 1:
            prev = parts[-1]
            parts[-1] = Part(prev.first, v, low, f_size, prev.hits + hits, prev.runs + runs)
        else:
            parts.append(part)
    return tuple(parts)


def _repro(report: Report, keys: Sequence[tuple[str, str, str]], era: Sequence[str], target: str) -> tuple[str, str]:
    """The smallest case with the outcome in every run on the era's newest release (else any run),
    asyncio before trio (no seed to carry), as a ready command."""
    last = era[-1]
    candidates = []
    for key in keys:
        counts: Mapping[str, int] = report.rows[key].cells.get(last, {})
        if target not in counts:
            continue
        size, _ = size_and_condition(key[0])
        candidates.append((set(counts) != {target}, -1 if size is None else size, key[1] != "asyncio", key))
    if not candidates:  # the era's newest release may lack the row that began it
        for v in reversed(era):
            for key in keys:
                if target in report.rows[key].cells.get(v, {}):
                    return f"{key[0]} {key[1]}/{key[2]} @ {v}", report.repro(report.rows[key], v)
        return "", ""
    *_, key = min(candidates)
    return f"{key[0]} {key[1]}/{key[2]} @ {last}", report.repro(report.rows[key], last)


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first} – {last}"  # noqa: RUF001 - the en dash of a range
