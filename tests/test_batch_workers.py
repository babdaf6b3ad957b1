"""A batch never starts more workers than it has inputs in flight, whatever `concurrency`.

A worker per slot would cost memory and time for nothing: `concurrency=1_000_000` with three
inputs once took 48 s and 3.5 GB. Peak traced memory shows how many were made.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
import respx

from flowinvoke import AsyncClient, Client

from ._async.support import KEY
from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

INVOKE_URL = "https://api-sg.gptbots.ai/v1/workflow/invoke"
QUERY_URL = "https://api-sg.gptbots.ai/v1/workflow/query/result"
INPUTS = [{"n": n} for n in range(3)]
HUGE = 100_000
# A worker task or thread costs a few KiB: 100,000 of them would trace hundreds of MiB.
PEAK_LIMIT = 8 * 1024 * 1024


@pytest.fixture
def server() -> Iterator[None]:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        yield


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.anyio
@pytest.mark.usefixtures("server")
async def test_async_batch_starts_a_task_per_input_not_per_slot(traced: None) -> None:
    async with AsyncClient(api_key=KEY) as client:
        tracemalloc.reset_peak()
        items = await client.run_many(INPUTS, concurrency=HUGE)
        _, peak = tracemalloc.get_traced_memory()
    assert all(item.ok for item in items)
    assert peak < PEAK_LIMIT


@pytest.mark.usefixtures("server")
def test_sync_batch_starts_a_thread_per_input_not_per_slot(traced: None) -> None:
    with Client(api_key=KEY) as client:
        tracemalloc.reset_peak()
        items = client.run_many(INPUTS, concurrency=HUGE)
        _, peak = tracemalloc.get_traced_memory()
    assert all(item.ok for item in items)
    assert peak < PEAK_LIMIT


def test_a_client_refuses_a_concurrency_that_is_not_a_positive_int() -> None:
    with Client(api_key=KEY) as client, pytest.raises(ValueError, match="concurrency"):
        client.run_many(INPUTS, concurrency=0)
