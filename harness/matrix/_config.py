"""``matrix.toml``: the one loader and validator of all its tables.

``[matrix]`` (releases, backends, profiles, scenarios, repeats, bounds), ``[[pins]]`` (what each
range of releases installs), ``[servers]`` with ``[[servers.check]]`` and ``[[servers.pins]]`` (the
real-server checks). Every mistake is a one-line ``ConfigError`` naming the file, the key and the
fix, raised when the file is read, before anything is installed. Nothing here imports Starlette.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from harness import defaults
from harness.errors import ConfigError
from harness.run import BACKENDS
from harness.scenario import PROFILES
from harness.servers import SERVERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

RESOLUTIONS = defaults.RESOLUTIONS

_MATRIX_KEYS = {
    "starlette": "list of versions or PEP 440 specifiers",
    "backends": f"list from {list(BACKENDS)}",
    "profiles": f"list from {list(PROFILES)}",
    "scenarios": "list of scenario names or glob patterns",
    "repeats": "integer >= 1",
    "seed": "integer",
    "resolution": f"one of {list(RESOLUTIONS)}",
    "timeout": "number of virtual seconds > 0",
    "real_timeout": "number of seconds > 0",
    "cell_timeout": "number of seconds > 0",
    "jobs": "integer >= 0 (0: one per core)",
}
_PIN_KEYS = {
    "starlette": "PEP 440 specifier of the releases this table applies to",
    "python": "Python version such as '3.11'",
    "anyio": "PEP 440 specifier, or 'none'",
    "trio": "PEP 440 specifier, or 'none'",
    "extra": "list of extra requirements",
    "tag": "nox tag for these cells",
    "note": "why these pins",
}
_SERVERS_KEYS = {
    "servers": f"list from {list(SERVERS)}",
    "repeat": "integer >= 1 (requests per cell)",
    "time_scale": "real seconds per virtual second, > 0",
    "app_timeout": "real seconds, > 0",
    "check": "[[servers.check]] tables with starlette and scenarios",
    "pins": "[[servers.pins]] tables with starlette, servers and requirements",
}


@dataclass(frozen=True)
class PinRule:
    starlette: SpecifierSet
    values: dict[str, Any]
    index: int


@dataclass(frozen=True)
class Check:
    """One real-server check: a release (or ``newest``) and its scenarios."""

    starlette: str
    scenarios: tuple[str, ...]


@dataclass(frozen=True)
class ServerPin:
    specifier: SpecifierSet
    servers: tuple[str, ...]
    requirements: tuple[str, ...]


@dataclass(frozen=True)
class ServersConfig:
    file: str
    servers: tuple[str, ...]
    repeat: int
    time_scale: float
    app_timeout: float
    checks: tuple[Check, ...]
    pins: tuple[ServerPin, ...]

    def pinned(self, server: str, starlette: Version) -> tuple[str, ...] | None:
        """The requirements a ``[[servers.pins]]`` table gives ``server`` here (the last match), or None."""
        chosen = None
        for pin in self.pins:
            if server in pin.servers and starlette in pin.specifier:
                chosen = pin.requirements
        return chosen


@dataclass(frozen=True)
class MatrixConfig:
    file: str
    starlette: tuple[str, ...]
    backends: tuple[str, ...]
    profiles: tuple[str, ...]
    scenarios: tuple[str, ...]
    repeats: int
    seed: int
    resolution: str
    timeout: float
    real_timeout: float
    cell_timeout: float
    jobs: int
    pins: tuple[PinRule, ...]
    #: ``[servers]``, when the file has one.
    servers: ServersConfig | None = None


class _Table:
    """One table of the file, checked key by key: every error names ``file: table.key``."""

    def __init__(self, file: str, where: str, data: Any, known: Mapping[str, str] | Sequence[str]) -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, where, "expected a table")
        self.file, self.where, self.data, self.known = file, where, data, known
        for key in data:
            if key not in known:
                raise ConfigError(file, self.key(key), f"unknown key; known keys are {', '.join(known)}")

    def key(self, key: str) -> str:
        return f"{self.where}.{key}"

    def expected(self, key: str) -> str:
        return self.known[key] if isinstance(self.known, Mapping) else key

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(key), problem)

    def strings(
        self, key: str, default: Sequence[str] | None = None, allowed: Sequence[str] | None = None
    ) -> tuple[str, ...]:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, f"missing; expected {self.expected(key)}")
        if isinstance(value, (str, tuple)):
            value = [value] if isinstance(value, str) else list(value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected {self.expected(key)}, got {value!r}")
        for v in value:
            if allowed is not None and v not in allowed:
                raise self.fail(key, f"unknown {v!r}; choose from {', '.join(allowed)}")
        return tuple(value)

    def number(
        self, key: str, default: float, *, integer: bool = False, minimum: float = 0, strict: bool = True
    ) -> Any:
        """A number above ``minimum`` (at or above it when not ``strict``); booleans are not numbers."""
        value = self.data.get(key, default)
        ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok_type or value < minimum or (strict and value == minimum):
            raise self.fail(key, f"expected {self.expected(key)}, got {value!r}")
        return value

    def tables(self, key: str) -> list[Any]:
        """The ``[[table.key]]`` array (empty when absent)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected [[{self.key(key)}]] tables")
        return value

    def specifier(self, key: str, example: str) -> SpecifierSet:
        value = self.data.get(key)
        try:
            return SpecifierSet(str(value))
        except InvalidSpecifier:
            raise self.fail(key, f"{value!r} is not a specifier (PEP 440; try {example!r})") from None


def read(path: Path | str) -> dict[str, Any]:
    """The file as TOML, or a one-line error naming it."""
    file = str(path)
    try:
        data: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        raise ConfigError(file, "-", "file not found; run from the project root or pass --matrix FILE") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(file, "-", f"not valid TOML ({e}); fix the syntax") from None


def load(path: Path | str = defaults.MATRIX_FILE) -> MatrixConfig:
    return parse(read(path), str(path))


def load_servers(path: Path | str = defaults.MATRIX_FILE) -> ServersConfig:
    """The ``[servers]`` table (required here: this is what ``nox -s servers`` runs)."""
    raw = read(path)
    return parse_servers(raw.get("servers"), str(path))


def parse(raw: dict[str, Any], file: str = defaults.MATRIX_FILE) -> MatrixConfig:
    unknown = set(raw) - {"matrix", "pins", "servers"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(file, key, "unknown table; the file has [matrix], [[pins]] and [servers]")
    if not isinstance(raw.get("matrix"), dict):
        raise ConfigError(file, "matrix", "missing [matrix] table")
    m = _Table(file, "matrix", raw["matrix"], _MATRIX_KEYS)
    starlette = m.strings("starlette")
    for entry in starlette:
        version_or_specifier(entry, file, "matrix.starlette")
    resolution = m.data.get("resolution", "pinned")
    if resolution not in RESOLUTIONS:
        raise m.fail("resolution", f"unknown {resolution!r}; choose from {', '.join(RESOLUTIONS)}")
    return MatrixConfig(
        file=file,
        starlette=starlette,
        backends=m.strings("backends", defaults.BACKENDS, list(BACKENDS)),
        profiles=m.strings("profiles", defaults.PROFILES, list(PROFILES)),
        scenarios=m.strings("scenarios", ["*"]),
        repeats=m.number("repeats", defaults.MATRIX_REPEATS, integer=True, minimum=1, strict=False),
        seed=m.number("seed", defaults.SEED, integer=True, minimum=-(2**63), strict=False),
        resolution=resolution,
        timeout=m.number("timeout", defaults.RUN_TIMEOUT),
        real_timeout=m.number("real_timeout", defaults.REAL_TIMEOUT),
        cell_timeout=m.number("cell_timeout", defaults.CELL_TIMEOUT),
        jobs=m.number("jobs", 0, integer=True, minimum=0, strict=False),
        pins=_parse_pins(raw.get("pins", []), file),
        servers=parse_servers(raw["servers"], file) if "servers" in raw else None,
    )


def version_or_specifier(text: str, file: str, key: str) -> SpecifierSet | Version:
    try:
        return Version(text)
    except InvalidVersion:
        pass
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(file, key, f"{text!r} is neither a version nor a PEP 440 specifier (try '>=0.13')") from None


def _parse_pins(tables: Any, file: str) -> tuple[PinRule, ...]:
    if not isinstance(tables, list):
        raise ConfigError(file, "pins", "expected [[pins]] tables")
    return tuple(_parse_pin(_Table(file, f"pins[{i}]", t, _PIN_KEYS), i) for i, t in enumerate(tables))


def _parse_pin(t: _Table, index: int) -> PinRule:
    if not isinstance(t.data.get("starlette"), str):
        raise t.fail("starlette", "missing; say which releases this table pins (e.g. '>=0.31')")
    specifier = t.specifier("starlette", ">=0.31")
    for key in ("anyio", "trio"):
        value = t.data.get(key)
        if value is None or value == "none":
            continue
        if not isinstance(value, str):
            raise t.fail(key, f"expected {_PIN_KEYS[key]}")
        t.specifier(key, "==4.11.0")
    python = t.data.get("python")
    if python is not None:
        try:
            Version(python)
        except (InvalidVersion, TypeError):
            raise t.fail("python", f"{python!r} is not a Python version (try '3.11')") from None
    extra = t.data.get("extra", [])
    if not isinstance(extra, list) or not all(isinstance(x, str) for x in extra):
        raise t.fail("extra", "expected a list of requirement strings")
    return PinRule(specifier, dict(t.data), index)


def parse_servers(table: Any, file: str) -> ServersConfig:
    if not isinstance(table, dict):
        raise ConfigError(file, "servers", "missing [servers] table; see the README's real-server section")
    t = _Table(file, "servers", table, _SERVERS_KEYS)
    names = t.data.get("servers")
    if not isinstance(names, list) or not names or not all(isinstance(s, str) for s in names):
        raise t.fail("servers", f"expected {_SERVERS_KEYS['servers']}")
    for name in names:
        if name not in SERVERS:
            raise t.fail("servers", f"unknown server {name!r}; choose from {', '.join(SERVERS)}")
    servers = tuple(names)
    repeat = t.number("repeat", defaults.SERVER_REPEATS, integer=True)
    time_scale = t.number("time_scale", defaults.TIME_SCALE)
    app_timeout = t.number("app_timeout", defaults.APP_TIMEOUT)
    check_keys, pin_keys = ("starlette", "scenarios"), ("starlette", "servers", "requirements", "note")
    checks = [_parse_check(_Table(file, f"servers.check[{i}]", e, check_keys)) for i, e in enumerate(t.tables("check"))]
    if not checks:
        raise t.fail("check", "no [[servers.check]] table; add one with starlette and scenarios")
    pins = [_parse_server_pin(_Table(file, f"servers.pins[{i}]", e, pin_keys)) for i, e in enumerate(t.tables("pins"))]
    return ServersConfig(file, servers, repeat, time_scale, app_timeout, tuple(checks), tuple(pins))


def _parse_check(t: _Table) -> Check:
    version = t.data.get("starlette")
    if version != "newest":
        try:
            Version(str(version))
        except InvalidVersion:
            raise t.fail("starlette", f"{version!r}: give a release such as '0.37.2' or 'newest'") from None
    scenarios = t.data.get("scenarios")
    if not isinstance(scenarios, list) or not scenarios or not all(isinstance(s, str) for s in scenarios):
        raise t.fail("scenarios", "expected a list of scenario names or glob patterns")
    return Check(str(version), tuple(scenarios))


def _parse_server_pin(t: _Table) -> ServerPin:
    try:
        specifier = SpecifierSet(str(t.data.get("starlette")))
    except InvalidSpecifier:
        raise t.fail("starlette", "expected a PEP 440 specifier such as '<0.31'") from None
    names = t.data.get("servers")
    if not isinstance(names, list) or not all(n in SERVERS for n in names):
        raise t.fail("servers", f"expected a list from {list(SERVERS)}")
    reqs = t.data.get("requirements")
    if not isinstance(reqs, list) or not reqs or not all(isinstance(r, str) for r in reqs):
        raise t.fail("requirements", "expected a list of requirement strings")
    return ServerPin(specifier, tuple(names), tuple(reqs))
