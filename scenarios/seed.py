"""Starlette PR #1634/#1715: the test that started this project, exactly as written in the thread.

Two pass-through BaseHTTPMiddleware layers over a Route whose endpoint sleeps 5 s; ``recv_gen``
yields ``http.request`` then ``http.disconnect``; ``send_gen`` accepts ``http.response.start`` and
fails on anything after it. The thread ran it two ways: the generator ending after one disconnect
(a third ``receive()`` raises ``StopAsyncIteration``) and the disconnect repeated.

``send_gen``'s rule is the test's expectation, not a law of ASGI (a server drops what is sent after
a disconnect): it is checked as ``only-start-sent`` and recorded beside the outcome, which is what
the app did (from 0.38.3 Starlette sends the whole response to the departed client: ``ok``, with
that expectation not met).
"""

from harness.scenario import Scenario

SCENARIOS = [
    Scenario(
        name="pr1634-seed",
        description="PR #1634 test: 2 pass-through layers, sleeping endpoint, request then disconnect",
        source="encode/starlette#1634 (fix #1715)",
        stack="base*2",
        endpoint="slow",
        receive="request,disconnect",
        profiles=("gen-end", "gen-repeat"),
        expectations=("only-start-sent",),
    )
]
