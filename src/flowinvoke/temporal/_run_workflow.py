"""`RunWorkflow`: one flowinvoke run as a durable Temporal workflow.

Start (an activity, at most once unless surely not started), then wait: durable timers on
the client's poll schedule, learned durations included, or a callback signal with the
fallback schedule as the safety net; each look is the query activity, run locally in the
workflow task that the timer or the callback woke (an ordinary activity, retried by the
server, only when that one try failed and may be tried again). The result is the finished
run; every other end is a typed failure (see `_failures`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from .._core.models import WorkflowRun
    from ._activities import QUERY_ACTIVITY, START_ACTIVITY
    from ._callbacks import CALLBACK_SIGNAL
    from ._data import InputOutcome, QueryRequest, RunRequest, StartAnswer, StartRequest
    from ._failures import MAY_HAVE_STARTED, may_have_started
    from ._schedule import TimerSchedule

__all__ = ["DONE_SIGNAL", "RUN_WORKFLOW", "RunWorkflow"]

RUN_WORKFLOW = "flowinvoke.run"
DONE_SIGNAL = "flowinvoke.input_done"
"""The signal a batch's run workflow sends its batch when it ends: an `InputOutcome` with
the index, any error and the run id, without the run (the run workflow's result holds it;
the batch only counts, and each copy would add the run to two histories)."""

#: The start activity runs once per attempt the workflow decides on: a retry by Temporal
#: after a worker died mid-request could start a second run. A local look runs once too.
_ONCE = RetryPolicy(maximum_attempts=1)
_START_ATTEMPTS = 6
#: The query activity's retries: every error that a retry would meet again (a bad key, an
#: unknown run, a bad request, a configuration error) comes as a non-retryable failure.
_QUERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)


#: The version markers (`workflow.patched`) of the local query after a callback, then of
#: every look local first: a run that was waiting when its worker was upgraded goes on as
#: its history says.
_LOCAL_QUERY_AFTER_CALLBACK = "flowinvoke-local-query-after-callback"
_LOCAL_QUERIES = "flowinvoke-local-queries"


@workflow.defn(name=RUN_WORKFLOW)
class RunWorkflow:
    """Run one input to its end; the workflow id is the caller's key for it."""

    def __init__(self) -> None:
        self._poked = False
        self._run: WorkflowRun | None = None
        self._queries = 0

    @workflow.signal(name=CALLBACK_SIGNAL)
    def callback(self) -> None:
        """The run may have ended: look now (a signal, never the result itself)."""
        self._poked = True

    @workflow.query(name="run")
    def current(self) -> WorkflowRun | None:
        """The run's latest known state (None before the start answered)."""
        return self._run

    @workflow.query(name="queries")
    def queries(self) -> int:
        """How many times the run was queried so far."""
        return self._queries

    @workflow.run
    async def run(self, request: RunRequest) -> WorkflowRun:
        """Start the run and wait for its end.

        Raises (as `ApplicationError` of that type): WorkflowFailedError (the run failed or
        was cancelled; the run in details), WaitTimeoutError (`poll.timeout` passed; the run
        id and last state in details), RunMayHaveStarted (the start's effect is unknown: not
        retried; any known id in details), or an APIError subclass name.
        """
        try:
            run = await self._follow(request)
        except ApplicationError as error:
            await self._report(request, _outcome_of_error(request, error, self._run))
            raise
        await self._report(request, InputOutcome(index=request.index or 0, run_id=run.id))
        return run

    async def _follow(self, request: RunRequest) -> WorkflowRun:
        started = await self._start(request)
        run = self._run = started.run
        workflow.logger.info("run started", extra={"run_id": run.id})
        if run.done:
            return _finished(run)
        if run.id is None:
            raise ApplicationError(
                "the start answer named no run id to wait on",
                {"run_id": None, "provider": run.provider},
                type="ResponseValidationError",
                non_retryable=True,
            )
        settings = request.fallback if request.callback else request.poll
        timeout = request.poll.timeout
        clusters = () if request.callback else started.clusters
        schedule = TimerSchedule(settings.policy(), clusters, workflow.random())
        origin = workflow.now()
        # Histories begun before local looks replay with their ordinary query activities.
        local_looks = workflow.patched(_LOCAL_QUERIES)
        while True:
            elapsed = (workflow.now() - origin).total_seconds()
            if timeout is not None and elapsed >= timeout:
                raise ApplicationError(
                    f"run {run.id} did not finish within {timeout:g} s",
                    {"run_id": run.id, "provider": run.provider, "run": _dump(run)},
                    type="WaitTimeoutError",
                    non_retryable=True,
                )
            delay = schedule.next_delay(elapsed)
            if timeout is not None:
                delay = min(delay, timeout - elapsed)
            called_back = await self._pause(max(delay, 0.001), request.callback)
            local = local_looks or (called_back and workflow.patched(_LOCAL_QUERY_AFTER_CALLBACK))
            run = self._run = await self._query(run, request, origin, local=local)
            if run.done:
                return _finished(run)

    async def _start(self, request: RunRequest) -> StartAnswer:
        info = workflow.info()
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                answer = await workflow.execute_activity(
                    START_ACTIVITY,
                    StartRequest(run=request, temporal_id=info.workflow_id),
                    result_type=StartAnswer,
                    start_to_close_timeout=timedelta(seconds=request.start_timeout),
                    retry_policy=_ONCE,
                )
                return cast("StartAnswer", answer)
            except ActivityError as error:
                cause = error.cause
                if may_have_started(error):
                    raise _ambiguous(error) from None
                final = isinstance(cause, ApplicationError) and cause.non_retryable
                if final or attempt == _START_ATTEMPTS:
                    raise _as_application_error(error) from None
                await workflow.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _query(
        self, run: WorkflowRun, request: RunRequest, origin: object, *, local: bool
    ) -> WorkflowRun:
        """One look at the run.

        Local first: the worker that holds this workflow queries in the workflow task that
        its timer or callback woke, so a look costs no activity task and no second
        workflow task (three trips through the server's queues become one). That try is
        made once; if it failed in a way a retry may mend, the look becomes an ordinary
        activity, which any worker may take and whose retries the server keeps (a platform
        outage then adds no workflow tasks to the history while it lasts).
        """
        assert run.id is not None
        self._queries += 1
        elapsed = (workflow.now() - origin).total_seconds()  # type: ignore[operator]
        look = QueryRequest(run_id=run.id, workflow_id=request.workflow_id, elapsed=elapsed)
        timeout = timedelta(seconds=request.query_timeout)
        try:
            if local:
                try:
                    answer = await workflow.execute_local_activity(
                        QUERY_ACTIVITY,
                        look,
                        result_type=WorkflowRun,
                        start_to_close_timeout=timeout,
                        retry_policy=_ONCE,
                    )
                    return cast("WorkflowRun", answer)
                except FailureError as error:  # a local one's failure may come unwrapped
                    if not _may_mend(error):
                        raise
            answer = await workflow.execute_activity(
                QUERY_ACTIVITY,
                look,
                result_type=WorkflowRun,
                start_to_close_timeout=timeout,
                retry_policy=_QUERY_RETRY,
            )
        except FailureError as error:
            raise _as_application_error(error, run) from None
        return cast("WorkflowRun", answer)

    async def _pause(self, seconds: float, callback: bool) -> bool:
        """Wait `seconds`, or less if a callback comes; True when a callback ended it."""
        if not callback:
            await workflow.sleep(seconds)
            return False
        if not self._poked:
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self._poked, timeout=seconds)
        poked, self._poked = self._poked, False
        return poked

    async def _report(self, request: RunRequest, outcome: InputOutcome) -> None:
        if request.report_to is None:
            return
        batch = workflow.get_external_workflow_handle(request.report_to)
        try:
            await batch.signal(DONE_SIGNAL, outcome)
        except ApplicationError:  # pragma: no cover - the batch was terminated meanwhile
            workflow.logger.warning("batch %s gone; outcome not reported", request.report_to)


def _finished(run: WorkflowRun) -> WorkflowRun:
    if run.succeeded:
        return run
    word = run.raw_status or run.status.value
    raise ApplicationError(
        f"workflow run ended with status {word}" + (f": {run.error}" if run.error else ""),
        {"run_id": run.id, "provider": run.provider, "run": _dump(run)},
        type="WorkflowFailedError",
        non_retryable=True,
    )


def _dump(run: WorkflowRun) -> dict[str, object]:
    return run.model_dump(mode="json", exclude={"raw"})


def _ambiguous(error: ActivityError) -> ApplicationError:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == MAY_HAVE_STARTED:
        return ApplicationError(
            cause.message, *cause.details, type=MAY_HAVE_STARTED, non_retryable=True
        )
    return ApplicationError(
        "the start's effect is unknown (the worker stopped answering mid-request): the run "
        "may have started, so it was not started again; check the platform's run list",
        {"run_id": None, "provider": None},
        type=MAY_HAVE_STARTED,
        non_retryable=True,
    )


def _cause(error: FailureError) -> BaseException | None:
    """What failed: an activity's failure, or a local activity's, which may come unwrapped."""
    return error.cause if isinstance(error, ActivityError) else error


def _may_mend(error: FailureError) -> bool:
    """Whether another try of a failed look may succeed (it timed out, or said so)."""
    cause = _cause(error)
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable
    return isinstance(cause, TimeoutError)


def _as_application_error(error: FailureError, run: WorkflowRun | None = None) -> ApplicationError:
    cause = _cause(error)
    run_id = run.id if run else None
    if isinstance(cause, ApplicationError):
        details = (
            dict(cause.details[0]) if cause.details and isinstance(cause.details[0], dict) else {}
        )
        details["run_id"] = details.get("run_id") or run_id
        return ApplicationError(cause.message, details, type=cause.type, non_retryable=True)
    return ApplicationError(
        str(cause or error),
        {"run_id": run_id, "provider": None},
        type="APIError",
        non_retryable=True,
    )


def _outcome_of_error(
    request: RunRequest, error: ApplicationError, run: WorkflowRun | None
) -> InputOutcome:
    details = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
    return InputOutcome(
        index=request.index or 0,
        error_type=error.type,
        error=error.message,
        run_id=details.get("run_id") or (run.id if run else None),
    )
