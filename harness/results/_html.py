"""The report page: the answer first, then a heatmap that renders and stays readable, then details.

The page is built as a tree of elements (``el``) and serialized by ``render``, which escapes every
text and attribute with ``html.escape``; there is no string concatenation of markup with data
anywhere. The heatmap's data is embedded as JSON in ``<script type="application/json">`` with
``<``, ``>`` and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (so no scenario name can end
the script element), read with ``JSON.parse(textContent)``; the script creates nodes and sets
``textContent``, never ``innerHTML``. Nothing is loaded from the network.

The heatmap: releases across, consecutive releases with identical columns (every row the same
outcome set) merged into one column that names its range; scenario families down, one row per
family whose cells say the worst outcome among its rows and how many rows have it (families that
are ok everywhere are only named below it); a click on the family name unfolds one row per
scenario, backend and profile. Flaky cells are striped and carry their rate. Hover shows a cell's
counts (``title``), a click puts its counts, detail and the command that reproduces it in the box
at the bottom (``#repro``, copyable).

Hooks for tests and tools (stable):

- ``table#heat``; family rows ``tr[data-family="NAME"]`` with ``class="fam"``; the rows a family
  unfolds into are ``tr[data-family="NAME"][data-row="I"]`` with ``class="sub"``, created on the
  first unfold (click the family's ``button[data-unfold]``, which holds the family's index);
- every heatmap cell is ``td[data-cell]``: ``f<family index>:<column>`` for a family cell,
  ``r<row index>:<column>`` for a row cell; columns are ``th[data-column]`` in the header;
- in the box ``#pick`` at the bottom, ``#pick-text`` holds the clicked cell's counts and detail,
  ``pre#repro`` its repro command (empty for an ``ok`` cell; for a family cell, its worst row's),
  ``button#copy`` copies it;
- ``script#report-data`` holds the data (``columns``, ``families``, ``quiet_families``, ``rows``,
  ``classes``, ``severity``), the same as ``heatmap_data`` returns;
- ``section#answer`` is the summary, ``details#details`` the folded rest.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.results._counts import format_counts
from harness.results._model import label
from harness.results._summary import MAX_CONDITIONS, Summary, name_params, size_and_condition, summary_of

if TYPE_CHECKING:
    from harness.results._model import ReportData as Report
    from harness.results._model import Row

# --- a tiny element builder ------------------------------------------------------------------------


class Raw(str):
    """Markup the page itself wrote (its CSS and script, never data): inserted as it is."""


@dataclass
class Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)

    def add(self, *children: Node | None) -> Element:
        self.children.extend(c for c in children if c is not None)
        return self


Node = Element | str
_VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})


def el(tag: str, attrs: Mapping[str, object | None] | None = None, *children: Node | None) -> Element:
    """``<tag attrs>children</tag>``; an attribute whose value is None or False is left out, True is
    written bare. Children are elements or text (escaped when rendered)."""
    kept = {}
    for k, v in (attrs or {}).items():
        if v is None or v is False:
            continue
        kept[k] = "" if v is True else str(v)
    return Element(tag, kept, [c for c in children if c is not None])


def render(node: Node) -> str:
    """Serialize: text and attribute values escaped, ``Raw`` as it is."""
    out: list[str] = []
    _render(node, out)
    return "".join(out)


def _render(node: Node, out: list[str]) -> None:
    if isinstance(node, Raw):
        out.append(str(node))
        return
    if isinstance(node, str):
        out.append(html.escape(node, quote=False))
        return
    attrs = "".join(f' {k}="{html.escape(v, quote=True)}"' if v != "" else f" {k}" for k, v in node.attrs.items())
    out.append(f"<{node.tag}{attrs}>")
    if node.tag in _VOID:
        return
    for child in node.children:
        _render(child, out)
    out.append(f"</{node.tag}>")


def json_for_script(data: Any) -> Raw:
    """JSON that cannot end its ``<script>`` element or open a comment: ``<``, ``>``, ``&`` (and the
    line separators JavaScript once refused) as ``\\u`` escapes, which ``JSON.parse`` reads back."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Raw(text)


def table(head: Sequence[str], rows: Iterable[Sequence[Node]], cls: str = "t") -> Element:
    t = el("table", {"class": cls})
    t.add(el("tr", None, *(el("th", None, h) for h in head)))
    for r in rows:
        t.add(el("tr", None, *(el("td", None, c) for c in r)))
    return t


# --- outcome classes -------------------------------------------------------------------------------

#: One letter per class (the data of a row is one letter per column), its colour, worst first.
CLASSES: dict[str, tuple[str, str]] = {
    "no_response_returned": ("n", "#d7263d"),
    "hang": ("h", "#7b2cbf"),
    "exited": ("x", "#8c564b"),
    "protocol_error": ("p", "#2e86ab"),
    "exception": ("e", "#f18f01"),
    "crashed": ("c", "#000000"),
    "install_failed": ("i", "#555555"),
    "skipped": ("s", "#999999"),
    "ok": ("o", "#3a9d5d"),
    "not_applicable": ("a", "#d0d0d0"),
}
_SEVERITY = {name: i for i, name in enumerate(CLASSES)}
NO_DATA = "-"


def worst(outcomes: Iterable[str]) -> str:
    """The class a cell is coloured by: the worst of its outcomes (a flaky cell is also striped)."""
    return min(outcomes, key=lambda o: _SEVERITY.get(o, -1))


def code(outcome: str) -> str:
    return CLASSES.get(outcome, ("?", ""))[0]


# --- the heatmap's data ----------------------------------------------------------------------------


def columns(report: Report) -> list[list[str]]:
    """Releases in order, consecutive ones merged when every row has the same outcome set on both
    (so a merged column shows exactly what each of its releases showed, counts summed)."""
    groups: list[list[str]] = []
    rows = list(report.rows.values())
    empty: dict[str, int] = {}
    for cid in report.versions:
        # Keys views compare as sets: the same outcome set, whatever the counts.
        if groups and all(r.cells.get(cid, empty).keys() == r.cells.get(groups[-1][-1], empty).keys() for r in rows):
            groups[-1].append(cid)
        else:
            groups.append([cid])
    return groups


def repro_parts(report: Report, row: Row) -> list[str]:
    """The row's repro command cut where the release and the seed go: ``parts[0] + release +
    parts[1] + seed + parts[2]`` is ``report.repro(row, release)`` (the seed ``" --seed N"`` or
    empty), so the page holds one command per row, not one per cell."""
    v, s = "\x00VERSION\x00", "\x00SEED\x00"
    whole = report._template(row).format(version=v, seed=s)  # what report.repro fills
    head, _, rest = whole.partition(v)
    if s not in rest:  # no seed slot: the seed goes last
        return [head, rest, ""]
    mid, _, tail = rest.partition(s)
    return [head, mid, tail]


def join_repro(parts: Sequence[str], release: str, seed: int | None) -> str:
    """What the page's script does with ``repro_parts`` (kept here so a test can hold them equal)."""
    return parts[0] + release + parts[1] + ("" if seed is None else f" --seed {seed}") + parts[2]


def _unfold_order(row: Row) -> tuple[Any, ...]:
    family = name_params(row.scenario)[0]
    size, condition = size_and_condition(row.scenario)
    return (family, condition, row.backend, row.profile, -1 if size is None else size, row.scenario)


def _row_label(row: Row) -> str:
    family, params = name_params(row.scenario)
    what = " ".join(f"{k}={v}" for k, v in params.items()) if params else row.scenario
    if what == family:
        what = ""
    return f"{what} · {row.backend}/{row.profile}" if what else f"{row.backend}/{row.profile}"


def heatmap_data(report: Report) -> dict[str, Any]:
    """Everything the heatmap shows, as plain data (also what the page embeds)."""
    groups = columns(report)
    by_family: dict[str, list[int]] = {}
    rows_out: list[dict[str, Any]] = []
    # Within a family: one condition, backend and profile together, its depths in numeric order,
    # so an unfolded family reads as thresholds.
    keyed = sorted(report.rows.values(), key=_unfold_order)
    for i, row in enumerate(keyed):
        by_family.setdefault(name_params(row.scenario)[0], []).append(i)
        cells, totals = [], []
        flaky: dict[str, str] = {}
        rate: dict[str, str] = {}
        detail: dict[str, str] = {}
        seeds: dict[str, int] = {}
        for g, releases in enumerate(groups):
            counts: Counter[str] = Counter(row.cells.get(releases[0], {}))
            for cid in releases[1:]:
                counts.update(row.cells.get(cid, {}))
            if not counts:
                cells.append(NO_DATA)
                totals.append(0)
                continue
            cells.append(code(worst(counts)))
            totals.append(sum(counts.values()))
            if len(counts) > 1:
                flaky[str(g)] = format_counts(counts)
                rate[str(g)] = f"{round(100 * counts[worst(counts)] / sum(counts.values()))}%"
            first = releases[0]
            if set(counts) - {"ok", "not_applicable"}:
                detail[str(g)] = row.detail.get(first, "")
                seed = row.first_bad.get(first, ("", None))[1]
                if seed is not None:
                    seeds[str(g)] = seed
        rows_out.append(
            {
                "scenario": row.scenario,
                "backend": row.backend,
                "profile": row.profile,
                "label": _row_label(row),
                "cells": "".join(cells),
                "totals": totals,
                "flaky": flaky,
                "rate": rate,
                "detail": detail,
                "seeds": seeds,
                "repro": repro_parts(report, row),
            }
        )
    families, quiet = _families(by_family, rows_out, len(groups))
    return {
        "columns": [{"first": g[0], "last": g[-1], "releases": g} for g in groups],
        "classes": {c: {"name": name, "colour": colour} for name, (c, colour) in CLASSES.items()},
        "severity": [c for c, _ in CLASSES.values()],
        "families": families,
        "quiet_families": quiet,
        "rows": rows_out,
    }


def _families(
    by_family: Mapping[str, list[int]], rows: Sequence[Mapping[str, Any]], columns: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each family's row (the classes of its rows per column, and how many are flaky), and the
    names of the families that are ok everywhere (not drawn)."""
    families = []
    quiet = []
    for name, members in sorted(by_family.items(), key=lambda kv: _family_order(kv[0], kv[1], rows)):
        if _family_order(name, members, rows)[0] == 2:
            quiet.append(name)
            continue
        cells = []
        for g in range(columns):
            tally = Counter(rows[m]["cells"][g] for m in members if rows[m]["cells"][g] != NO_DATA)
            flaky_rows = sum(1 for m in members if str(g) in rows[m]["flaky"])
            cells.append({"classes": dict(tally), "flaky": flaky_rows})
        families.append({"name": name, "rows": members, "cells": cells})
    return families, quiet


def _family_order(name: str, members: Sequence[int], rows: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
    """Families that lose the response first, then those with any other trouble, then the quiet."""
    letters = {ch for m in members for ch in rows[m]["cells"]}
    return (0 if "n" in letters else 1 if letters - {"o", "a", NO_DATA} else 2, name)


# --- the page --------------------------------------------------------------------------------------

_CSS = Raw(
    """
body{font:13px/1.35 system-ui,sans-serif;margin:0 1em 7em;color:#222}
h1{font-size:19px;margin:.5em 0 .2em} h2{font-size:15px;margin:.8em 0 .3em}
.meta{color:#666;margin:0}
#answer ul{margin:.2em 0;padding-left:1.2em} #answer li{margin:.1em 0}
#answer ul ul{padding-left:1.3em;color:#333}
code,pre{font:12px ui-monospace,Menlo,Consolas,monospace}
.legend span.sw{display:inline-block;width:12px;height:12px;margin:0 3px 0 10px;vertical-align:-2px}
.scroll{overflow-x:auto}
table#heat{border-collapse:collapse}
#heat th.v{font-weight:normal;font-size:10px;vertical-align:bottom;padding:0 1px;height:7.5em}
#heat th.v span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
#heat th.n{text-align:left;font-weight:normal;white-space:nowrap;padding-right:6px;max-width:34em;
 overflow:hidden;text-overflow:ellipsis}
#heat tr.fam th.n button{font:inherit;border:0;background:none;cursor:pointer;padding:0;text-align:left}
#heat tr.sub th.n{padding-left:1.5em;color:#444;font-size:11px}
#heat td{min-width:30px;height:17px;border:1px solid #fff;cursor:pointer;text-align:center;font-size:9px;
 color:#fff;padding:0 1px}
#heat td.fl{background-image:repeating-linear-gradient(45deg,rgba(255,255,255,.5) 0 2px,transparent 2px 5px)}
#heat td.k-a,#heat td.k-s{color:#333} #heat td.sel{outline:2px solid #000}
#pick{position:fixed;left:0;right:0;bottom:0;background:#fafafa;border-top:1px solid #bbb;padding:.4em 1em;
 max-height:9em;overflow:auto}
#pick pre{margin:.2em 0;white-space:pre-wrap;word-break:break-all} #pick-text{white-space:pre-wrap}
table.t{border-collapse:collapse;margin:.5em 0} table.t td,table.t th{border:1px solid #ddd;padding:1px 6px;
 text-align:left;vertical-align:top}
details{margin:1em 0} summary{cursor:pointer;font-weight:bold}
img.chart{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""
)

_SCRIPT = Raw(
    r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const heat = document.getElementById("heat");
  const pick = document.getElementById("pick-text");
  const repro = document.getElementById("repro");
  const copy = document.getElementById("copy");
  const NAMES = {};
  Object.keys(D.classes).forEach(function (c) { NAMES[c] = D.classes[c].name; });
  function span(col) { return col.first === col.last ? col.first : col.first + " \u2013 " + col.last; }
  function command(row, g) {
    const seed = row.seeds[g];
    return row.repro[0] + D.columns[g].first + row.repro[1] +
      (seed === undefined || seed === null ? "" : " --seed " + seed) + row.repro[2];
  }
  function rowText(row, g) {
    const c = row.cells[g];
    const counts = row.flaky[g] || (c === "-" ? "no result" : NAMES[c] + " " + row.totals[g] + "/" + row.totals[g]);
    return row.scenario + " " + row.backend + "/" + row.profile + " @ " + span(D.columns[g]) + ": " + counts;
  }
  function familyText(fam, g) {
    const cell = fam.cells[g];
    const parts = D.severity.filter(function (c) { return cell.classes[c]; })
      .map(function (c) { return NAMES[c] + " " + cell.classes[c]; });
    const flaky = cell.flaky ? ", " + cell.flaky + " of them flaky" : "";
    return fam.name + " @ " + span(D.columns[g]) + ": " + fam.rows.length + " rows: " +
      (parts.join(", ") || "no result") + flaky;
  }
  function firstBad(fam, g) {
    for (const c of D.severity) {
      if (c === "o" || c === "a") break;
      for (const i of fam.rows) if (D.rows[i].cells[g] === c) return i;
    }
    return -1;
  }
  let selected = null;
  function show(td) {
    const isFamily = td.dataset.cell[0] === "f";
    const bits = td.dataset.cell.slice(1).split(":");
    const kind = Number(bits[0]), g = Number(bits[1]);
    let text, cmd = "";
    if (isFamily) {
      const fam = D.families[kind];
      text = familyText(fam, g);
      const i = firstBad(fam, g);
      if (i >= 0) {
        const row = D.rows[i];
        text += "\nfor example " + rowText(row, g) + (row.detail[g] ? "\n" + row.detail[g] : "");
        cmd = command(row, g);
      }
    } else {
      const row = D.rows[kind];
      text = rowText(row, g) + (row.detail[g] ? "\n" + row.detail[g] : "");
      if (row.detail[g] !== undefined) cmd = command(row, g);
    }
    if (selected) selected.classList.remove("sel");
    selected = td; td.classList.add("sel");
    pick.textContent = text;
    repro.textContent = cmd;
    copy.hidden = !cmd;
  }
  function cell(letter, id, title, flaky, text) {
    const td = document.createElement("td");
    td.className = "k-" + (letter === "-" ? "none" : letter) + (flaky ? " fl" : "");
    td.dataset.cell = id;
    td.title = title;
    if (text) td.textContent = text;
    return td;
  }
  function unfold(tr, fam, index) {
    const open = tr.dataset.open === "1";
    const button = tr.querySelector("button");
    if (!tr.dataset.built) {
      let after = tr;
      fam.rows.forEach(function (i) {
        const row = D.rows[i];
        const sub = document.createElement("tr");
        sub.className = "sub";
        sub.dataset.family = fam.name;
        sub.dataset.row = String(i);
        const th = document.createElement("th");
        th.className = "n";
        th.textContent = row.label;
        th.title = row.scenario + " " + row.backend + "/" + row.profile;
        sub.appendChild(th);
        for (let g = 0; g < D.columns.length; g++) {
          const rate = row.flaky[g];
          sub.appendChild(cell(row.cells[g], "r" + i + ":" + g, rowText(row, g), !!rate, rate ? row.rate[g] : ""));
        }
        after.after(sub);
        after = sub;
      });
      tr.dataset.built = "1";
    }
    document.querySelectorAll('tr.sub[data-family]').forEach(function (sub) {
      if (sub.dataset.family === fam.name) sub.hidden = open;
    });
    tr.dataset.open = open ? "0" : "1";
    button.setAttribute("aria-expanded", open ? "false" : "true");
    button.firstChild.textContent = open ? "\u25b8 " : "\u25be ";
  }
  heat.addEventListener("click", function (e) {
    const button = e.target.closest("button");
    if (button && button.dataset.unfold !== undefined) {
      const index = Number(button.dataset.unfold);
      unfold(button.closest("tr"), D.families[index], index);
      return;
    }
    const td = e.target.closest("td[data-cell]");
    if (td) show(td);
  });
  copy.addEventListener("click", function () {
    const text = repro.textContent;
    const done = function () {
      copy.textContent = "Copied";
      setTimeout(function () { copy.textContent = "Copy"; }, 1200);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { selectRepro(); });
    } else { selectRepro(); }
  });
  function selectRepro() {
    const range = document.createRange();
    range.selectNodeContents(repro);
    const sel = window.getSelection();
    sel.removeAllRanges(); sel.addRange(range);
  }
})();
"""
)


def summary_html(summary: Summary) -> Element:
    """The answer as a nested list: each era, its conditions and its repro; then the rest."""
    top = el("ul")
    for era in summary.eras:
        inner = el("ul")
        conditions = era.conditions()
        for text in conditions[:MAX_CONDITIONS]:
            inner.add(el("li", None, text))
        inner.add(el("li", None, f"repro ({era.repro_case}): ", el("code", None, era.repro)))
        head = el("b", None, span(era.first, era.last))
        top.add(
            el(
                "li",
                None,
                head,
                era.head_rest(),
                inner,
            )
        )
    if not summary.eras:
        top.add(el("li", None, f"{summary.target}: on none of the {summary.releases} releases"))
    for line in summary.tail_lines():
        top.add(el("li", None, line))
    return el("section", {"id": "answer"}, el("h2", None, "The answer"), top)


def span(first: str, last: str) -> str:
    return first if first == last else f"{first} – {last}"  # noqa: RUF001 - the en dash of a range


def heatmap_html(data: Mapping[str, Any]) -> Element:
    head = el("tr", None, el("th", {"class": "n"}, "family (click to unfold)"))
    for g, col in enumerate(data["columns"]):
        n = len(col["releases"])
        title = ", ".join(col["releases"])
        head.add(
            el(
                "th",
                {"class": "v", "data-column": g, "title": title},
                el("span", None, span(col["first"], col["last"]) + (f" ({n})" if n > 1 else "")),
            )
        )
    body = el("tbody")
    severity = data["severity"]
    names = {c: v["name"] for c, v in data["classes"].items()}
    for f, fam in enumerate(data["families"]):
        tr = el(
            "tr",
            {"class": "fam", "data-family": fam["name"]},
            el(
                "th",
                {"class": "n"},
                el(
                    "button",
                    {"type": "button", "data-unfold": f, "aria-expanded": "false", "title": fam["name"]},
                    el("span", None, "▸ "),
                    f"{fam['name']} ({len(fam['rows'])})",
                ),
            ),
        )
        for g, cell in enumerate(fam["cells"]):
            classes = cell["classes"]
            if not classes:
                tr.add(el("td", {"class": "k-none", "data-cell": f"f{f}:{g}", "title": "no result"}))
                continue
            letter = next(c for c in severity if c in classes)
            bad = sum(n for c, n in classes.items() if c not in ("o", "a"))
            title = f"{span(data['columns'][g]['first'], data['columns'][g]['last'])}: " + ", ".join(
                f"{names[c]} {classes[c]}" for c in severity if c in classes
            )
            if cell["flaky"]:
                title += f" ({cell['flaky']} flaky)"
            tr.add(
                el(
                    "td",
                    {
                        "class": f"k-{letter}" + (" fl" if cell["flaky"] else ""),
                        "data-cell": f"f{f}:{g}",
                        "title": title,
                    },
                    str(bad) if bad and letter not in ("o", "a") else None,
                )
            )
        body.add(tr)
    return el("table", {"id": "heat"}, el("thead", None, head), body)


def legend(data: Mapping[str, Any]) -> Element:
    p = el("p", {"class": "legend"}, "Cells: ")
    for c, v in data["classes"].items():
        p.add(el("span", {"class": f"sw k-{c}"}), v["name"])
    p.add(
        el("span", {"class": "sw k-n fl"}),
        "striped: flaky. Numbers: a family's rows that are not ok; "
        "in an unfolded row, the share of runs with the cell's colour",
    )
    return p


def _class_css(data: Mapping[str, Any]) -> Raw:
    rules = [f".k-{c}{{background-color:{v['colour']}}}" for c, v in data["classes"].items()]
    return Raw("\n".join([*rules, ".k-none{background-color:#fff;border:1px dashed #ccc}"]))


def details_html(report: Report, summary: Summary, folder: Path | None, agreement: Mapping[str, Any] | None) -> Element:
    """Everything that is not the answer, folded: charts, every condition of every era, ranges,
    flaky cells, the cells' environments, the real servers (the transitions are in report.md
    and report.json: the ranges say the same, and the page stays light)."""
    d = el(
        "details",
        {"id": "details"},
        el("summary", None, "Details: conditions, ranges, flaky cells, cells"),
    )
    if folder is not None:
        for name, alt in (
            ("steps.svg", "smallest failing depth per release"),
            ("sequence.svg", "one run, message by message"),
        ):
            if (folder / name).exists():
                d.add(el("h3", None, alt), el("img", {"class": "chart", "src": name, "alt": alt}))
    for era in summary.eras:
        d.add(el("h3", None, f"{era.outcome} {span(era.first, era.last)}: every condition"))
        d.add(el("ul", None, *(el("li", None, t) for t in era.conditions())))
    interesting = report.interesting()
    d.add(el("h3", None, "Outcome ranges"))
    d.add(
        table(
            ["scenario", "backend", "profile", "releases", "outcome", "detail"],
            (
                [r.scenario, r.backend, r.profile, span(a, b), label(t) if len(k) > 1 else k[0], r.detail.get(a, "")]
                for r in interesting
                for a, b, k, t in report.ranges(r)
            ),
        )
    )
    flaky = [(r, cid, c) for r in report.rows.values() for cid, c in r.cells.items() if len(c) > 1]
    d.add(el("h3", None, f"Flaky cells ({len(flaky)})"))
    d.add(
        table(
            ["scenario", "backend", "profile", "release", "outcomes"],
            ([r.scenario, r.backend, r.profile, cid, label(c)] for r, cid, c in flaky),
        )
    )
    d.add(el("h3", None, "Cells"))
    d.add(
        table(
            ["release", "status", "python", "anyio", "trio", "resolution", "runs", "seconds"],
            (
                [
                    f"{c.id} (starlette {c.starlette})" if c.id.startswith("fastapi-") else c.id,
                    c.status if not c.reason else f"{c.status}: {c.reason}",
                    c.python or "-",
                    c.anyio or "-",
                    c.trio or "-",
                    c.resolution,
                    str(c.runs),
                    f"{c.elapsed_s:.1f}",
                ]
                for c in report.cells
            ),
        )
    )
    if agreement:
        d.add(agreement_section(agreement))
    return d


def agreement_section(agreement: Mapping[str, Any]) -> Element:
    """The real-server section: verdict counts, the rows that are not plain agreement first, then
    the probes. Full detail stays in agreement.md."""
    from harness.results._agreement import AGREE

    cells = agreement.get("cells") or []
    tally = Counter(c.get("verdict") for c in cells)
    rows = sorted(cells, key=lambda c: (c.get("verdict") == AGREE, str(c.get("starlette")), str(c.get("scenario"))))
    said = ", ".join(f"{v} {n}" for v, n in sorted(tally.items(), key=lambda kv: str(kv[0])))
    section = el("section", {"id": "agreement"}, el("h2", None, "Real servers vs the scripted driver"))
    section.add(
        el("p", None, f"{len(cells)} cells: {said} (tolerance {agreement.get('tolerance')}; details in agreement.md).")
    )
    section.add(
        table(
            ["starlette", "scenario", "server", "profile", "real", "scripted", "verdict", "repro"],
            (
                [
                    str(c.get("starlette")),
                    str(c.get("scenario", "")),
                    f"{c.get('server', '')} {c.get('server_version') or ''}".strip(),
                    str(c.get("profile") or "-"),
                    format_counts(c.get("real") or {}),
                    format_counts(c.get("scripted") or {}),
                    el("b", None, str(c.get("verdict"))),
                    el("code", None, str(c.get("repro", ""))),
                ]
                for c in rows
            ),
        )
    )
    section.add(el("h3", None, "Profile probes"))
    section.add(
        table(
            ["server", "profile", "result"],
            (
                [
                    f"{p.get('server', '')} {p.get('server_version') or ''}".strip(),
                    str(p.get("profile") or "-"),
                    "matches" if p.get("matches") else "; ".join(p.get("mismatches") or [str(p.get("reason", ""))]),
                ]
                for p in agreement.get("probes") or []
            ),
        )
    )
    return section


def page(report: Report, agreement: Mapping[str, Any] | None = None, folder: Path | None = None) -> str:
    """The whole page as text."""
    summary = summary_of(report)
    data = heatmap_data(report)
    title = "Starlette BaseHTTPMiddleware under client disconnects"
    head = el(
        "head",
        None,
        el("meta", {"charset": "utf-8"}),
        el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
        el("title", None, title),
        el("style", None, _CSS, _class_css(data)),
    )
    body = el(
        "body",
        None,
        el("h1", None, title),
        el(
            "p",
            {"class": "meta"},
            f"Generated {report.generated}: {len(report.cells)} releases, {len(report.rows)} rows "
            f"(scenario x backend x profile), {len(report.interesting())} not ok somewhere.",
        ),
        summary_html(summary),
        el("h2", None, "Heatmap"),
        legend(data),
        el("div", {"class": "scroll"}, heatmap_html(data)),
        el(
            "p",
            {"class": "meta"},
            "ok (or not applicable) on every release, so not drawn: " + (", ".join(data["quiet_families"]) or "none"),
        ),
        el(
            "div",
            {"id": "pick"},
            el(
                "span",
                {"id": "pick-text"},
                "Click a cell for its counts, its detail and a command that reproduces it; "
                "click a family to unfold it.",
            ),
            el("pre", {"id": "repro"}),
            el("button", {"id": "copy", "type": "button", "hidden": True}, "Copy"),
        ),
        details_html(report, summary, folder, agreement),
        el("script", {"type": "application/json", "id": "report-data"}, json_for_script(data)),
        el("script", None, _SCRIPT),
    )
    return "<!doctype html>\n" + render(el("html", {"lang": "en"}, head, body)) + "\n"
