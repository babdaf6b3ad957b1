"""The activities: start a run (at most once) and query it (as often as needed).

Both hold one `AsyncClient` per worker process: its connection pool, rate limit, cool-down
after 429s and learned durations serve every workflow the worker runs. The start asks the
platform for an asynchronous run wherever it can, so an activity never holds a worker slot
while a run executes; waiting is the workflow's job (durable timers or a callback signal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from .._async.client import AsyncClient
from .._core.errors import FlowInvokeError
from .._core.log import logger
from .._core.models import WorkflowRun
from .._waiting.learning import WorkflowKey
from ._callbacks import CallbackTargets
from ._data import QueryRequest, StartAnswer, StartRequest
from ._failures import application_error

__all__ = ["QUERY_ACTIVITY", "START_ACTIVITY", "FlowinvokeActivities"]

START_ACTIVITY = "flowinvoke.start"
QUERY_ACTIVITY = "flowinvoke.query"


class FlowinvokeActivities:
    """The start and query activities over one client; register `activities` on a worker.

    Args:
        client: The flowinvoke client every activity of this worker sends with.
        callbacks: Where runs asking for a callback get their webhook target (the web
            app's `CallbackReceiver` URL and key); None: such runs poll.
    """

    def __init__(self, client: AsyncClient, *, callbacks: CallbackTargets | None = None) -> None:
        self.client = client
        self.callbacks = callbacks

    def __repr__(self) -> str:
        return f"FlowinvokeActivities({self.client!r}, callbacks={self.callbacks!r})"

    @property
    def activities(self) -> list[Callable[..., Any]]:
        """The activity callables to pass to `Worker(activities=...)`."""
        return [self.start, self.query]

    @activity.defn(name=START_ACTIVITY)
    async def start(self, request: StartRequest) -> StartAnswer:
        """Start one run; fails typed, and retryable only where no run can have started."""
        run = request.run
        provider = self.client.provider
        async_mode = provider.supports_async_invoke
        webhooks = None
        if run.callback and self.callbacks is not None and provider.supports_webhooks:
            webhooks = [self.callbacks.webhook_for(request.temporal_id)]
        try:
            started = await self.client.invoke(
                run.input,
                user_id=run.user_id,
                workflow_id=run.workflow_id,
                async_mode=async_mode,
                webhooks=webhooks,
            )
        except (FlowInvokeError, TypeError, ValueError) as error:
            raise application_error(error) from None
        logger.info(
            "temporal run started",
            extra={"temporal_workflow_id": request.temporal_id, "run_id": started.id},
        )
        estimate = self.client.run_durations.estimate(self._key(started, run.workflow_id))
        return StartAnswer(run=_lean(started), clusters=estimate.clusters)

    @activity.defn(name=QUERY_ACTIVITY)
    async def query(self, request: QueryRequest) -> WorkflowRun:
        """Query a run once (safe to repeat); a success teaches the worker its duration."""
        try:
            run = await self.client.get_run(request.run_id, workflow_id=request.workflow_id)
        except FlowInvokeError as error:
            error.run_id = error.run_id or request.run_id
            raise application_error(error) from None
        if run.succeeded:
            seconds = run.duration.total_seconds() if run.duration else request.elapsed
            self.client.run_durations.record(self._key(run, request.workflow_id), seconds)
        return _lean(run)

    def _key(self, run: WorkflowRun, workflow_id: str | None) -> WorkflowKey:
        identity = run.workflow_id or workflow_id or "temporal"
        return WorkflowKey(self.client.provider.name, self.client.base_url, identity)


def _lean(run: WorkflowRun) -> WorkflowRun:
    """The run without its raw body, which would double every state in the history."""
    return run.model_copy(update={"raw": None})
