"""flowinvoke.temporal: the same runs as Temporal workflows, for work past one machine.

Register `RunWorkflow`, `BatchWorkflow` and `FlowinvokeActivities` on your own worker, or
build one with `build_worker`; start runs and batches with `TemporalRuns`. The workflow id
is the caller's key, so a second start attaches instead of starting again; waits are durable
timers on the client's poll schedule, or a callback signal (`CallbackReceiver`). Needs the
`temporal` extra (`pip install "flowinvoke[temporal]"`); `import flowinvoke` never imports
temporalio. See docs/scaling-out.md.
"""

from __future__ import annotations

from ._activities import QUERY_ACTIVITY, START_ACTIVITY, FlowinvokeActivities
from ._batch_workflow import BATCH_WORKFLOW, BatchWorkflow, input_workflow_id
from ._callbacks import CALLBACK_SIGNAL, CallbackReceiver, CallbackTargets
from ._data import (
    BatchRequest,
    BatchState,
    InputOutcome,
    PollSettings,
    QueryRequest,
    RunRequest,
    StartAnswer,
    StartRequest,
)
from ._failures import MAY_HAVE_STARTED, error_from_failure
from ._run_workflow import DONE_SIGNAL, RUN_WORKFLOW, RunWorkflow
from ._runs import TemporalRuns, check_json_input
from ._worker import ADDRESS_VARIABLE, TASK_QUEUE, EngineUnavailableError, build_worker, connect

__all__ = [
    "ADDRESS_VARIABLE",
    "BATCH_WORKFLOW",
    "CALLBACK_SIGNAL",
    "DONE_SIGNAL",
    "MAY_HAVE_STARTED",
    "QUERY_ACTIVITY",
    "RUN_WORKFLOW",
    "START_ACTIVITY",
    "TASK_QUEUE",
    "BatchRequest",
    "BatchState",
    "BatchWorkflow",
    "CallbackReceiver",
    "CallbackTargets",
    "EngineUnavailableError",
    "FlowinvokeActivities",
    "InputOutcome",
    "PollSettings",
    "QueryRequest",
    "RunRequest",
    "RunWorkflow",
    "StartAnswer",
    "StartRequest",
    "TemporalRuns",
    "build_worker",
    "check_json_input",
    "connect",
    "error_from_failure",
    "input_workflow_id",
]
