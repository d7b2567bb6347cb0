"""Starlette's own BaseHTTPMiddleware disconnect regression tests, as harness data.

Each family follows one test of ``tests/middleware/test_base.py`` in Starlette's sdist (named with the
PR that added it and the first release that has it): the same stack, endpoint and client behaviour,
and the test's assertions as the scenario's expectations, checked beside the outcome. Run over every
release, a family shows where its behaviour began to hold (and where it stopped). The receive side is
the selected server profile's, not the test's hand-written generator: what a server would do.
Where a depth applies it is swept over 1, 2, 4 and 10 (the #2516 test uses 10).

Under the ``uvicorn`` profile ``disconnected-after-body`` ends in ``ClientDisconnect`` on every
release: uvicorn hands over a pending ``http.disconnect`` before unread body (the test's generator
gives the body first), which is what a client that leaves at once meets behind uvicorn.
"""

from harness.scenario import sweep

_DEPTHS = (1, 2, 4, 10)
#: A client that disconnects right after it got the whole response (the tests' receive, 0.21-0.38.2).
_AFTER_RESPONSE = "request,wait:complete,disconnect"

SCENARIOS = [
    *sweep(
        "stacked-client-disconnected",
        "N pass-through layers; receive() only says http.disconnect; the endpoint catches "
        "ClientDisconnect and answers an empty 200",
        "encode/starlette#2516: test_multiple_middlewares_stacked_client_disconnected (#2620, 0.38.3)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": f"base*{depth}",
            "endpoint": "body-or-disconnect",
            "receive": "disconnect",
            "expectations": (
                "client-disconnect-raised",
                "every-layer-completed",
                "complete-response",
                "status-200",
                "empty-body",
                "no-exception",
            ),
        },
    ),
    *sweep(
        "background-on-disconnect",
        "N pass-through layers; the response has a BackgroundTask that sleeps 0.1 s; the client leaves "
        "once it has the response",
        "encode/starlette#1438: test_run_background_tasks_even_if_client_disconnects (#1715, 0.21.0)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": f"base*{depth}",
            "endpoint": "background-sleep",
            "receive": _AFTER_RESPONSE,
            "expectations": ("background-ran", "complete-response"),
        },
    ),
    *sweep(
        "context-exit-on-disconnect",
        "N pass-through layers over a pure ASGI layer whose AsyncExitStack callback sleeps 0.1 s",
        "encode/starlette#1678: test_run_context_manager_exit_even_if_client_disconnects (#1715, 0.21.0)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": f"base*{depth},exitstack",
            "endpoint": "background-sleep",
            "receive": _AFTER_RESPONSE,
            "expectations": ("context-exited", "complete-response"),
        },
    ),
    *sweep(
        "discarded-while-sending",
        "the middleware drops the response for its own; the app streams until it gets http.disconnect",
        "test_app_receives_http_disconnect_while_sending_if_discarded (#1715, 0.21.0)",
        {"stack": ("base-discard",)},
        lambda stack: {
            "stack": stack,
            "endpoint": "stream-until-disconnect",
            "receive": _AFTER_RESPONSE,
            "expectations": ("disconnect-while-sending", "custom-body"),
        },
    ),
    *sweep(
        "discarded-after-sending",
        "the middleware drops the response for its own; the app sends two chunks, then receive()",
        "test_app_receives_http_disconnect_after_sending_if_discarded (#1715, 0.21.0)",
        {"stack": ("base-discard",)},
        lambda stack: {
            "stack": stack,
            "endpoint": "send-then-receive",
            "receive": _AFTER_RESPONSE,
            "expectations": ("disconnect-after-sending", "custom-body"),
        },
    ),
    *sweep(
        "poll-disconnect-repeated",
        "one pass-through layer; the app waits for http.disconnect twice; the client sends it once",
        "test_poll_for_disconnect_repeated (#2620, 0.38.3)",
        {"body": ("yes", "no")},
        lambda body: {
            "stack": "base",
            "endpoint": "poll-twice",
            "receive": "request:hello+more,request,disconnect" if body == "yes" else "disconnect",
            "expectations": ("disconnect-seen-twice", "good-body"),
        },
    ),
    *sweep(
        "disconnected-client-request",
        "the dispatch asks is_disconnected() after call_next; the endpoint's first message is http.disconnect",
        "test_read_request_disconnected_client (#1692, 0.28.0)",
        {"stack": ("base-poll",)},
        lambda stack: {
            "stack": stack,
            "endpoint": "receive-then-answer",
            "receive": "disconnect",
            "method": "POST",
            "expectations": (
                "endpoint-got-disconnect-message",
                "dispatch-saw-disconnected-after-call-next",
                "status-200",
            ),
        },
    ),
    *sweep(
        "disconnected-after-body",
        "the dispatch reads the body, asks is_disconnected(), then calls call_next",
        "test_read_request_disconnected_after_consuming_steam (#1692, 0.28.0)",
        {"stack": ("base-body-poll",)},
        lambda stack: {
            "stack": stack,
            "endpoint": "receive-then-answer",
            "receive": "request:hi,disconnect",
            "method": "POST",
            "expectations": ("dispatch-saw-disconnected-after-body", "endpoint-got-body-then-disconnect"),
        },
    ),
    *sweep(
        "background-after-response-sent",
        "N pass-through layers; a BackgroundTask notes whether the response had reached the client",
        "encode/starlette#3458: test_background_task_runs_after_response_sent_with_middleware (#3476, 1.7.0)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": f"base*{depth}",
            "endpoint": "background-after-response",
            "receive": "request",
            "expectations": ("background-after-response", "background-ran", "complete-response"),
        },
    ),
    *sweep(
        "is-disconnected-behind-middleware",
        "the endpoint polls request.is_disconnected() 3 times while the client leaves",
        "encode/starlette discussion #2094 (still reported against 1.x)",
        {"depth": (0, 1, 2)},
        lambda depth: {
            "stack": f"base*{depth}" if depth else "none",
            "endpoint": "poll-disconnect",
            "receive": "request,disconnect",
            "expectations": ("is-disconnected-turns-true",),
        },
    ),
    *sweep(
        "background-error-raised",
        "N pass-through layers; the response's BackgroundTask sleeps 0.1 s, then raises; the client "
        "leaves once it has the response",
        "encode/starlette#2625: test_run_background_tasks_raise_exceptions (#2812, 0.46.0)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": f"base*{depth}",
            "endpoint": "background-raises",
            "receive": _AFTER_RESPONSE,
            "expectations": ("background-error-raised", "background-ran", "complete-response"),
        },
    ),
    *sweep(
        "caught-endpoint-error",
        "the outermost dispatch catches the endpoint's error around call_next and answers 400, over "
        "N-1 pass-through layers; the client leaves once it has the response",
        "test_exception_can_be_caught (#2911, 0.46.2: the caught error is no longer raised again)",
        {"depth": _DEPTHS},
        lambda depth: {
            "stack": "base-catch" + (f",base*{depth - 1}" if depth > 1 else ""),
            "endpoint": "raises",
            "receive": _AFTER_RESPONSE,
            "expectations": ("caught-in-dispatch", "status-400", "complete-response", "no-exception"),
        },
    ),
]
