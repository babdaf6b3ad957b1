"""`BatchWorkflow`: many inputs, each its own `RunWorkflow`, at most N in flight.

A sliding window: a new input starts as soon as one ends (each run workflow signals its
batch when it is over). The run workflows outlive a new history of the batch
(continue-as-new every `runs_per_history` inputs, or when Temporal suggests it), since
their signals name the batch's workflow id, not one history of it. An input's run workflow
id is `<batch id>/<index>`, so an input is never started twice, whatever restarts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from ._data import BatchRequest, BatchState, InputOutcome
    from ._run_workflow import DONE_SIGNAL

__all__ = ["BATCH_WORKFLOW", "BatchWorkflow", "input_workflow_id"]

BATCH_WORKFLOW = "flowinvoke.batch"


def input_workflow_id(batch_id: str, index: int) -> str:
    """The workflow id of a batch's input: its key."""
    return f"{batch_id}/{index}"


@workflow.defn(name=BATCH_WORKFLOW)
class BatchWorkflow:
    """Run every input of a `BatchRequest`; query `progress` for a `BatchState`."""

    @workflow.init
    def __init__(self, request: BatchRequest) -> None:
        # The state is restored here, not in `run`: a signal that reached a fresh history
        # before its first task is handled before `run` begins, and must find its input
        # in flight (else it would be dropped and the batch would wait for it forever).
        state = request.state or BatchState(total=len(request.inputs))
        self._total, self._next = state.total, state.started
        self._done, self._failed = state.done, state.failed
        self._in_flight = set(state.in_flight)
        self._finished_here = 0

    @workflow.signal(name=DONE_SIGNAL)
    def input_done(self, outcome: InputOutcome) -> None:
        """One input's run workflow ended (counted once, however often it is told)."""
        if outcome.index in self._in_flight:
            self._in_flight.discard(outcome.index)
            self._done += 1
            # By its error: a run workflow's outcome names no run (see DONE_SIGNAL).
            self._failed += 1 if outcome.error_type else 0
            self._finished_here += 1

    @workflow.query(name="progress")
    def progress(self) -> BatchState:
        """How far the batch is."""
        return BatchState(
            total=self._total,
            started=self._next,
            done=self._done,
            failed=self._failed,
            in_flight=tuple(sorted(self._in_flight)),
        )

    @workflow.run
    async def run(self, request: BatchRequest) -> BatchState:
        """Run the batch to its end (over as many histories as it takes)."""
        batch_id = workflow.info().workflow_id
        while self._done < self._total:
            starting = []
            while len(self._in_flight) < request.concurrency and self._next < self._total:
                self._in_flight.add(self._next)
                starting.append(self._start(request, batch_id, self._next))
                self._next += 1
            if starting:
                await asyncio.gather(*starting)
            if self._history_full(request):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(request.model_copy(update={"state": self.progress()}))
            await workflow.wait_condition(
                lambda: (
                    self._done >= self._total
                    or (len(self._in_flight) < request.concurrency and self._next < self._total)
                    or self._history_full(request)
                )
            )
        return self.progress()

    def _history_full(self, request: BatchRequest) -> bool:
        return (
            self._finished_here >= request.runs_per_history
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _start(self, request: BatchRequest, batch_id: str, index: int) -> None:
        run = request.template.model_copy(
            update={"input": request.inputs[index], "report_to": batch_id, "index": index}
        )
        try:
            await workflow.start_child_workflow(
                request.workflow,
                run,
                id=input_workflow_id(batch_id, index),
                parent_close_policy=ParentClosePolicy.ABANDON,
                execution_timeout=None,
                task_timeout=timedelta(seconds=request.task_timeout),
            )
        except WorkflowAlreadyStartedError:
            # Started by an earlier history of this batch: its end is signalled here too.
            workflow.logger.info("input %d already started", index)
