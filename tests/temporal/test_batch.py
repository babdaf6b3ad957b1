"""A batch on Temporal over several histories: continue-as-new loses, repeats and miscounts
nothing, and its progress query reads right from every history."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

import pytest
from temporalio.service import RPCError

from flowinvoke import AsyncClient, PollPolicy
from flowinvoke.temporal import (
    DONE_SIGNAL,
    BatchRequest,
    BatchState,
    InputOutcome,
    TemporalRuns,
    build_worker,
    connect,
)
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

pytestmark = pytest.mark.asyncio

KEY = "key-temporal-batch-012345"
FAST = PollPolicy(initial_delay=0.05, multiplier=1.5, max_interval=0.3, jitter=0.1, timeout=30)


async def _history_chain(runs: TemporalRuns, batch_id: str, run_id: str | None) -> list[str]:
    """How each history of the batch ended, first to last (following continue-as-new)."""
    ends: list[str] = []
    while run_id:
        history = await runs.client.get_workflow_handle(batch_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        kind = last.WhichOneof("attributes")
        ends.append(kind.removesuffix("_event_attributes"))
        renewed = last.workflow_execution_continued_as_new_event_attributes
        run_id = renewed.new_execution_run_id if "continued_as_new" in kind else None
    return ends


async def _sample_progress(runs: TemporalRuns, batch_id: str, seen: list[BatchState]) -> None:
    """Read the progress query as fast as the server answers, until cancelled."""
    while True:
        with contextlib.suppress(RPCError):  # a fresh history before its first task
            seen.append(await runs.progress(batch_id))
        await asyncio.sleep(0.02)


async def test_a_batch_continued_as_new_gives_each_input_once_and_counts_right(
    temporal_address: str, queue: str
) -> None:
    count, concurrency = 12, 4
    emulator = Emulator([Workflow(id="wf", api_key=KEY, duration=0.2)])
    with LoopbackServer(emulator) as server:
        temporal = await connect(temporal_address)
        client = AsyncClient(**server.client_options("wf"))
        async with client, build_worker(temporal, client, task_queue=queue, sandboxed=False):
            runs = TemporalRuns(temporal, task_queue=queue)
            inputs = [{"i": i} for i in range(count)]
            handle = await runs.submit_batch(
                "renewed",
                inputs,
                concurrency=concurrency,
                template=runs.request({}, poll=FAST),
                runs_per_history=3,  # a fresh history after every third input ends
            )
            seen: list[BatchState] = []
            sampler = asyncio.create_task(_sample_progress(runs, "renewed", seen))
            try:
                state = await asyncio.wait_for(handle.result(), 90)
            finally:
                sampler.cancel()
            outcomes = [o async for o in runs.outcomes("renewed", range(count))]
            chain = await _history_chain(runs, "renewed", handle.first_execution_run_id)
            final = await runs.progress("renewed")

    assert chain.count("workflow_execution_continued_as_new") >= 2, chain
    assert chain[-1] == "workflow_execution_completed"
    assert state == final == BatchState(total=count, started=count, done=count)
    assert sorted(o.index for o in outcomes) == list(range(count))
    assert all(o.ok and o.run is not None for o in outcomes), outcomes
    assert [o.run.output for o in sorted(outcomes, key=lambda o: o.index)] == [  # type: ignore[union-attr]
        {"echo": {"i": i}} for i in range(count)
    ]
    assert [emulator.counters.invokes_for_input({"i": i}) for i in range(count)] == [1] * count
    assert seen, "the progress query never answered"
    for earlier, later in itertools.pairwise(seen):
        assert earlier.done <= later.done and earlier.started <= later.started
    for progress in seen:
        assert progress.total == count
        assert 0 <= progress.done <= progress.started <= count
        assert len(progress.in_flight) == progress.started - progress.done <= concurrency
        assert progress.failed == 0


async def test_an_input_ending_before_a_fresh_historys_first_task_is_counted(
    temporal_address: str, queue: str
) -> None:
    # A history continued from one with input 0 in flight; input 0's end is signalled
    # before any worker has run the new history's first task. Signal handlers run before
    # the workflow's main method there, so the carried state must already be in place.
    temporal = await connect(temporal_address)
    carried = BatchState(total=1, started=1, in_flight=(0,))
    request = BatchRequest(inputs=[{"i": 0}], state=carried)
    handle = await temporal.start_workflow(
        "flowinvoke.batch", request, id="carried", task_queue=queue, result_type=BatchState
    )
    await handle.signal(DONE_SIGNAL, InputOutcome(index=0, error_type="APIError", error="x"))
    emulator = Emulator([Workflow(id="wf", api_key=KEY)])
    with LoopbackServer(emulator) as server:
        client = AsyncClient(**server.client_options("wf"))
        async with client, build_worker(temporal, client, task_queue=queue, sandboxed=False):
            state = await asyncio.wait_for(handle.result(), 30)
    assert state == BatchState(total=1, started=1, done=1, failed=1)
    assert emulator.counters.total_invokes == 0  # nothing was started again
