"""matrix.toml: what it expands to, and the one-line errors for every way of getting it wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from harness.errors import ConfigError, HarnessError
from harness.matrix import Release, load, make_cell, parse, resolve_versions

ROOT = Path(__file__).resolve().parent.parent


def releases(*versions: str, requires: dict[str, str] | None = None) -> list[Release]:
    requires = requires or {}
    return [
        Release(Version(v), f"2020-01-{i + 1:02d}T00:00:00Z", False, requires.get(v)) for i, v in enumerate(versions)
    ]


INDEX = releases(
    "0.12.9",
    "0.13.0",
    "0.13.5",
    "0.14.2",
    "0.15.0",
    "0.30.0",
    "0.31.0",
    "0.35.0",
    "1.10.0",
    requires={"1.10.0": ">=3.11"},
)


@pytest.fixture(scope="module")
def config():
    return load(ROOT / "matrix.toml")


def cell(config, version: str, resolution: str | None = None):
    return make_cell(config, next(r for r in INDEX if str(r.version) == version), resolution)


def test_the_default_matrix_covers_every_release_from_0_13(config):
    assert [str(r.version) for r in resolve_versions(config, INDEX)] == [
        "0.13.0",
        "0.13.5",
        "0.14.2",
        "0.15.0",
        "0.30.0",
        "0.31.0",
        "0.35.0",
        "1.10.0",
    ]
    assert config.backends == ("asyncio", "trio")
    assert set(config.profiles) >= {"uvicorn", "hypercorn"}
    assert config.repeats == 5


def test_pins_follow_the_known_eras(config):
    assert cell(config, "0.13.0").requirements[0] == "starlette==0.13.0"
    assert not any(r.startswith(("anyio", "trio")) for r in cell(config, "0.14.2").requirements)
    assert cell(config, "0.13.5").python == "3.10"
    assert cell(config, "0.14.2").python == "3.11"
    assert {"anyio==3.7.1", "trio==0.21.0"} <= set(cell(config, "0.30.0").requirements)
    assert {"anyio==4.16.0", "trio==0.35.0"} <= set(cell(config, "0.31.0").requirements)
    assert "typing_extensions" in cell(config, "0.35.0").requirements
    assert "anyio3" in cell(config, "0.15.0").tags


def test_newest_and_as_released_let_the_metadata_choose(config):
    newest = cell(config, "0.30.0", "newest")
    assert "anyio[trio]" in newest.requirements
    assert not any(r.startswith("anyio==") for r in newest.requirements)
    released = cell(config, "0.30.0", "as-released")
    assert released.exclude_newer == "2020-01-07T00:00:00Z", "the release day, its own files included"
    assert released.id == "0.30.0-as-released"
    assert released.pins_hash != cell(config, "0.30.0").pins_hash


def test_narrowing_by_version_or_specifier(config):
    chosen = resolve_versions(config, INDEX, ["0.15.0", ">=0.31,<0.36"])
    assert [str(r.version) for r in chosen] == ["0.15.0", "0.31.0", "0.35.0"]
    with pytest.raises(HarnessError, match="selects no release"):
        resolve_versions(config, INDEX, ["==9.9"])


BASE = '[matrix]\nstarlette = [">=0.13"]\n[[pins]]\nstarlette = ">=0"\npython = "3.11"\n'


#: matrix.toml mistakes, each one line naming the file, the key and the fix (the bad-input catalogue).
BAD_CONFIGS = [
    ("[matrix]\nstarlette = [", "-", "not valid TOML"),
    ('[matrx]\nstarlette = ["1.0"]', "matrx", "unknown table"),
    ('[matrix]\nstarlette = ["1.0"]\nrepeat = 3', "matrix.repeat", "known keys are"),
    ('[matrix]\nstarlette = ["~~1"]', "matrix.starlette", "neither a version nor a PEP 440 specifier"),
    ('[matrix]\nstarlette = ["1.0"]\nbackends = ["curio"]', "matrix.backends", "choose from asyncio, trio"),
    ('[matrix]\nstarlette = ["1.0"]\nprofiles = ["gunicorn"]', "matrix.profiles", "choose from uvicorn"),
    ('[matrix]\nstarlette = ["1.0"]\nrepeats = 0', "matrix.repeats", "integer >= 1"),
    ('[matrix]\nstarlette = ["1.0"]\nresolution = "latest"', "matrix.resolution", "pinned, newest, as-released"),
    ('[matrix]\nstarlette = ["1.0"]\n[[pins]]\npython = "3.11"', "pins[0].starlette", "missing"),
    (
        '[matrix]\nstarlette = ["1.0"]\n[[pins]]\nstarlette = ">=0"\nanyio = "4.x"',
        "pins[0].anyio",
        "not a specifier",
    ),
    (
        '[matrix]\nstarlette = ["1.0"]\n[[pins]]\nstarlette = ">=0"\npyhton = "3.11"',
        "pins[0].pyhton",
        "unknown key",
    ),
    ('[matrix]\nstarlette = ["1.0"]\nrepeats = "five"', "matrix.repeats", "integer >= 1"),
    ('[matrix]\nstarlette = ["1.0"]\ntimeout = -1', "matrix.timeout", "> 0"),
    ('[matrix]\nstarlette = ["1.0"]\nreal_timeout = 0', "matrix.real_timeout", "> 0"),
    ('[matrix]\nstarlette = ["1.0"]\nscenarios = []', "matrix.scenarios", "expected"),
    ('[matrix]\nstarlette = ["1.0"]\nbackends = [1]', "matrix.backends", "expected"),
    ("[matrix]\nstarlette = []", "matrix.starlette", ""),
    ('[matrix]\nstarlette = ["1.0"]\n[servers]\nservers = "granian"', "servers.servers", "list"),
]


@pytest.mark.parametrize(("text", "key", "fix"), BAD_CONFIGS)
def test_a_malformed_matrix_is_one_line_naming_the_file_and_key(tmp_path, text, key, fix):
    assert_one_line_error(load, tmp_path, text, key, fix)


def assert_one_line_error(loader, tmp_path, text, key, fix):
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        loader(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}: ")
    assert fix in message
    assert "\n" not in message


def test_a_release_the_pins_cannot_run_is_a_skipped_cell_naming_the_table_and_the_pin_to_add():
    config = parse(
        {
            "matrix": {"starlette": [">=1.0"]},
            "pins": [{"starlette": ">=0", "python": "3.11"}, {"starlette": ">=1.0", "python": "3.10"}],
        }
    )
    cell = make_cell(config, INDEX[-1])  # no error: one new release never stops the matrix
    assert cell.skip_reason.startswith("pins[1].python: Python 3.10 cannot run Starlette 1.10.0")
    assert "Requires-Python >=3.11" in cell.skip_reason
    assert 'python = "3.11"' in cell.skip_reason and "[[pins]]" in cell.skip_reason
    assert make_cell(config, INDEX[-2]).skip_reason == "" or INDEX[-2].requires_python


def test_a_new_release_the_pins_cannot_run_is_listed_and_skipped_while_the_rest_runs(tmp_path):
    """A fake index (the offline cache) with a release whose Requires-Python excludes the pin."""
    import json
    import os
    import subprocess
    import sys

    cache = tmp_path / ".cache" / "starlette-index.json"
    cache.parent.mkdir()
    cache.write_text(json.dumps({
        "1.10.0": {"uploaded": "2026-10-01T00:00:00Z", "yanked": False, "requires_python": ">=3.10"},
        "1.11.0": {"uploaded": "2026-11-30T00:00:00Z", "yanked": False, "requires_python": ">=3.12"},
    }))  # fmt: skip
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('[matrix]\nstarlette = [">=1.10"]\n\n[[pins]]\nstarlette = ">=0"\npython = "3.11"\n')
    noxfile = str(ROOT / "noxfile.py")
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-f", noxfile, "-l", "--", "--matrix", str(matrix), "--offline"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HARNESS_CACHE_DIR": str(cache.parent)},
    )  # fmt: skip
    assert "matrix(starlette='1.10.0')" in listed.stdout and "matrix(starlette='1.11.0')" in listed.stdout, listed
    assert "matrix(error)" not in listed.stdout
    one = [
        sys.executable,
        "-m",
        "nox",
        "-f",
        noxfile,
        "-s",
        "matrix(starlette='1.11.0')",
        "--",
        "--matrix",
        str(matrix),
    ]
    one += ["--offline", "--results", str(tmp_path / "results")]
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache.parent)}
    ran = subprocess.run(one, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (
        "1 cell(s) skipped: 1.11.0 (pins[0].python: Python 3.11 cannot run Starlette 1.11.0" in ran.stdout + ran.stderr
    )
    assert "skipped: pins[0].python" in (tmp_path / "results" / "report.md").read_text()
    strict = subprocess.run(
        [*one, "--strict"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert strict.returncode != 0 and "--strict: 1 cell(s) were skipped" in strict.stdout + strict.stderr


def test_a_version_missing_from_the_index_is_named():
    config = parse({"matrix": {"starlette": ["0.99.0"]}, "pins": [{"starlette": ">=0", "python": "3.11"}]})
    with pytest.raises(ConfigError, match=r"matrix.starlette: Starlette 0.99.0 is not on the index"):
        resolve_versions(config, INDEX)


def test_a_checkout_or_wheel_becomes_a_dev_cell_with_the_newest_pins(config, tmp_path):
    from harness.matrix import dev_cell, is_dev_target

    wheel = tmp_path / "starlette-1.11.0.dev0-py3-none-any.whl"
    wheel.write_bytes(b"")
    cell = dev_cell(config, INDEX, str(wheel))
    assert cell.resolution == "dev"
    assert cell.requirements[0] == str(wheel)
    assert "anyio==4.16.0" in cell.requirements
    assert cell.id == "starlette-1.11.0.dev0-dev"
    assert is_dev_target("../starlette") and is_dev_target("git+https://example.invalid/starlette.git")
    assert not is_dev_target("0.38.6")
    with pytest.raises(HarnessError, match="no such checkout or wheel"):
        dev_cell(config, INDEX, str(tmp_path / "missing"))


def test_the_servers_table_checks_the_issue_asks_for():
    from harness.matrix import load_servers

    servers = load_servers(ROOT / "matrix.toml")
    assert set(servers.servers) >= {"uvicorn-h11", "uvicorn-httptools", "hypercorn-asyncio", "hypercorn-trio"}
    by_version = {c.starlette: c.scenarios for c in servers.checks}
    assert by_version["0.20.4"] == ("pr1634-seed",)
    assert by_version["0.37.2"] == tuple(f"depth-sweep[depth={d},endpoint=slow,when=now]" for d in range(1, 7))
    assert "newest" in by_version
    assert servers.pinned("hypercorn-trio", Version("0.20.4")) == ("hypercorn==0.14.3",)
    assert servers.pinned("hypercorn-trio", Version("0.37.2")) is None


_SERVERS_OK = '[matrix]\nstarlette = ["1.0"]\n[servers]\nservers = ["uvicorn-h11"]\n'


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ('[matrix]\nstarlette = ["1.0"]\n', "servers", "missing [servers] table"),
        (_SERVERS_OK.replace("uvicorn-h11", "gunicorn"), "servers.servers", "choose from uvicorn-h11"),
        (_SERVERS_OK + "repeats = 3\n", "servers.repeats", "known keys are"),
        (_SERVERS_OK + "repeat = 0\n", "servers.repeat", "integer >= 1"),
        (_SERVERS_OK, "servers.check", "no [[servers.check]] table"),
        (
            _SERVERS_OK + '[[servers.check]]\nstarlette = "latest"\nscenarios = ["x"]\n',
            "servers.check[0].starlette",
            "'newest'",
        ),
        (_SERVERS_OK + '[[servers.check]]\nstarlette = "0.37.2"\n', "servers.check[0].scenarios", "expected a list"),
        (
            _SERVERS_OK + '[[servers.check]]\nstarlette = "0.37.2"\nscenarios = ["x"]\n'
            '[[servers.pins]]\nstarlette = "<0.31"\nservers = ["hypercorn-trio"]\n',
            "servers.pins[0].requirements",
            "expected a list of requirement strings",
        ),
    ],
)
def test_a_malformed_servers_table_is_one_line_naming_the_key(tmp_path, text, key, fix):
    from harness.matrix import load_servers

    assert_one_line_error(load_servers, tmp_path, text, key, fix)


def test_pyenv_interpreters_are_compared_as_versions(tmp_path, monkeypatch):
    from harness.matrix import _interpreters

    for name in ("3.10.9", "3.10.14", "3.10.2"):
        python = tmp_path / "versions" / name / "bin" / "python3.10"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setattr(_interpreters.shutil, "which", lambda name: None)
    _interpreters.find_python.cache_clear()
    try:
        assert _interpreters.find_python("3.10") == str(tmp_path / "versions" / "3.10.14" / "bin" / "python3.10")
    finally:
        _interpreters.find_python.cache_clear()


def test_the_release_list_comes_from_the_json_simple_api_of_the_index_the_installers_use(tmp_path, monkeypatch):
    import http.server
    import json
    import threading

    from harness.matrix import _releases

    files = [
        {"filename": "starlette-1.10.0-py3-none-any.whl", "requires-python": ">=3.11",
         "upload-time": "2026-10-24T15:04:10Z", "yanked": False},
        {"filename": "starlette-1.10.0.tar.gz", "requires-python": ">=3.11",
         "upload-time": "2026-10-24T15:03:00Z", "yanked": False},
        {"filename": "starlette-1.10.1-py3-none-any.whl", "upload-time": "2026-11-01T00:00:00Z",
         "yanked": "broke everything"},
    ]  # fmt: skip
    asked: list[str] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(f"{self.path} {self.headers.get('Accept')}")
            body = json.dumps({"meta": {"api-version": "1.1"}, "name": "starlette", "files": files}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("HARNESS_INDEX_URL", raising=False)
        monkeypatch.delenv("PIP_INDEX_URL", raising=False)
        monkeypatch.setenv("UV_INDEX_URL", f"http://127.0.0.1:{server.server_port}/simple/")
        found = _releases.releases(cache=tmp_path / "index.json")
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/simple/starlette/ application/vnd.pypi.simple.v1+json"]
    assert [(str(r.version), r.uploaded, r.requires_python) for r in found] == [
        ("1.10.0", "2026-10-24T15:03:00Z", ">=3.11")
    ], "the yanked release is left out; the first upload and Requires-Python come from the files"


def test_as_released_on_an_index_without_upload_times_is_a_skipped_cell_not_a_crash():
    config = load(ROOT / "matrix.toml")
    undated = Release(Version("0.37.2"), "", False, None)
    cell = make_cell(config, undated, "as-released")
    assert "no upload time" in cell.skip_reason and "--resolution pinned" in cell.skip_reason
    assert make_cell(config, undated, "pinned").skip_reason == ""


def test_overlapping_pins_that_give_a_pair_anyio_rules_out_are_an_error_naming_both_tables():
    config = parse(
        {
            "matrix": {"starlette": [">=0.15"]},
            "pins": [
                {"starlette": ">=0", "python": "3.11"},
                {"starlette": ">=0.15,<0.31", "anyio": "==3.7.1", "trio": "==0.21.0"},
                {"starlette": ">=0.25", "anyio": "==4.16.0"},  # overlaps the anyio 3 era from 0.25
            ],
        }
    )
    with pytest.raises(ConfigError) as e:
        make_cell(config, INDEX[5])  # 0.30.0: anyio from pins[2], trio from pins[1]
    message = str(e.value)
    assert "pins[2].anyio and pins[1].trio" in message
    assert "anyio 4.16.0 needs trio>=0.31.0" in message and "\n" not in message
    assert "anyio==4.16.0" in make_cell(config, INDEX[6]).requirements  # 0.31.0: no trio pin, nothing to clash


@pytest.mark.parametrize(("anyio", "trio"), [("==4.*", "==0.21.0"), ("===4.0.0", "==0.21.0"), ("==4.16.0", "==0.21.*")])
def test_pins_that_are_not_exact_versions_are_left_to_the_installer(anyio, trio):
    pins = [{"starlette": ">=0", "python": "3.11", "anyio": anyio, "trio": trio}]
    config = parse({"matrix": {"starlette": [">=0.31"]}, "pins": pins})
    assert f"anyio{anyio}" in make_cell(config, INDEX[6]).requirements


def test_the_default_pins_give_pairs_anyio_allows(config):
    for release in INDEX[1:]:  # 0.13.0 on (0.12.9 is outside the matrix)
        make_cell(config, release)  # raises on a pair anyio rules out
