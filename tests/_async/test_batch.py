"""Batches: run_many and as_completed, bounded and lossless; the client-wide rate limit."""

from __future__ import annotations

import json
import threading
from contextlib import aclosing
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import (
    BadRequestError,
    BatchItem,
    BatchProgress,
    PollPolicy,
    RunStatus,
    WaitTimeoutError,
    WorkflowFailedError,
)
from flowinvoke._compat import async_sleep
from flowinvoke.testing import FakeClock

from ..policies import MILLISECOND_POLL
from ..seed_bodies import gptbots_state
from .conftest import PatchedClientClock
from .support import QUERY_URL, make_client


class ScriptedWorkflow:
    """Input {"n": k}: the run needs k polls; k % 5 == 4 fails; k == 7 is refused (400)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.polls: dict[str, int] = {}
        self.needed: dict[str, int] = {}
        self.invokes: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self.lock:
            if request.url.path.endswith("/invoke"):
                n = body["input"]["n"]
                self.invokes.append(n)
                if n == 7:
                    return httpx.Response(400, json={"code": 40000, "message": "bad n"})
                run_id = f"run-{n}"
                self.needed[run_id] = n
                self.polls[run_id] = 0
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                return httpx.Response(200, json=gptbots_state("PENDING", run_id=run_id))
            run_id = body["workflowRunId"]
            self.polls[run_id] += 1
            n = self.needed[run_id]
            if self.polls[run_id] < n:
                return httpx.Response(200, json=gptbots_state("RUNNING", run_id=run_id))
            self.in_flight -= 1
            final = "FAILED" if n % 5 == 4 else "SUCCEED"
            return httpx.Response(200, json=gptbots_state(final, run_id=run_id))


@pytest.mark.anyio
async def test_run_many_keeps_input_order_and_reports_partial_failures() -> None:
    workflow = ScriptedWorkflow()
    progress: list[BatchProgress] = []
    inputs: list[Any] = [{"n": n} for n in range(12)]
    inputs[3] = ["not", "a", "mapping"]
    transport = httpx.MockTransport(workflow.handle)
    async with make_client(transport=transport, poll=MILLISECOND_POLL) as client:
        items = await client.run_many(inputs, concurrency=4, on_progress=progress.append)
    assert [item.index for item in items] == list(range(12))
    assert [item.input for item in items] == inputs
    assert sorted(workflow.invokes) == [n for n in range(12) if n != 3]  # each input once
    refused, bad_input, failed = items[7], items[3], items[4]
    assert isinstance(refused.error, BadRequestError)
    assert refused.run is None and not refused.ok
    assert isinstance(bad_input.error, TypeError)
    assert bad_input.run is None and bad_input.run_id is None
    assert isinstance(failed.error, WorkflowFailedError)
    assert failed.run is not None and failed.run.status is RunStatus.FAILED
    assert failed.run_id == "run-4"
    good = [item for item in items if item.ok]
    assert {item.index for item in good} == {0, 1, 2, 5, 6, 8, 10, 11}
    assert all(item.error is None and item.run is not None for item in good)
    assert len(progress) == 12
    assert progress[-1] == BatchProgress(done=12, succeeded=8, failed=4, in_flight=0)
    assert [p.done for p in progress] == list(range(1, 13))
    assert workflow.most_in_flight <= 4


@pytest.mark.anyio
async def test_as_completed_yields_in_completion_order() -> None:
    workflow = ScriptedWorkflow()
    # n polls 20 ms apart each: they finish in the order 1, 3, 8, 12, 16, far apart
    inputs = [{"n": n} for n in (16, 8, 1, 12, 3)]
    transport = httpx.MockTransport(workflow.handle)
    policy = PollPolicy(initial_delay=0.02, multiplier=1, max_interval=0.02, jitter=0)
    async with make_client(transport=transport, poll=policy) as client:
        finished = [item async for item in client.as_completed(inputs, concurrency=5)]
    assert [item.input["n"] for item in finished] == [1, 3, 8, 12, 16]
    assert [item.index for item in finished] == [2, 4, 1, 3, 0]
    assert all(item.ok for item in finished)


@pytest.mark.anyio
async def test_breaking_out_of_as_completed_stops_the_rest() -> None:
    workflow = ScriptedWorkflow()
    inputs = [{"n": 1}] + [{"n": 10_000} for _ in range(3)] + [{"n": 2} for _ in range(50)]
    transport = httpx.MockTransport(workflow.handle)
    client = make_client(transport=transport, poll=MILLISECOND_POLL)
    async with client, aclosing(client.as_completed(inputs, concurrency=4)) as items:
        async for item in items:
            first: BatchItem = item
            break
    assert first.input == {"n": 1}
    assert len(workflow.invokes) < len(inputs)  # later inputs were never started
    polls_at_exit = sum(workflow.polls.values())
    await async_sleep(0.05)  # a run that survived the break would poll every millisecond
    assert sum(workflow.polls.values()) == polls_at_exit


def runs_started_elsewhere(workflow: ScriptedWorkflow, *polls: int) -> list[str]:
    """Run ids the workflow knows as started (run-n needs n polls), as a restarted process
    would have them: no start is sent for them."""
    for n in polls:
        workflow.needed[f"run-{n}"] = n
        workflow.polls[f"run-{n}"] = 0
    return [f"run-{n}" for n in polls]


@pytest.mark.anyio
async def test_wait_many_waits_for_runs_by_id_and_yields_each_as_it_ends() -> None:
    workflow = ScriptedWorkflow()
    run_ids = runs_started_elsewhere(workflow, 16, 4, 1, 8)  # run-4 fails (4 % 5 == 4)
    transport = httpx.MockTransport(workflow.handle)
    policy = PollPolicy(initial_delay=0.02, multiplier=1, max_interval=0.02, jitter=0)
    with FakeClock().install():  # four waits asleep at once, woken in the order of their times
        async with make_client(transport=transport, poll=policy) as client:
            items = [item async for item in client.wait_many(run_ids, concurrency=4)]
    assert workflow.invokes == []  # waiting starts nothing
    assert [item.input for item in items] == ["run-1", "run-4", "run-8", "run-16"]
    assert [item.index for item in items] == [2, 1, 3, 0]
    failed = items[1]
    assert isinstance(failed.error, WorkflowFailedError)
    assert failed.run_id == "run-4" and not failed.ok
    assert [item.ok for item in items] == [True, False, True, True]


@pytest.mark.anyio
async def test_wait_many_keeps_each_id_on_its_own_timeout_and_bounds_the_waits(
    clock: PatchedClientClock,
) -> None:
    workflow = ScriptedWorkflow()
    run_ids = runs_started_elsewhere(workflow, 10_000, 1, 2, 3)
    transport = httpx.MockTransport(workflow.handle)
    policy = PollPolicy(initial_delay=0.01, multiplier=1, max_interval=0.01, jitter=0)
    async with make_client(transport=transport, poll=policy) as client:
        items = [item async for item in client.wait_many(run_ids, concurrency=1, timeout=0.2)]
    slow = next(item for item in items if item.input == "run-10000")
    assert isinstance(slow.error, WaitTimeoutError)
    assert slow.run_id == "run-10000" and slow.error.run_id == "run-10000"
    assert sorted(item.input for item in items if item.ok) == ["run-1", "run-2", "run-3"]
    # one wait at a time: the first id's whole wait came before the others' first query
    assert workflow.polls["run-1"] == 1


@pytest.mark.anyio
async def test_wait_many_refuses_bad_settings_before_any_query() -> None:
    workflow = ScriptedWorkflow()
    transport = httpx.MockTransport(workflow.handle)
    async with make_client(transport=transport) as client:
        for settings in ({"concurrency": 0}, {"timeout": -1.0}):
            with pytest.raises(ValueError, match=r"concurrency|timeout"):
                async for _ in client.wait_many(["run-1"], **settings):
                    pass
    assert workflow.polls == {}


@pytest.mark.anyio
async def test_a_wait_timeout_in_a_batch_keeps_the_last_state(clock: PatchedClientClock) -> None:
    workflow = ScriptedWorkflow()
    transport = httpx.MockTransport(workflow.handle)
    policy = PollPolicy(initial_delay=0.01, multiplier=1, max_interval=0.01, jitter=0)
    async with make_client(transport=transport, poll=policy) as client:
        [item] = await client.run_many([{"n": 10_000}], timeout=0.05)
    assert isinstance(item.error, WaitTimeoutError)
    assert item.run is not None and item.run.status is RunStatus.RUNNING
    assert item.run_id == "run-10000"


@pytest.mark.anyio
@pytest.mark.parametrize("concurrency", [0, -3, 2.5, True])
async def test_bad_concurrency_fails_before_any_request(concurrency: Any) -> None:
    with respx.mock:
        route = respx.post(url__regex=".*").respond(500)
        async with make_client() as client:
            with pytest.raises(ValueError, match="concurrency"):
                await client.run_many([{"a": 1}], concurrency=concurrency)
            with pytest.raises(ValueError, match="timeout"):
                await client.run_many([{"a": 1}], timeout=-1)
    assert not route.called


@pytest.mark.anyio
async def test_an_empty_batch() -> None:
    async with make_client() as client:
        assert await client.run_many([]) == []


@pytest.mark.anyio
async def test_the_rate_limit_spaces_every_request_of_the_client(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client(rate_limit=10) as client:
            for _ in range(3):
                await client.get_run("run-42")
            shared = client.with_options(timeout=5)
            await shared.get_run("run-42")
    assert clock.sleeps == [0.1, 0.1, 0.1]


@pytest.mark.anyio
async def test_the_rate_limit_allows_bursts_after_idle_time(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client(rate_limit=2, rate_burst=3) as client:
            clock.now += 10  # idle: a full burst is available
            for _ in range(5):
                await client.get_run("run-42")
    assert clock.sleeps == [0.5, 0.5]
