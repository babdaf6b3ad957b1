"""What a wait keeps while it waits: one state of its run, however often it polls.

10,000 concurrent waits are a normal batch; every state a wait keeps beyond the latest
costs ~2 KiB each (its body and model), so the memory benchmark's figure depends on this.
"""

from __future__ import annotations

import gc
import itertools
import json
import tracemalloc
from collections.abc import Callable
from functools import partial

import anyio
import pytest

from flowinvoke import PollPolicy, WorkflowRun
from flowinvoke.testing import Emulator, Workflow

FAST = PollPolicy(initial_delay=0.005, multiplier=1.0, jitter=0.0, adaptive=False)


def _states_of(run_id: str) -> list[WorkflowRun]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, WorkflowRun) and o.id == run_id]


@pytest.mark.anyio
async def test_a_polling_wait_keeps_only_the_latest_state_of_its_run() -> None:
    emulator = Emulator([Workflow(id="wf-long", api_key="key-long", duration=3600.0)])
    async with emulator.async_client("wf-long") as client:
        run = await client.invoke({"n": 1}, async_mode=True)
        run_id = run.id
        assert run_id is not None
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(partial(client.wait, run, poll=FAST))
            del run  # from here on only the wait holds states of the run
            queried = emulator.counters.requests_by_operation
            # The start's state, then equal answers; the emulator has no event to await.
            with anyio.fail_after(10):
                while queried["query"] < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.005)
            assert len(_states_of(run_id)) == 1
            tasks.cancel_scope.cancel()


def test_the_schedule_of_a_multiplier_close_to_one_grows_and_stays_finite() -> None:
    policy = PollPolicy(initial_delay=0.2, multiplier=1.0001, max_interval=30.0, jitter=0.0)
    delays = list(itertools.islice(policy.delays(), 2000))
    assert delays[1] > delays[0]
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] < 30.0  # it has not reached the ceiling, and it ends nowhere


def test_a_zero_first_delay_stays_zero() -> None:
    policy = PollPolicy(initial_delay=0.0, multiplier=2.0, jitter=0.0)
    assert list(itertools.islice(policy.delays(), 5)) == [0.0] * 5


def _retained(make: Callable[[], object], count: int = 500) -> float:
    """Bytes each of `count` objects from `make` holds, whatever else making them left."""
    tracemalloc.start()
    try:
        made = [make() for _ in range(count)]
        with_them = tracemalloc.get_traced_memory()[0]
        del made
        return (with_them - tracemalloc.get_traced_memory()[0]) / count
    finally:
        tracemalloc.stop()


def test_a_run_read_from_an_answer_costs_little_beyond_its_body() -> None:
    """Each run once had a 728-byte set of its field names; now the runs share one."""
    emulator = Emulator([Workflow(id="wf-long", api_key="key-long", duration=3600.0)])
    with emulator.client("wf-long") as client:
        run_id = client.invoke({"n": 1}, async_mode=True).id
        assert run_id is not None
        body = json.dumps(client.get_run(run_id).raw)  # also warms imports and caches
        per_run = _retained(lambda: client.get_run(run_id))
    per_body = _retained(lambda: json.loads(body))
    # The model's dict, its `input` and timestamps: 0.8 to 1.05 KiB from Python 3.13 to
    # 3.10 (1.5 to 1.8 KiB with a set of field names per run).
    assert per_run - per_body < 1300
