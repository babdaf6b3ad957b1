"""What a run costs while it is held (issue 21's memory figures).

A start answer is held by its wait (and often by its caller) for the whole run: its raw
body keeps everything the server sent, as a dict, but its keys and the words runs repeat
are shared between runs. A cancelled wait's traceback keeps no state. Through the public
client and the emulator, on asyncio and trio.
"""

from __future__ import annotations

import pickle
from typing import Any

import anyio
import pytest

from flowinvoke import AsyncClient, WorkflowRun
from flowinvoke._core import shared
from flowinvoke.providers import get_provider
from flowinvoke.testing import Emulator, FakeClock, Workflow

KEY = "sk-held-runs-4b1d9e77"
WIRE_KEYS = ["workflowId", "workflowName", "workflowVersion", "workflowRunId", "status"]


def _emulator(duration: float = 3600.0) -> Emulator:
    return Emulator([Workflow(id="wf", api_key=KEY, duration=duration)], clock=FakeClock())


async def _starts(client: AsyncClient, count: int) -> list[WorkflowRun]:
    return [await client.invoke({"n": n}, async_mode=True) for n in range(count)]


@pytest.mark.anyio
async def test_a_start_answer_keeps_its_whole_body_with_the_keys_shared() -> None:
    async with _emulator().async_client("wf") as client:
        first, second = await _starts(client, 2)
    for run in (first, second):
        assert type(run.raw) is dict
        assert list(run.raw) == WIRE_KEYS  # every field, in the order sent
        assert run.raw["workflowRunId"] == run.id
        assert run.raw["status"] == run.raw_status == "PENDING"
        assert run.raw["workflowId"] == run.workflow_id == "wf"
    # The same string objects in both runs: held once, however many runs are held.
    assert all(a is b for a, b in zip(first.raw, second.raw, strict=True))
    assert first.raw["status"] is second.raw["status"] is second.raw_status
    assert first.workflow_name is second.workflow_name
    assert first.raw["workflowRunId"] is not second.raw["workflowRunId"]  # never shared
    # A held run is a run like any other: equal to its copy, pickled, dumped; no key.
    assert pickle.loads(pickle.dumps(first)) == first
    assert WorkflowRun.model_validate(first.model_dump()) == first
    for text in (repr(first), str(first), first.model_dump_json()):
        assert KEY not in text


def test_the_shared_strings_are_bounded_whatever_a_server_sends() -> None:
    """A server that invents keys (or a key the size of a page) cannot grow the table
    past its bound: past it, strings are kept per body, as decoded."""
    provider = get_provider("gptbots")
    spec = provider.build_invoke({}, user_id=None, workflow_id=None, async_mode=True, webhooks=())
    for batch in range(3):
        body: dict[str, Any] = {"workflowRunId": f"r{batch}", "status": "RUNNING"}
        body.update({f"invented-{batch}-{n}": n for n in range(shared._MAX_ENTRIES)})
        body["x" * (shared._MAX_LENGTH + 1)] = "long"
        run = provider.parse_run(body, spec)
        assert run.raw == body
        assert len(shared._TABLE) <= shared._MAX_ENTRIES
    assert "x" * (shared._MAX_LENGTH + 1) not in shared._TABLE


def test_an_unfinished_state_is_shared_a_finished_one_left_as_decoded() -> None:
    """A wait holds its run's latest state while the run goes on: shared like a start's
    answer. A finished run's answer is handed back at once; the hot path pays nothing."""
    provider = get_provider("gptbots")
    spec = provider.build_query("run-1")
    running = {"workflowRunId": "run-1", "status": "RUNNING", "workflowId": "wf"}
    finished = {**running, "status": "SUCCEED", "output": {"answer": 1}}
    first, second = (provider.parse_run(dict(running), spec) for _ in range(2))
    assert first.raw == running
    assert all(a is b for a, b in zip(first.raw, second.raw, strict=True))
    assert first.raw_status is second.raw_status
    assert provider.parse_run(finished, spec).raw is finished


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_a_cancelled_wait_keeps_no_state_in_its_traceback() -> None:
    """asyncio keeps a cancelled task's error, with its traceback, until the task is
    dropped: with 10,000 waits cancelled at once, each frame's states would stay."""
    caught: list[BaseException] = []
    async with _emulator().async_client("wf") as client:
        run = await client.invoke({"n": 1}, async_mode=True)

        async def wait() -> None:
            try:
                await client.wait(run, timeout=600.0)
            except BaseException as error:
                caught.append(error)
                raise

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            group.cancel_scope.cancel()
    (error,) = caught
    assert isinstance(error, anyio.get_cancelled_exc_class())
    frames = []
    trace = error.__traceback__
    while trace is not None:
        frames.append(trace.tb_frame)
        trace = trace.tb_next
    names = [frame.f_code.co_name for frame in frames]
    assert "follow" in names  # the waiter's frame is there, and looked at
    for frame in frames[names.index("wait") + 1 :]:
        held = list(frame.f_locals.values())
        assert not [value for value in held if isinstance(value, WorkflowRun)], frame
        subs = [value for value in held if type(value).__name__ == "_Sub"]
        assert all(sub.seen is None and sub.entry is None for sub in subs)
