"""Batches over a real socket: many runs through a small pool, faults, cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import anyio
import httpx
import pytest

from flowinvoke import APIConnectionError, PollPolicy, RetryPolicy
from flowinvoke.testing import Emulator, Fault, LoopbackServer, RandomFaults, Workflow

from .loopback_support import pool_is_clean

pytest.importorskip("uvicorn")

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.005, jitter=True)
POLL = PollPolicy(initial_delay=0.005, multiplier=1.5, max_interval=0.05, jitter=0.1)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    emulator = Emulator(
        [
            Workflow(id="wf-many", api_key="key-many", polls=1),
            Workflow(id="wf-faulty", api_key="key-faulty", polls=2),
            Workflow(id="wf-stuck", api_key="key-stuck", polls=10**9),
        ]
    )
    with LoopbackServer(emulator) as loopback:
        yield loopback


@pytest.fixture(autouse=True)
def _no_leftover_faults(server: LoopbackServer) -> Iterator[None]:
    yield
    server.emulator.clear_faults()
    server.emulator.set_random_faults(None)


#: Twenty runs for each of the client's ten connections: every request queues for one.
IN_FLIGHT = 200


async def test_hundreds_of_runs_in_flight_share_ten_connections_without_pool_timeouts(
    server: LoopbackServer, anyio_backend: str
) -> None:
    inputs = [{"n": n, "backend": anyio_backend} for n in range(IN_FLIGHT)]
    async with server.async_client("wf-many", retry=RETRY, poll=POLL) as client:
        items = await client.run_many(inputs, concurrency=IN_FLIGHT)
        assert pool_is_clean(client)
    errors = [item.error for item in items if item.error is not None]
    assert errors == []
    assert len(items) == IN_FLIGHT
    counters = server.emulator.counters
    assert all(counters.invokes_for_input(i) == 1 for i in inputs)


async def test_faults_never_start_a_run_twice_nor_end_a_wait(
    server: LoopbackServer, anyio_backend: str
) -> None:
    transient = [
        Fault("rate_limit", retry_after=0.001),
        Fault("server_error", status=503),
        Fault("server_error", status=502),
        Fault("malformed_json", processed=True),
        Fault("disconnect", processed=True),
        Fault("reset"),
    ]
    server.emulator.set_random_faults(
        RandomFaults(rate=0.3, faults=transient, seed=7, operation="query", workflow="wf-faulty")
    )
    # Starts only meet faults where nothing was processed: those are safe to retry.
    server.emulator.inject(
        *[Fault("rate_limit", operation="invoke", retry_after=0.001) for _ in range(5)],
        *[Fault("server_error", operation="invoke", status=503) for _ in range(5)],
    )
    inputs = [{"faulty": n, "backend": anyio_backend} for n in range(100)]
    async with server.async_client("wf-faulty", retry=RETRY, poll=POLL) as client:
        items = await client.run_many(inputs, concurrency=50)
    assert [item.error for item in items if item.error is not None] == []
    assert server.emulator.counters.faults  # the faults did strike
    assert all(server.emulator.counters.invokes_for_input(i) == 1 for i in inputs)


async def test_a_start_whose_answer_is_lost_is_reported_not_repeated(
    server: LoopbackServer, anyio_backend: str
) -> None:
    server.emulator.inject(Fault("disconnect", operation="invoke", processed=True))
    inputs = [{"lost": n, "backend": anyio_backend} for n in range(3)]
    async with server.async_client("wf-faulty", retry=RETRY, poll=POLL) as client:
        items = await client.run_many(inputs, concurrency=1)
    lost = items[0]
    assert isinstance(lost.error, APIConnectionError)
    assert lost.error.may_have_started
    assert [item.ok for item in items] == [False, True, True]
    assert all(server.emulator.counters.invokes_for_input(i) == 1 for i in inputs)


async def test_cancelling_a_batch_stops_every_run_and_leaves_the_pool_clean(
    server: LoopbackServer, anyio_backend: str
) -> None:
    requests = 0
    polling = anyio.Event()  # every run has started and some are polling

    async def count(request: httpx.Request) -> None:
        nonlocal requests
        requests += 1
        if requests > 20:
            polling.set()

    inputs = [{"stuck": n, "backend": anyio_backend} for n in range(40)]
    async with server.async_client("wf-stuck", retry=RETRY, poll=POLL) as client:
        client._http.event_hooks["request"].append(count)
        async with anyio.create_task_group() as group:
            group.start_soon(partial(client.run_many, inputs, concurrency=20))
            with anyio.fail_after(30):  # real seconds, however busy the machine
                await polling.wait()
            group.cancel_scope.cancel()
        assert group.cancel_scope.cancelled_caught
        assert pool_is_clean(client)
        sent = requests
        await anyio.sleep(0.2)  # a run that survived would poll every 50 ms at most
        assert requests == sent
