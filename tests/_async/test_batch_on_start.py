"""`on_start`: each batch run's id, handed over as soon as its start returns."""

from __future__ import annotations

import threading
from contextlib import aclosing
from typing import Any

import pytest

from flowinvoke import RunStatus, WorkflowRun
from flowinvoke.testing import Emulator, Workflow

from ..policies import MILLISECOND_POLL


def _emulator() -> Emulator:
    return Emulator([Workflow(id="wf-start", api_key="sk-on-start-1", polls=2)])


@pytest.mark.anyio
async def test_on_start_gets_each_started_run_before_its_wait() -> None:
    emulator = _emulator()
    lock = threading.Lock()
    started: dict[int, WorkflowRun] = {}
    finished: set[int] = set()

    async def on_start(index: int, run: WorkflowRun) -> None:
        with lock:
            assert index not in finished, "on_start came after the run had finished"
            started[index] = run

    inputs: list[Any] = [{"n": n} for n in range(6)]
    inputs[3] = {"bad": float("nan")}  # refused before any request: no start, no on_start
    async with emulator.async_client("wf-start", poll=MILLISECOND_POLL) as client:
        batch = client.as_completed(inputs, concurrency=3, on_start=on_start)
        async with aclosing(batch):
            async for item in batch:
                with lock:
                    finished.add(item.index)
                if item.index != 3:
                    assert started[item.index].id == item.run_id
    assert sorted(started) == [0, 1, 2, 4, 5]
    assert all(run.status is RunStatus.PENDING and run.id for run in started.values())


@pytest.mark.anyio
async def test_run_many_passes_on_start_too() -> None:
    emulator = _emulator()
    seen: list[tuple[int, str | None]] = []

    def on_start(index: int, run: WorkflowRun) -> None:
        seen.append((index, run.id))

    async with emulator.async_client("wf-start", poll=MILLISECOND_POLL) as client:
        items = await client.run_many([{"n": 1}, {"n": 2}], on_start=on_start)
    assert sorted(seen) == sorted((item.index, item.run_id) for item in items)
