"""FastAPI's ``@app.middleware("http")``: N real ``FastAPI()`` apps nested, each registering one
pass-through the way FastAPI users do (FastAPI's own BaseHTTPMiddleware registration, a copy of
Starlette's since 0.90), over a slow endpoint and the #2516 endpoint.

These need FastAPI installed: in a Starlette cell they are ``not_applicable``; in a FastAPI cell
(``nox -s matrix -- --fastapi '>=0.100'``) they show which FastAPI releases reach which bug, on the
Starlette each release resolves to.
"""

from harness.scenario import sweep

SCENARIOS = sweep(
    "fastapi-stack",
    "N FastAPI() apps, each with one @app.middleware('http') pass-through; the client disconnects",
    "FastAPI's @app.middleware('http') (a BaseHTTPMiddleware in every release); encode/starlette#2516",
    {"depth": (1, 2, 4, 6), "endpoint": ("slow", "body-or-disconnect")},
    lambda depth, endpoint: {
        "stack": f"fastapi*{depth}",
        "endpoint": endpoint,
        "receive": "request,disconnect" if endpoint == "slow" else "disconnect",
        "expectations": ("every-layer-completed",),
        "needs": ("fastapi",),
    },
)
