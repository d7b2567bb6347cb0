"""The report's two pictures, drawn as SVG in Python: where people would rather look than read.

- ``steps.svg``: the smallest depth that loses the response (``no_response_returned`` in any of
  its runs) per release, one panel per depth-sweep variant (endpoint, timing), one step line per
  backend and server profile. Its steps are the thresholds (4 pass-through layers on uvicorn, 5 on
  hypercorn, ...) and its flat stretches the eras; a release where no depth loses it sits on the
  "none" line. Other outcomes (an exception the endpoint raises on every release) are the
  heatmap's to show: here they would hide the eras.
- ``sequence.svg``: one run of one cell as a sequence diagram: the client's script, the scope going
  down through every middleware layer to the endpoint, what each layer's ``receive()`` returned (the
  disconnect in red), what the app sent, and how each ``call_next`` came back, with the layer that
  raised marked. It is drawn from the per-layer trace the record carries (``layers``,
  ``raised_in``, ``receive_calls``, ``sent``), never from the scenario's description.

Both are built with ``xml.etree.ElementTree``, so every scenario name, detail and message is
escaped by the serializer, not by hand; they need no script and no network. ``render_png`` turns an
SVG into a PNG with headless Chromium when one is installed, for places that show PNG only (a
GitHub step summary, a pull-request comment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Row(Protocol):
    """What the pictures read of a report row (``_model.Row``; a protocol, so that the report can
    draw its pictures without the two modules importing each other)."""

    @property
    def scenario(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def cells(self) -> Mapping[str, Mapping[str, int]]: ...
    @property
    def sweep(self) -> Mapping[str, Any]: ...
    @property
    def first_bad(self) -> Mapping[str, tuple[str, int | None]]: ...


class Report(Protocol):
    """What the pictures read of the report (``_model.ReportData``)."""

    @property
    def versions(self) -> list[str]: ...
    @property
    def rows(self) -> Mapping[tuple[str, str, str], Row]: ...
    @property
    def records_of(self) -> Callable[[str], Iterable[dict[str, Any]]] | None: ...


SVG_NS = "http://www.w3.org/2000/svg"
#: The sweep family the step chart reads, and its parameter that is the depth.
SWEEP_FAMILY = "depth-sweep"
DEPTH = "depth"
#: Parameters that only restate the depth (the stack) or the timing (the receive script).
_DERIVED = ("stack", "receive", "method", DEPTH)
_QUIET = frozenset({"ok", "not_applicable"})
#: The outcome the step chart follows: the bug the harness exists for.
TARGET = "no_response_returned"
_PALETTE = ("#d7263d", "#2e86ab", "#f18f01", "#3a9d5d", "#7b2cbf", "#555555", "#c2185b", "#0097a7")
_FONT = "font-family:system-ui,sans-serif"


@dataclass(frozen=True)
class Step:
    """One release of one series: the smallest depth with ``no_response_returned`` (None: no depth
    had it), and whether that depth was flaky there (some of its runs ended otherwise)."""

    cell: str
    depth: int | None
    flaky: bool


def _svg(width: int, height: int) -> ET.Element:
    root = ET.Element("svg", xmlns=SVG_NS, width=str(width), height=str(height), viewBox=f"0 0 {width} {height}")
    ET.SubElement(root, "rect", width=str(width), height=str(height), fill="#ffffff")
    return root


def _text(parent: ET.Element, x: float, y: float, text: str, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "style": _FONT, **attrs})
    el.text = text
    return el


def _line(parent: ET.Element, x1: float, y1: float, x2: float, y2: float, **attrs: str) -> ET.Element:
    ends = {"x1": f"{x1:.1f}", "y1": f"{y1:.1f}", "x2": f"{x2:.1f}", "y2": f"{y2:.1f}"}
    return ET.SubElement(parent, "line", {**ends, **attrs})


def _serialize(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- the step chart -------------------------------------------------------------------------------


def depth_steps(report: Report) -> dict[str, dict[tuple[str, str], list[Step]]]:
    """Per sweep variant (``endpoint=slow, when=now``), per (backend, profile): a step per release.
    Read from each row's sweep parameters (the records' ``params``), not parsed from names."""
    depths: dict[tuple[str, tuple[str, str]], dict[int, Row]] = {}
    for row in report.rows.values():
        if row.scenario.split("[", 1)[0] != SWEEP_FAMILY or not isinstance(row.sweep.get(DEPTH), int):
            continue
        variant = ", ".join(f"{k}={v}" for k, v in sorted(row.sweep.items()) if k not in _DERIVED)
        depths.setdefault((variant, (row.backend, row.profile)), {})[row.sweep[DEPTH]] = row
    out: dict[str, dict[tuple[str, str], list[Step]]] = {}
    for (variant, series), by_depth in sorted(depths.items()):
        steps = []
        for cid in report.versions:
            failing = [
                (d, len(r.cells[cid]) > 1)
                for d, r in sorted(by_depth.items())
                if cid in r.cells and TARGET in r.cells[cid]
            ]
            ran = any(cid in r.cells for r in by_depth.values())
            if ran:
                steps.append(Step(cid, failing[0][0] if failing else None, failing[0][1] if failing else False))
        out.setdefault(variant, {})[series] = steps
    return out


@dataclass
class _Layout:
    """Where things go on the step chart: one column per release, one panel per sweep variant."""

    versions: list[str]
    top: int
    panels: int
    legend_rows: int
    left: int = 60
    right: int = 20
    panel_h: int = 170
    gap: int = 40
    step_x: int = 13

    @property
    def plot_w(self) -> int:
        return max(300, self.step_x * len(self.versions))

    @property
    def width(self) -> int:
        return max(self.left + self.plot_w + self.right, self.left + 4 * 260)

    @property
    def base_y(self) -> int:
        return 80 + 22 * self.legend_rows

    @property
    def height(self) -> int:
        return self.base_y + self.panels * (self.panel_h + self.gap) + 70

    def x(self, cell: str) -> float:
        return self.left + self.step_x * (self.versions.index(cell) + 0.5)

    def y(self, panel: int, depth: int | None) -> float:
        """``None`` (no depth failed) sits one level above the deepest depth, on the "none" line."""
        inner = self.panel_h - 20
        level = self.top + 1 if depth is None else depth
        return self.base_y + panel * (self.panel_h + self.gap) + inner - (level - 1) / self.top * (inner - 10)


def step_chart_svg(report: Report) -> str | None:
    """The step chart, or None when the report holds no depth sweep."""
    data = depth_steps(report)
    if not data:
        return None
    ran = {s.cell for v in data.values() for ss in v.values() for s in ss}
    depths = [r.sweep[DEPTH] for r in report.rows.values() if isinstance(r.sweep.get(DEPTH), int)]
    series_all = sorted({s for v in data.values() for s in v})
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(series_all)}
    lay = _Layout([c for c in report.versions if c in ran], max(depths), len(data), (len(series_all) + 3) // 4)
    root = _svg(lay.width, lay.height)
    title = "Smallest depth that loses the response (no_response_returned), per release"
    _text(root, lay.left, 24, title, **{"font-size": "15", "font-weight": "bold"})
    for i, s in enumerate(series_all):
        lx, ly = lay.left + (i % 4) * 260, 44 + 22 * (i // 4)
        ET.SubElement(root, "rect", x=str(lx), y=str(ly - 9), width="18", height="4", fill=colour[s])
        _text(root, lx + 24, ly, f"{s[0]} / {s[1]}", **{"font-size": "12"})
    note = "depth: pass-through BaseHTTPMiddleware layers; hollow marker: only some runs at that depth; none: no depth"
    _text(root, lay.left, lay.base_y - 38, note, **{"font-size": "11", "fill": "#555"})
    for p, (variant, series) in enumerate(data.items()):
        _panel(root, lay, p, variant)
        for k, (s, steps) in enumerate(sorted(series.items())):
            offset = (k - (len(series) - 1) / 2) * 2.0  # overlapping series stay visible side by side
            _series(root, lay, p, steps, offset, colour[s], f"{s[0]} / {s[1]}")
    label_y = lay.base_y + lay.panels * (lay.panel_h + lay.gap) - lay.gap + 8
    for v in lay.versions:
        x = lay.x(v) + 3
        _text(root, x, label_y, v, transform=f"rotate(90 {x:.1f} {label_y:.1f})", **{"font-size": "9"})
    return _serialize(root)


def _panel(root: ET.Element, lay: _Layout, p: int, variant: str) -> None:
    """A panel's title and its depth grid."""
    _text(
        root, lay.left, lay.y(p, None) - 16, f"{SWEEP_FAMILY} [{variant}]", **{"font-size": "12", "font-weight": "bold"}
    )
    for d in [*range(1, lay.top + 1), None]:
        yy = lay.y(p, d)
        _line(root, lay.left, yy, lay.left + lay.plot_w, yy, stroke="#eeeeee")
        _text(root, lay.left - 6, yy + 4, "none" if d is None else str(d), **{"font-size": "10", "text-anchor": "end"})


def _series(root: ET.Element, lay: _Layout, p: int, steps: list[Step], offset: float, colour: str, name: str) -> None:
    """One series as a step line: flat across a release, a vertical step between two releases."""
    points: list[tuple[float, float]] = []
    half = lay.step_x / 2
    for st in steps:
        x, y = lay.x(st.cell), lay.y(p, st.depth) + offset
        if points:
            points.append((x - half, points[-1][1]))
        points += [(x - half, y), (x + half, y)]
    poly = ET.SubElement(root, "polyline", points=" ".join(f"{a:.1f},{b:.1f}" for a, b in points), fill="none")
    poly.set("stroke", colour)
    poly.set("stroke-width", "2")
    ET.SubElement(poly, "title").text = name
    for st in steps:
        if st.flaky:
            dot = ET.SubElement(root, "circle", cx=f"{lay.x(st.cell):.1f}", cy=f"{lay.y(p, st.depth) + offset:.1f}")
            dot.set("r", "3.5")
            dot.set("fill", "#ffffff")
            dot.set("stroke", colour)
            ET.SubElement(dot, "title").text = f"{name} @ {st.cell}: flaky at depth {st.depth}"


# --- the sequence diagram -------------------------------------------------------------------------


def pick_sequence(report: Report) -> tuple[Row, str] | None:
    """The cell whose run is drawn: the shallowest depth-sweep row that loses the response, at the
    first release where it does (asyncio and uvicorn first); else the first row and release where
    ``No response returned`` appears; else the first cell that is not ``ok``."""

    def first_bad(row: Row, outcomes: Iterable[str] | None = None) -> str | None:
        wanted = set(outcomes) if outcomes is not None else None
        for cid in report.versions:
            counts = row.cells.get(cid)
            bad = set(counts or ()) & wanted if wanted is not None else set(counts or ()) - _QUIET
            if bad and cid in row.first_bad:
                return cid
        return None

    nrr = ("no_response_returned",)
    sweep = [
        r
        for r in report.rows.values()
        if r.scenario.split("[", 1)[0] == SWEEP_FAMILY and isinstance(r.sweep.get(DEPTH), int)
    ]
    sweep.sort(
        key=lambda r: (
            r.backend != "asyncio",
            r.profile != "uvicorn",
            r.sweep.get("when") != "now",
            r.sweep.get("endpoint") != "slow",
            r.sweep[DEPTH],
        )
    )
    for rows, outcomes in ((sweep, nrr), (list(report.rows.values()), nrr), (list(report.rows.values()), None)):
        for row in rows:
            cid = first_bad(row, outcomes)
            if cid is not None:
                return row, cid
    return None


def find_record(records: Iterable[Mapping[str, Any]], row: Row, cell: str, outcome: str) -> Mapping[str, Any] | None:
    """The run of ``row`` in ``cell``'s records that ended with ``outcome`` (its first)."""
    for rec in records:
        if (
            rec.get("scenario") == row.scenario
            and rec.get("backend") == row.backend
            and rec.get("profile") == row.profile
            and rec.get("outcome") == outcome
        ):
            return rec
    return None


def sequence_svg(rec: Mapping[str, Any], cell: str) -> str:
    """One run as a sequence diagram, from its record's trace."""
    layers: list[Mapping[str, Any]] = list(rec.get("layers") or [])
    params = rec.get("params") or {}
    names = ["client", f"server ({rec.get('profile')})"]
    names += [f"{i + 1}: {layer.get('kind', '?')}" for i, layer in enumerate(layers)]
    names.append(f"endpoint ({params.get('endpoint', '?')})" if params.get("endpoint") else "endpoint")
    gap_x, left, top = 150, 80, 110
    xs = [left + i * gap_x for i in range(len(names))]
    events = _sequence_events(rec, layers)
    row_h = 26
    width = xs[-1] + 170
    height = top + 30 + row_h * len(events) + 80
    root = _svg(width, height)
    title = f"{rec.get('scenario')} · {rec.get('backend')} · {rec.get('profile')} @ {cell}"
    _text(root, 20, 26, title, **{"font-size": "15", "font-weight": "bold"})
    _text(root, 20, 46, f"outcome: {rec.get('outcome')}: {rec.get('detail') or ''}"[:200], **{"font-size": "12"})
    if rec.get("seed") is not None:
        _text(root, 20, 64, f"seed {rec.get('seed')}", **{"font-size": "11", "fill": "#555"})
    bottom = height - 40
    raised_in = rec.get("raised_in")
    for i, (x, name) in enumerate(zip(xs, names, strict=True)):
        is_raiser = isinstance(raised_in, int) and raised_in > 0 and i == raised_in + 1
        is_raiser = is_raiser or (raised_in == 0 and i == len(names) - 1)
        box = ET.SubElement(root, "rect", x=f"{x - 65}", y=str(top - 30), width="130", height="24", rx="4")
        box.set("fill", "#fde2e4" if is_raiser else "#f2f2f2")
        box.set("stroke", "#d7263d" if is_raiser else "#999999")
        _text(root, x, top - 13, name, **{"font-size": "12", "text-anchor": "middle"})
        _line(root, x, top - 6, x, bottom, stroke="#bbbbbb", **{"stroke-dasharray": "4 3"})
        if is_raiser:
            _text(
                root, x, bottom + 16, "raised here", **{"font-size": "11", "text-anchor": "middle", "fill": "#d7263d"}
            )
    for n, (src, dst, label, kind) in enumerate(events):
        y = top + 20 + n * row_h
        colour = {"disconnect": "#d7263d", "raise": "#d7263d", "note": "#555555"}.get(kind, "#333333")
        if kind == "note":
            _text(root, xs[src] + 8, y + 4, label, **{"font-size": "11", "fill": colour, "font-style": "italic"})
            continue
        x1, x2 = xs[src], xs[dst]
        line = _line(root, x1, y, x2 - (6 if x2 > x1 else -6), y, stroke=colour)
        line.set("stroke-width", "1.5")
        if kind in ("return", "raise"):
            line.set("stroke-dasharray", "5 3")
        tip = -6 if x2 > x1 else 6
        ET.SubElement(root, "polygon", points=f"{x2},{y} {x2 + tip},{y - 4} {x2 + tip},{y + 4}", fill=colour)
        _text(root, (x1 + x2) / 2, y - 4, label, **{"font-size": "11", "text-anchor": "middle", "fill": colour})
    _text(
        root,
        20,
        height - 12,
        "receive() results are drawn per layer, outermost first, in the order each layer saw them.",
        **{"font-size": "10", "fill": "#777"},
    )
    return _serialize(root)


Event = tuple[int, int, str, str]


def _sequence_events(rec: Mapping[str, Any], layers: Sequence[Mapping[str, Any]]) -> list[Event]:
    """(from lane, to lane, label, kind) in drawing order. Lanes: 0 client, 1 server, 2.. layers,
    last the endpoint."""
    endpoint = len(layers) + 2
    script = str((rec.get("params") or {}).get("receive") or "")
    events: list[Event] = []
    for step in [s for s in script.split(",") if s]:
        if step.startswith("wait"):
            events.append((0, 0, step, "note"))
        else:
            events.append((0, 1, step, "disconnect" if step == "disconnect" else "call"))
    events += _down_events(layers, endpoint)
    for i, layer in enumerate(layers):
        events += [(i + 1, i + 2, str(m), _kind(m)) for m in layer.get("received") or ()]
    if not layers:
        events += [(1, endpoint, str(m), _kind(m)) for m in rec.get("receive_calls") or ()]
    for msg in rec.get("sent") or ():
        label = str(msg.get("type", "?")) + (f" {msg['status']}" if "status" in msg else "")
        events.append((endpoint, 1, label, "return"))
    events += _unwind_events(layers)
    if rec.get("sent_after_disconnect"):
        events.append((1, 1, f"{rec['sent_after_disconnect']} message(s) sent after the disconnect", "note"))
    return events


def _kind(message: object) -> str:
    return "disconnect" if message == "http.disconnect" else "call"


def _down_events(layers: Sequence[Mapping[str, Any]], endpoint: int) -> list[Event]:
    """The scope going in: server to the outermost layer, each ``call_next`` to the next, down to
    the endpoint (or to the layer whose dispatch never called ``call_next``)."""
    events: list[Event] = []
    down = 1
    for i, layer in enumerate(layers):
        events.append((down, i + 2, "scope" if down == 1 else "call_next", "call"))
        down = i + 2
        if "dispatched" in layer and layer.get("call_next") == "not called":
            return events
    events.append((down, endpoint, "call_next" if layers else "scope", "call"))
    return events


def _unwind_events(layers: Sequence[Mapping[str, Any]]) -> list[Event]:
    """How each layer came back, innermost first: what its ``call_next`` returned, or what it raised."""
    events: list[Event] = []
    for i in reversed(range(len(layers))):
        layer = layers[i]
        result = str(layer.get("call_next", ""))
        if layer.get("raised"):
            events.append((i + 2, i + 1, f"raised {layer['raised']}"[:60], "raise"))
        elif "dispatched" in layer and result != "not called":
            events.append((i + 2, i + 2, f"call_next: {result}"[:60], "note"))
    return events


# --- PNG, and writing both next to the report -----------------------------------------------------


def find_chromium() -> str | None:
    for name in (os.environ.get("HARNESS_CHROMIUM") or "", "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


def render_png(svgs: Sequence[Path], timeout: float = 60.0, *, always: bool = False) -> list[Path]:
    """Each SVG as a PNG of its own size, beside it, by headless Chromium (all at once, each bounded
    by ``timeout``). No browser, or one that fails, leaves the SVGs alone: the PNGs are a courtesy
    for viewers that show no SVG. ``HARNESS_REPORT_PNG=0`` turns this off, unless ``always``."""
    binary = find_chromium()
    if binary is None or (os.environ.get("HARNESS_REPORT_PNG") == "0" and not always):
        return []
    procs = []
    for svg in svgs:
        root = ET.parse(svg).getroot()
        width, height = int(float(root.get("width", "800"))), int(float(root.get("height", "600")))
        png = svg.with_suffix(".png")
        profile = tempfile.mkdtemp(prefix="harness-png-")
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            svg.resolve().as_uri(),
        ]
        png.unlink(missing_ok=True)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        procs.append((proc, png, profile))
    done = []
    for proc, png, profile in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
        if png.exists():
            done.append(png)
    return done


def write_charts(report: Report, folder: Path) -> list[Path]:
    """``steps.svg`` and ``sequence.svg`` (and their PNGs where Chromium is installed) in
    ``folder``; a picture with nothing to show is not written, and an old one is removed."""
    from harness.results._files import write_atomic

    written = []
    steps = step_chart_svg(report)
    picked = pick_sequence(report)
    sequence = None
    if picked is not None and report.records_of is not None:
        row, cid = picked
        rec = find_record(report.records_of(cid), row, cid, row.first_bad[cid][0])
        sequence = sequence_svg(rec, cid) if rec is not None else None
    for name, svg in (("steps", steps), ("sequence", sequence)):
        path = folder / f"{name}.svg"
        if svg is None:
            path.unlink(missing_ok=True)
            path.with_suffix(".png").unlink(missing_ok=True)
            continue
        write_atomic(path, [svg])
        written.append(path)
    return written + render_png(written)


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 900, timeout: float = 90.0) -> Path:
    """The first screen of an HTML page (``width`` x ``height``), as a reader's browser shows it."""
    from harness.errors import HarnessError

    binary = find_chromium()
    if binary is None:
        raise HarnessError("no chromium on PATH; install it (apt-get install chromium) or set HARNESS_CHROMIUM")
    if not page.is_file():
        raise HarnessError(f"{page}: no report to photograph; run nox -s matrix (or nox -s report) first")
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="harness-shot-") as profile:
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
            "--virtual-time-budget=5000", page.resolve().as_uri(),
        ]  # fmt: skip
        try:
            subprocess.run(args, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"chromium took more than {timeout:.0f} s to photograph {page}") from None
    if not png.exists():
        raise HarnessError(f"chromium wrote no {png}; run {binary} --headless --screenshot by hand to see why")
    return png


def readme_images(results: Path, docs: Path) -> list[Path]:
    """``nox -s screenshot``: the README's pictures from a finished matrix's results folder: the
    report's first screen (``report.png``, 1400x900), the step chart and the sequence diagram."""
    from harness.errors import HarnessError

    out = [screenshot(results / "report.html", docs / "report.png")]
    for name in ("steps", "sequence"):
        svg = results / f"{name}.svg"
        if not svg.is_file():
            raise HarnessError(f"{svg}: missing; the report writes it (nox -s report) when it has a depth sweep")
        target = docs / svg.name
        shutil.copyfile(svg, target)
        out.append(target)
        png = render_png([target], always=True)
        if not png:
            raise HarnessError(f"chromium wrote no PNG of {target}")
        out += png
    return out
