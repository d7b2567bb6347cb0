"""The shape of the package, as specifications: five rooms in one direction, a stated public API,
and an import that costs nothing.

The import graph is read from the source with ``ast`` (every ``import`` and ``from ... import``,
at module level or inside a function), so a dependency is caught whether or not a test happens to
execute it.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"

#: Each top-level part of the package and its place in the flow; a module may import only from its
#: own part or from parts with a lower rank. ``harness`` itself (the lazy public API) and the CLI
#: are on top: nothing below may import them.
RANKS = {
    "harness.errors": 0,
    "harness.defaults": 0,
    "harness.options": 0,
    "harness.scenario": 1,
    "harness.scenarios": 1,
    "harness.run": 2,
    "harness.results": 3,
    "harness.servers": 4,
    "harness.matrix": 5,
    "harness.cli": 6,
    "harness.pytest_plugin": 6,
    "harness.__main__": 7,
    "harness": 8,
}


def module_name(path: Path) -> str:
    """``harness/run/_jobs.py`` -> ``harness.run._jobs``; the catalogue ships as ``harness.scenarios``."""
    if path.is_relative_to(ROOT / "scenarios"):
        parts = ["harness", "scenarios", *path.relative_to(ROOT / "scenarios").with_suffix("").parts]
    else:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(package: Path = PACKAGE) -> list[Path]:
    return sorted([*package.rglob("*.py"), *(ROOT / "scenarios").rglob("*.py")])


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import in ``path`` that names the harness."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if _is_module(candidate) else base), node.lineno


def _is_module(name: str) -> bool:
    parts = name.split(".")
    if parts[:2] == ["harness", "scenarios"]:
        folder = ROOT / "scenarios" / Path(*parts[2:]) if parts[2:] else ROOT / "scenarios"
    else:
        folder = ROOT / Path(*parts)
    return folder.with_suffix(".py").exists() or (folder / "__init__.py").exists()


def part_of(module: str) -> str:
    """The top-level part a module belongs to (the longest key of ``RANKS`` it falls under)."""
    best = "harness"
    for key in RANKS:
        if (module == key or module.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def graph(files: list[Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for f in files:
        edges[module_name(f)] = {m for m, _ in imports(f) if m == "harness" or m.startswith("harness.")}
    return edges


def upward_imports(files: list[Path]) -> list[str]:
    found = []
    for f in files:
        here = module_name(f)
        for target, line in imports(f):
            if not (target == "harness" or target.startswith("harness.")):
                continue
            a, b = part_of(here), part_of(target)
            if a != b and RANKS[b] > RANKS[a]:
                found.append(f"{f.relative_to(ROOT)}:{line}: {here} ({a}) imports {target} ({b}), which is above it")
    return found


def private_crossings(files: list[Path]) -> list[str]:
    """Imports of another part's private module: a part is used through the names its
    ``__init__`` re-exports."""
    found = []
    for f in files:
        here = module_name(f)
        for target, line in imports(f):
            inner = part_of(target)
            private = any(p.startswith("_") for p in target[len(inner) :].split(".") if p)
            if private and part_of(here) != inner and not here.startswith(inner + "."):
                found.append(f"{f.relative_to(ROOT)}:{line}: {here} imports {target}, private to {inner}")
    return found


def api_problems(module: object) -> list[str]:
    """What is wrong with a module's stated API: names listed twice or listed but missing."""
    names = list(getattr(module, "__all__", []))
    problems = [f"{n} listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
    return problems + [f"{n} does not resolve" for n in names if not hasattr(module, n)]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once, from its smallest member)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                start = cycle.index(min(cycle))
                cycle = cycle[start:] + cycle[:start]
                if cycle not in found:
                    found.append(cycle)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_part_of_the_package_has_a_place_in_the_flow():
    unplaced = [module_name(f) for f in source_files() if part_of(module_name(f)) == "harness"]
    assert unplaced == ["harness"], f"modules outside every part: {unplaced}; give them a rank in RANKS"


def test_dependencies_point_one_way_and_nothing_imports_the_cli():
    assert upward_imports(source_files()) == []


def test_a_part_is_used_only_through_its_public_names():
    assert private_crossings(source_files()) == []


def test_there_is_no_import_cycle_anywhere_in_the_package():
    assert cycles(graph(source_files())) == []


def test_at_most_ten_modules_sit_directly_in_harness():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_private_modules_are_underscored_and_each_part_reexports_its_public_names():
    for part in ("scenario", "run", "run/backends", "results", "servers", "matrix"):
        folder = PACKAGE / part
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert modules and all(p.name.startswith("_") for p in modules), f"{part}: {[p.name for p in modules]}"
        package = importlib.import_module("harness." + part.replace("/", "."))
        assert package.__all__, part
        assert api_problems(package) == [], part


def test_the_public_api_of_harness_is_stated_and_every_name_resolves():
    import harness

    assert api_problems(harness) == []
    with pytest.raises(AttributeError):
        _ = harness.no_such_name  # type: ignore[attr-defined]


def test_importing_harness_registers_nothing_and_loads_no_server_rich_nox_or_subpackage():
    probe = (
        "import atexit, sys\n"
        "before = atexit._ncallbacks()\n"
        "import harness\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('uvicorn', 'hypercorn', 'granian', 'rich', 'nox', 'asyncio', 'trio', 'starlette'))\n"
        "subpackages = sorted(m for m in sys.modules if m.startswith('harness.'))\n"
        "print(atexit._ncallbacks() - before, loaded, subpackages)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0 [] []", out.stdout + out.stderr


def test_importing_the_real_server_package_starts_and_registers_nothing():
    probe = (
        "import atexit, sys\n"
        "before = atexit._ncallbacks()\n"
        "import harness.servers\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'hypercorn', 'granian'))\n"
        "print(atexit._ncallbacks() - before - ('logging' in sys.modules), loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr


# --- the checks themselves can fail ----------------------------------------------------------------


def _plant(tmp_path: Path, files: dict[str, str]) -> list[Path]:
    """A copy of the package with ``files`` (relative to the root) replaced or added."""
    shutil.copytree(PACKAGE, tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in files.items():
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return sorted((tmp_path / "harness").rglob("*.py"))


def test_a_planted_upward_import_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    planted = (PACKAGE / "scenario" / "_script.py").read_text() + "\nfrom harness.cli import main  # planted\n"
    files = _plant(tmp_path, {"harness/scenario/_script.py": planted})
    found = upward_imports(files)
    assert len(found) == 1 and "harness.scenario._script (harness.scenario) imports harness.cli" in found[0]


def test_a_planted_cycle_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    planted = (PACKAGE / "run" / "_connection.py").read_text() + "\nfrom harness.run._driver import drive  # planted\n"
    files = _plant(tmp_path, {"harness/run/_connection.py": planted})
    assert ["harness.run._connection", "harness.run._driver"] in cycles(graph(files))


def test_a_planted_private_crossing_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    planted = (PACKAGE / "matrix" / "_envs.py").read_text() + "\nfrom harness.run._driver import drive  # planted\n"
    found = private_crossings(_plant(tmp_path, {"harness/matrix/_envs.py": planted}))
    assert len(found) == 1 and "harness.matrix._envs imports harness.run._driver, private to harness.run" in found[0]


def test_a_planted_name_in_all_that_does_not_resolve_is_caught():
    import types

    import harness

    fake = types.ModuleType("fake")
    fake.__all__ = [*harness.__all__, "planted_name", "BACKENDS"]  # type: ignore[attr-defined]
    for name in harness.__all__:
        setattr(fake, name, getattr(harness, name))
    assert api_problems(fake) == ["BACKENDS listed twice", "planted_name does not resolve"]


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build and install the wheel")
def test_the_installed_wheel_finds_the_catalogue_as_harness_scenarios_and_installs_no_scenarios_package(tmp_path):
    def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=True)

    run("uv", "build", "--wheel", "-q", "-o", str(tmp_path / "dist"), str(ROOT))
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    run("uv", "venv", "-q", "-p", sys.executable, str(tmp_path / "venv"))
    python = str(tmp_path / "venv" / "bin" / "python")
    run("uv", "pip", "install", "-q", "-p", python, str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    installed = run(python, "-m", "harness", "list", cwd=elsewhere).stdout.splitlines()
    checkout = run(sys.executable, "-m", "harness", "list").stdout.splitlines()
    assert installed == checkout and len(installed) > 100
    probe = "import importlib.util as u; print(u.find_spec('scenarios'), u.find_spec('harness.scenarios').origin)"
    out = run(python, "-c", probe, cwd=elsewhere).stdout.split()
    assert out[0] == "None" and out[1].endswith("site-packages/harness/scenarios/__init__.py")
