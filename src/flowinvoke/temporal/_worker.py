"""Connecting to Temporal with flowinvoke's data converter, and building a worker in one call."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from .._async.client import AsyncClient
from .._core.errors import ConfigurationError, FlowInvokeError
from ._activities import FlowinvokeActivities
from ._batch_workflow import BatchWorkflow
from ._callbacks import CallbackTargets
from ._run_workflow import RunWorkflow

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = [
    "ADDRESS_VARIABLE",
    "TASK_QUEUE",
    "EngineUnavailableError",
    "build_worker",
    "connect",
]

TASK_QUEUE = "flowinvoke"
"""The task queue the workflows and activities use unless told otherwise."""

ADDRESS_VARIABLE = "FLOWINVOKE_TEMPORAL_ADDRESS"
"""The environment variable `connect` reads when no address is given."""

#: Workflows kept in a worker's memory between their tasks. A waiting workflow is held in
#: no worker at all once evicted; its next timer or signal replays it from its history.
DEFAULT_CACHED_WORKFLOWS = 1000


class EngineUnavailableError(FlowInvokeError, ConnectionError):
    """The Temporal server cannot be reached: nothing was started. Check the address."""


async def connect(
    address: str | None = None,
    *,
    namespace: str = "default",
    tracing: bool | TracerProvider | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """A Temporal client that speaks flowinvoke's models (the pydantic JSON converter).

    Args:
        address: "host:port" of the Temporal frontend. Default: `FLOWINVOKE_TEMPORAL_ADDRESS`.
        namespace: The Temporal namespace.
        tracing: OpenTelemetry spans for workflows and activities, with the caller's trace
            context carried into the activities (temporalio's `TracingInterceptor`). None:
            on when `opentelemetry-api` is installed, with the global tracer provider; a
            `TracerProvider`: trace with that one.
        interceptors: More client interceptors (they apply to workers built on it too).

    Raises:
        ConfigurationError: no address given or set.
        EngineUnavailableError: the server did not answer.
    """
    address = address or os.environ.get(ADDRESS_VARIABLE)
    if not address:
        raise ConfigurationError(
            f"no Temporal address: pass one (host:port) or set {ADDRESS_VARIABLE}"
        )
    chain = list(interceptors)
    if tracing is not False:
        try:
            from temporalio.contrib.opentelemetry import TracingInterceptor
        except ImportError:
            if tracing:
                raise ConfigurationError(
                    'tracing=True needs opentelemetry-api: pip install "flowinvoke[otel]"'
                ) from None
        else:
            tracer = None if isinstance(tracing, bool | None) else tracing.get_tracer(__name__)
            chain.append(TracingInterceptor(tracer))
    try:
        return await Client.connect(
            address,
            namespace=namespace,
            data_converter=pydantic_data_converter,
            interceptors=chain,
        )
    except RuntimeError as error:
        raise EngineUnavailableError(
            f"cannot reach Temporal at {address}: {error}; is the server running?"
        ) from None


def build_worker(
    client: Client,
    flowinvoke_client: AsyncClient,
    *,
    task_queue: str = TASK_QUEUE,
    callbacks: CallbackTargets | None = None,
    sandboxed: bool = True,
    max_cached_workflows: int = DEFAULT_CACHED_WORKFLOWS,
    max_concurrent_activities: int = 200,
    failover_timeout: float = 10.0,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
) -> Worker:
    """A Temporal worker with flowinvoke's workflows and activities, ready to `run()`.

    Args:
        client: From `connect` (its data converter and interceptors are the worker's).
        flowinvoke_client: The client the activities send with (one per process).
        task_queue: The queue to serve.
        callbacks: Where runs asking for a callback send it (`CallbackTargets`, the same
            URL and key as the web app's `CallbackReceiver`).
        sandboxed: Run workflow code in Temporal's sandbox (it re-imports workflow modules
            per run to catch non-determinism); False trades that check for less CPU.
        max_cached_workflows: Workflows kept in memory between their tasks: this, not the
            number of runs waiting, bounds the worker's memory.
        max_concurrent_activities: Starts and queries executing at once in this worker.
        failover_timeout: Seconds a workflow's next task waits for this worker (which
            holds its state in memory) before any other worker takes it: how soon the
            workflows of a worker that died move on. Shorter moves them sooner, at the
            cost of more replays elsewhere when this worker is merely busy.
        workflows, activities: Your own, served by the same worker.
    """
    ours = FlowinvokeActivities(flowinvoke_client, callbacks=callbacks)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RunWorkflow, BatchWorkflow, *workflows],
        activities=[*ours.activities, *activities],
        workflow_runner=workflow_runner(sandboxed=sandboxed),
        max_cached_workflows=max_cached_workflows,
        max_concurrent_activities=max_concurrent_activities,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=failover_timeout),
    )


def workflow_runner(*, sandboxed: bool) -> WorkflowRunner:
    """The runner `build_worker` gives workflows (a `Replayer` replays with the same)."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "flowinvoke", "pydantic", "pydantic_core", "backoff", "httpx", "anyio"
        )
    )
