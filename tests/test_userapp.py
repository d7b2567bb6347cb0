"""``--app``: your own application under every client script; import problems in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_harness

ROOT = Path(__file__).resolve().parent.parent


def harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_harness("run", *args, cwd=cwd)


def test_the_fastapi_style_app_runs_under_every_client_script():
    out = harness(
        "--app",
        "tests.apps.fastapi_style:create_app()",
        "--path",
        "/items",
        "--backend",
        "asyncio",
        "--profile",
        "uvicorn",
    )
    assert out.returncode == 0, out.stderr
    for name in (
        "no-disconnect",
        "disconnect-now",
        "disconnect-idle",
        "disconnect-before-body",
        "disconnect-after-start",
        "disconnect-mid-stream",
        "disconnect-after-response",
    ):
        assert f"app[{name}]" in out.stdout


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule:app", "--app nosuchmodule:app: no module named 'nosuchmodule'"),
        ("tests.apps.fastapi_style:nope", "module 'tests.apps.fastapi_style' has no attribute 'nope'"),
        ("tests.apps.fastapi_style:Timing", "is not an ASGI app"),
        ("tests.apps.fastapi_style:items", "is not an ASGI app"),
        ("tests.apps.fastapi_style", "write module:attribute or module:factory()"),
        ("tests.apps.broken:app", "importing 'tests.apps.broken' raised ZeroDivisionError"),
    ],
)
def test_an_app_that_cannot_be_used_is_one_line_naming_the_module(target, message):
    out = harness("--app", target)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr


def test_the_app_is_imported_from_app_dir(tmp_path):
    (tmp_path / "myapp.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 204, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
    )
    out = harness(
        "--app",
        "myapp:app",
        "--app-dir",
        str(tmp_path),
        "--backend",
        "asyncio",
        "--profile",
        "uvicorn",
        "--scenario",
        "app[no-disconnect]",
    )
    assert out.returncode == 0, out.stderr
    assert "ok 1/1" in out.stdout


ECHO_APP = """
import hashlib

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status = 200 if hashlib.sha256(body).hexdigest() == EXPECTED else 422
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "x", "price": 1}\n',  # the README's example: commas and a trailing newline
        b"a,b\r\n\x00\xff\xfe binary,\n\n",
    ],
)
def test_a_body_reaches_the_app_byte_for_byte_and_its_repro_line_carries_it(tmp_path, body):
    import hashlib
    import json

    expected = f"EXPECTED = {hashlib.sha256(body).hexdigest()!r}\n"
    (tmp_path / "echo.py").write_bytes((expected + ECHO_APP).encode())
    (tmp_path / "payload.bin").write_bytes(body)
    out_file = tmp_path / "runs.jsonl"
    out = harness(
        "--app",
        "echo:app",
        "--app-dir",
        str(tmp_path),
        "--body",
        "@payload.bin",
        "--scenario",
        "app[no-disconnect]",
        "--backend",
        "asyncio",
        "--profile",
        "uvicorn",
        "--out",
        str(out_file),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out_file.read_text().splitlines()[0])
    assert record["outcome"] == "ok" and record["params"]["body_bytes"] == len(body)
    assert record["sent"][0]["status"] == 200  # the app saw exactly these bytes (422 otherwise)
    from harness.results import run_command

    assert f"--body @{tmp_path / 'payload.bin'}" in run_command(record)
