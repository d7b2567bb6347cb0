"""The ``_CachedRequest`` era (0.28.0): "4+ stacked middlewares and quick disconnects".

Layers that read ``await request.body()`` before ``call_next`` make every inner layer replay the
cached body through ``wrapped_receive``; the report says a quick disconnect after the body then loses
the response at depth 4 and more. ``disconnect-before-body`` has the endpoint read the body while
``receive`` has only ``http.disconnect`` to give, and lets the ``ClientDisconnect`` escape: the
endpoint's own exception on every release. (Starlette #2516's test catches it and answers; that
shape is ``stacked-client-disconnected`` in ``starlette_tests``.)
"""

from harness.scenario import sweep

_WHEN = {"now": "request:payload,disconnect", "idle": "request:payload,wait:idle,disconnect"}

SCENARIOS = [
    *sweep(
        "cached-request",
        "N body-reading BaseHTTPMiddleware layers, POST with a body, quick disconnect",
        "encode/starlette discussion 'No response returned with 4+ middlewares' (0.28.0, _CachedRequest)",
        {"depth": range(1, 9), "endpoint": ("slow", "body"), "when": tuple(_WHEN)},
        lambda depth, endpoint, when: {
            "stack": f"base-body*{depth}",
            "endpoint": endpoint,
            "receive": _WHEN[when],
            "method": "POST",
        },
    ),
    *sweep(
        "disconnect-before-body",
        "the endpoint reads the body but receive() only ever says http.disconnect; ClientDisconnect escapes",
        "control for encode/starlette#2516 (the endpoint does not catch ClientDisconnect)",
        {"stack": ("none", "base", "base*2", "base-body", "base*4")},
        lambda stack: {"stack": stack, "endpoint": "body", "receive": "disconnect", "method": "POST"},
    ),
]
