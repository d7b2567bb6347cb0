"""The pytest plugin, as a team's own suite meets it: silent unless asked, one item per client
script x profile x backend when given ``--disconnect-app``, each failing with its outcome, detail
and a replay command; and the ``disconnect_run`` fixture for tests that drive the app themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "tests" / "apps" / "service"

pytest_plugins = ["pytester"]


def test_a_suite_that_does_not_ask_for_it_runs_exactly_as_before(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert True\n")
    assert "--disconnect-app" in pytester.runpytest("--help").stdout.str(), "the entry point loads the plugin"
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert "disconnect-harness::" not in text and "warnings summary" not in text
    collected = pytester.runpytest("--co", "-q")
    assert [line.split("::")[-1] for line in collected.stdout.lines if "::" in line] == ["test_one"]


def test_the_app_gets_one_item_per_script_profile_and_backend(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one():\n    assert True\n")
    app = ["--disconnect-app", "tests.apps.fastapi_style:create_app()", "--disconnect-app-dir", str(ROOT)]
    result = pytester.runpytest("--co", "-q", *app, "--disconnect-path", "/items")
    items = [line for line in result.stdout.lines if line.startswith("disconnect-harness::")]
    assert len(items) == 7 * 2 * 2
    assert "disconnect-harness::disconnect-now[trio-hypercorn]" in items
    assert "29 tests collected" in result.stdout.str()  # the summary counts them with the suite's own
    only = pytester.runpytest("--co", "-q", *app, "-m", "disconnect", "-k", "no-disconnect and asyncio")
    assert [line for line in only.stdout.lines if "::" in line] == [
        "disconnect-harness::no-disconnect[asyncio-uvicorn]",
        "disconnect-harness::no-disconnect[asyncio-hypercorn]",
    ]


def test_a_healthy_app_passes_every_item(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--disconnect-app", "tests.apps.fastapi_style:create_app()", "--disconnect-app-dir", str(ROOT),
        "--disconnect-path", "/items", "--disconnect-repeat", "2", "-k", "not disconnect-before-body",
    )  # fmt: skip
    result.assert_outcomes(passed=6 * 2 * 2)


def test_a_failing_item_says_what_happened_and_how_to_replay_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app="""
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def body(request):
    await request.body()  # the client left before sending it: ClientDisconnect escapes
    return PlainTextResponse("ok")

app = Starlette(routes=[Route("/", body, methods=["POST"])])
app.add_middleware(BaseHTTPMiddleware, dispatch=lambda request, call_next: call_next(request))
"""
    )
    result = pytester.runpytest(
        "--disconnect-app", "app:app", "--disconnect-method", "POST", "-k", "disconnect-before-body and asyncio",
        "--disconnect-profile", "uvicorn",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "app[disconnect-before-body] on asyncio behind uvicorn: exception 3/3" in text
    assert "ClientDisconnect" in text
    assert "replay it: python -m harness run --scenario 'app[disconnect-before-body]'" in text


def test_bad_options_are_one_line_usage_errors(pytester: pytest.Pytester) -> None:
    for args, message in [
        (["--disconnect-app", "nosuch:app"], "no module named 'nosuch'"),
        (["--disconnect-app", "x:y", "--disconnect-backend", "curio"], "unknown backend"),
        (["--disconnect-app", "x:y", "--disconnect-repeat", "0"], "--disconnect-repeat 0: must be at least 1"),
    ]:
        result = pytester.runpytest(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert message in result.stderr.str(), result.stderr.str()
        assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_the_fixture_drives_an_app_object(disconnect_run) -> None:
    from tests.apps.fastapi_style import create_app

    ok = disconnect_run(create_app(), "request", path="/items")
    assert ok.outcome == "ok" and ok.response == "complete"
    left = disconnect_run(create_app(), "request,disconnect", path="/items", backend="trio", profile="hypercorn")
    # The tests' environment has a Starlette after the 0.38.3 fix: a client that leaves early still
    # gets its whole response through the five BaseHTTPMiddleware layers (the gate tests show the old eras).
    assert (left.outcome, left.response, left.scenario) == ("ok", "complete", "app[fixture]"), left.detail
    assert [la["kind"] for la in left.layers] == [], "a user's app is not traced layer by layer"


def _env_with(tmp: Path, *requirements: str) -> Path:
    """A uv environment with the harness (editable) and ``requirements``, reused between runs."""
    import hashlib

    location = ROOT / ".nox" / f"plugin-{hashlib.sha256(' '.join(requirements).encode()).hexdigest()[:12]}"
    python = location / "bin" / "python"
    if not python.exists():
        subprocess.run(["uv", "venv", "-q", "-p", sys.executable, str(location)], check=True, timeout=300)
    subprocess.run(
        ["uv", "pip", "install", "-q", "--python", str(python), "-e", str(ROOT), "pytest", "trio", *requirements],
        check=True,
        timeout=600,
    )
    return python


@pytest.mark.matrix
@pytest.mark.parametrize(
    ("fastapi", "verdict"), [("fastapi==0.108.0", "fails"), ("fastapi==0.115.6", "passes")]
)  # fmt: skip
def test_the_plugin_in_a_teams_environment_finds_the_lost_response_of_its_fastapi(tmp_path, fastapi, verdict):
    python = _env_with(tmp_path, fastapi, "-r", str(SERVICE / "requirements.txt"))
    out = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "--disconnect-app", "svc:app",
         f"--disconnect-app-dir={SERVICE}", "--disconnect-path", "/items", "-k", "disconnect-now or no-disconnect"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )  # fmt: skip
    text = out.stdout + out.stderr
    if verdict == "fails":
        assert out.returncode == 1, text[-3000:]
        assert "no_response_returned" in text and "Starlette 0.32.0.post1" in text, text[-3000:]
        assert "app[disconnect-now] on asyncio behind uvicorn" in text
        assert "app[disconnect-now] on trio behind uvicorn" in text
    else:
        assert out.returncode == 0, text[-3000:]
        assert "8 passed" in text, text[-3000:]
