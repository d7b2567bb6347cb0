"""The scenario catalogue. Each module holds one family or a few related ones, named by its source.

Order here is the order of ``python -m harness list`` and of the report.
"""

from harness.scenario import Scenario

from . import background, cached_request, controls, depth, fastapi, inner_app, seed, starlette_tests, streaming

SCENARIOS: list[Scenario] = [
    *seed.SCENARIOS,
    *depth.SCENARIOS,
    *cached_request.SCENARIOS,
    *streaming.SCENARIOS,
    *background.SCENARIOS,
    *inner_app.SCENARIOS,
    *starlette_tests.SCENARIOS,
    *fastapi.SCENARIOS,
    *controls.SCENARIOS,
]
