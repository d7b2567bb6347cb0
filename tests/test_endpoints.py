"""The endpoint catalogue's contracts with old and new Starlette alike."""

from __future__ import annotations

import inspect

import pytest

from harness.errors import UsageError
from harness.run.backends import get_backend
from harness.scenario import ENDPOINTS, EndpointState, build_endpoint

pytestmark = pytest.mark.anyio


async def test_the_streaming_body_is_a_real_async_generator_and_is_closed_after_the_run(backend):
    """Starlette before 0.14 hands anything that is not ``inspect.isasyncgen`` to a threadpool as a
    sync iterator; and nobody closes a cancelled response's generator, so the probe does."""
    probe = EndpointState()
    route = build_endpoint("streaming", backend, probe)
    response = await route.endpoint(None)
    assert inspect.isasyncgen(response.body_iterator)
    assert await response.body_iterator.__anext__() == b"chunk-0\n"
    await probe.close()
    with pytest.raises(StopAsyncIteration):
        await response.body_iterator.__anext__()


def test_an_unknown_endpoint_is_named_with_the_choices():
    with pytest.raises(UsageError, match="unknown endpoint 'teapot'; choose from slow, fast"):
        build_endpoint("teapot", get_backend("asyncio"), EndpointState())
    assert "poll-disconnect" in ENDPOINTS
