"""A user's app inside a cell: the ``harness run`` arguments that drive it and the requirements it
brings, for the gate, bisect and the matrix alike.

The app's requirements (``--requirements``, ``--with``, ``--project``) are resolved together with
the cell's own pins in one install, so the cell's Starlette, anyio and trio stay what it asks for,
or the installer names the conflict. A cell with app requirements is a cell of its own (its id and
environment carry a digest of them), so it never shares an environment with the plain release.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from harness.errors import HarnessError
from harness.matrix._cells import Cell


def run_args(o: argparse.Namespace) -> list[str]:
    """``--app`` and its companions as ``harness run`` arguments, paths made absolute."""
    if not o.app:
        return []
    args = ["--app", o.app, "--app-dir", str(Path(o.app_dir).resolve()), "--path", o.path, "--method", o.method]
    if o.body:
        args += ["--body", o.body if not o.body.startswith("@") else "@" + str(Path(o.body[1:]).resolve())]
    if getattr(o, "real_time", False):
        args += ["--real-clock"]
    return args


def requirements(o: argparse.Namespace) -> tuple[str, ...]:
    """What the app needs besides the cell, as installer arguments."""
    out: list[str] = []
    for f in o.requirements or ():
        if not Path(f).is_file():
            raise HarnessError(f"--requirements {f}: no such file; give the path of a pip requirements file")
        out += ["-r", str(Path(f).resolve())]
    for req in o.with_ or ():
        try:
            Requirement(req)
        except InvalidRequirement as e:
            raise HarnessError(f"--with {req!r}: not a requirement ({e}); write e.g. --with 'pyyaml>=6'") from None
        out.append(req)
    if o.project is not None:
        if not (Path(o.project) / "pyproject.toml").is_file() and not (Path(o.project) / "setup.py").is_file():
            raise HarnessError(f"--project {o.project}: no pyproject.toml or setup.py; give the project's root")
        out += ["-e", str(Path(o.project).resolve())]
    return tuple(out)


def options_args(o: argparse.Namespace) -> list[str]:
    """The options that rebuild the app's environment, for a repro line."""
    args = [a for f in o.requirements or () for a in ("--requirements", str(Path(f).resolve()))]
    args += [a for req in o.with_ or () for a in ("--with", req)]
    return args + (["--project", str(Path(o.project).resolve())] if o.project is not None else [])


def with_app(cell: Cell, o: argparse.Namespace) -> Cell:
    """The cell with the app's requirements in the same install as its pins."""
    extra = requirements(o)
    if not extra:
        return cell
    digest = hashlib.sha256(repr(extra).encode())
    for f in o.requirements or ():
        digest.update(Path(f).read_bytes())
    return dataclasses.replace(cell, requirements=(*cell.requirements, *extra), inputs_hash=digest.hexdigest()[:12])
