"""The caller's side: start a run or a batch by key, attach to it again, read its outcome.

Starting a key that already has a workflow attaches to it (running: `USE_EXISTING`;
finished: the finished one's result, since a closed workflow id is never reused), so a
repeated start from any machine starts no second run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import timedelta
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .._core.errors import FlowInvokeError
from .._core.models import WorkflowRun
from .._waiting.policy import PollPolicy
from ._batch_workflow import BATCH_WORKFLOW, input_workflow_id
from ._data import BatchRequest, BatchState, InputOutcome, PollSettings, RunRequest
from ._failures import error_from_failure
from ._run_workflow import RUN_WORKFLOW
from ._worker import TASK_QUEUE

__all__ = ["TemporalRuns", "check_json_input"]

#: How long a reader waits before asking again for an input the batch has not started.
_NOT_STARTED_PAUSE = 0.5


def check_json_input(input: object) -> dict[str, Any]:
    """`input` as a dict of JSON values, or a TypeError saying what is wrong (nothing sent)."""
    if not isinstance(input, Mapping) or not all(isinstance(k, str) for k in input):
        raise TypeError(
            f"input must be a mapping of str to JSON values, not {type(input).__name__}"
        )
    try:
        json.dumps(input, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"input is not JSON-serialisable: {error}") from None
    return dict(input)


class TemporalRuns:
    """Start, attach to and read runs and batches on Temporal, by key.

    Args:
        client: From `flowinvoke.temporal.connect`.
        task_queue: The queue the workers serve.
    """

    def __init__(self, client: Client, *, task_queue: str = TASK_QUEUE) -> None:
        self.client = client
        self.task_queue = task_queue

    def __repr__(self) -> str:
        return f"TemporalRuns(namespace={self.client.namespace!r}, task_queue={self.task_queue!r})"

    def request(
        self,
        input: Mapping[str, Any],
        *,
        user_id: str | None = None,
        workflow_id: str | None = None,
        poll: PollPolicy | None = None,
        callback: bool = False,
        start_timeout: float = 120.0,
        query_timeout: float = 60.0,
    ) -> RunRequest:
        """A checked `RunRequest` (TypeError for an input that is not JSON)."""
        return RunRequest(
            input=check_json_input(input),
            user_id=user_id,
            workflow_id=workflow_id,
            poll=PollSettings.of(poll or PollPolicy()),
            callback=callback,
            start_timeout=start_timeout,
            query_timeout=query_timeout,
        )

    async def start(self, key: str, request: RunRequest) -> WorkflowHandle[Any, WorkflowRun]:
        """Start the run workflow `key`, or attach to the one that has that key already."""
        _check_key(key)
        try:
            return await self.client.start_workflow(
                RUN_WORKFLOW,
                request,
                id=key,
                task_queue=self.task_queue,
                result_type=WorkflowRun,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:  # finished already: its outcome is the answer
            return self.client.get_workflow_handle(key, result_type=WorkflowRun)

    async def result(self, key: str) -> WorkflowRun:
        """The finished run of workflow `key` (waits for it).

        Raises:
            WorkflowFailedError, WaitTimeoutError, APIError (`may_have_started` for an
            ambiguous start), ConfigurationError: the run's typed end, with its run id.
        """
        handle = self.client.get_workflow_handle(key, result_type=WorkflowRun)
        try:
            run: WorkflowRun = await handle.result()
        except WorkflowFailureError as failure:
            error = error_from_failure(failure)
            if error is None:
                raise
            raise error from failure
        return run

    async def run(self, key: str, request: RunRequest) -> WorkflowRun:
        """`start` then `result`: the run of `key`, started at most once."""
        await self.start(key, request)
        return await self.result(key)

    async def submit_batch(
        self,
        batch_id: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 100,
        template: RunRequest | None = None,
        runs_per_history: int = 500,
        task_timeout: float = 10.0,
    ) -> WorkflowHandle[Any, BatchState]:
        """Start batch `batch_id` over `inputs` (all checked first), or attach to it.

        `task_timeout`: seconds a worker may hold one workflow task (see `BatchRequest`).
        """
        _check_key(batch_id)
        checked = [check_json_input(item) for item in inputs]
        request = BatchRequest(
            inputs=checked,
            concurrency=concurrency,
            template=template or RunRequest(input={}),
            runs_per_history=runs_per_history,
            task_timeout=task_timeout,
        )
        try:
            return await self.client.start_workflow(
                BATCH_WORKFLOW,
                request,
                id=batch_id,
                task_queue=self.task_queue,
                result_type=BatchState,
                task_timeout=timedelta(seconds=task_timeout),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return self.batch(batch_id)

    def batch(self, batch_id: str) -> WorkflowHandle[Any, BatchState]:
        """The handle of an existing batch (to resume following it)."""
        return self.client.get_workflow_handle(batch_id, result_type=BatchState)

    async def progress(self, batch_id: str) -> BatchState:
        """The batch's progress now (a query; works on a finished batch too)."""
        state: BatchState = await self.batch(batch_id).query("progress", result_type=BatchState)
        return state

    async def outcome(self, batch_id: str, index: int) -> InputOutcome:
        """One input's end (waits for it, and for the batch to start it), as a result or a
        typed error."""
        try:
            while True:
                try:
                    run = await self.result(input_workflow_id(batch_id, index))
                    break
                except RPCError as error:  # not started yet: the window has not reached it
                    if error.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    await anyio.sleep(_NOT_STARTED_PAUSE)
        except FlowInvokeError as error:
            last = getattr(error, "run", None) or getattr(error, "last_run", None)
            return InputOutcome(
                index=index,
                run=last if isinstance(last, WorkflowRun) else None,
                error_type=_error_type(error),
                error=error.message,
                run_id=error.run_id,
            )
        return InputOutcome(index=index, run=run, run_id=run.id)

    async def outcomes(
        self, batch_id: str, indices: Iterable[int], *, concurrency: int = 50
    ) -> AsyncIterator[InputOutcome]:
        """The ends of these inputs, in completion order, `concurrency` read at once."""
        send, receive = anyio.create_memory_object_stream[InputOutcome](concurrency)
        pending = iter(indices)

        async def reader(out: MemoryObjectSendStream[InputOutcome]) -> None:
            async with out:
                for index in pending:
                    await out.send(await self.outcome(batch_id, index))

        async with anyio.create_task_group() as group:
            async with send:
                for _ in range(concurrency):
                    group.start_soon(reader, send.clone())
            async with receive:
                async for outcome in receive:
                    yield outcome


def _error_type(error: FlowInvokeError) -> str:
    if getattr(error, "may_have_started", False):
        return "RunMayHaveStarted"
    return type(error).__name__


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key.strip():
        raise TypeError("a workflow key must be a non-empty str")
