"""What travels through Temporal: JSON-serialisable pydantic models, never pickles.

Every workflow argument, activity argument and result below goes through the pydantic data
converter (`temporalio.contrib.pydantic`), so a history is readable in the Temporal UI and
by any SDK, and an old history replays after an upgrade that only adds fields.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .._core.models import WorkflowRun
from .._waiting.policy import PollPolicy

__all__ = [
    "BatchRequest",
    "BatchState",
    "InputOutcome",
    "PollSettings",
    "QueryRequest",
    "RunRequest",
    "StartAnswer",
    "StartRequest",
]

_DEFAULT_POLL = PollPolicy()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PollSettings(_Frozen):
    """A `PollPolicy` as data: the schedule of a run workflow's durable timers."""

    initial_delay: float = _DEFAULT_POLL.initial_delay
    multiplier: float = _DEFAULT_POLL.multiplier
    max_interval: float = _DEFAULT_POLL.max_interval
    jitter: float = _DEFAULT_POLL.jitter
    timeout: float | None = _DEFAULT_POLL.timeout
    adaptive: bool = _DEFAULT_POLL.adaptive

    @classmethod
    def of(cls, policy: PollPolicy) -> PollSettings:
        """The settings of a `PollPolicy` (its `max_hint` aside: timers take no hints)."""
        return cls(**{name: getattr(policy, name) for name in cls.model_fields})

    def policy(self) -> PollPolicy:
        """The `PollPolicy` these settings describe (checked: bad values raise)."""
        return PollPolicy(**self.model_dump())


class RunRequest(_Frozen):
    """One run for `RunWorkflow`: what to start and how to wait for it.

    Attributes:
        input: The workflow's Start-node parameters (JSON values only).
        user_id: Tags the caller where the platform records it (GPTBots `userId`).
        workflow_id: The platform's workflow to run, where the provider needs one.
        poll: The durable-timer schedule and the wait deadline (`timeout`).
        callback: Ask the platform to call back when the run ends (GPTBots/AltaBots, with a
            worker built with `callback_url`); the timers then follow `fallback`.
        fallback: The safety-net schedule of a wait expecting a callback.
        start_timeout: Seconds one start attempt may take. A worker that dies mid-start is
            noticed after this long, and the input then ends as `RunMayHaveStarted`.
        query_timeout: Seconds one query attempt may take before it is tried again.
        report_to: The batch workflow id to signal when this run is over (set by the batch).
        index: This run's input index in its batch.
    """

    input: dict[str, Any]
    user_id: str | None = None
    workflow_id: str | None = None
    poll: PollSettings = PollSettings()
    callback: bool = False
    fallback: PollSettings = PollSettings(
        initial_delay=5.0, multiplier=1.5, max_interval=60.0, jitter=0.1
    )
    start_timeout: float = 120.0
    query_timeout: float = 60.0
    report_to: str | None = None
    index: int | None = None


class StartRequest(_Frozen):
    """The start activity's argument: the run, and the Temporal workflow id for callbacks."""

    run: RunRequest
    temporal_id: str


class StartAnswer(_Frozen):
    """The start activity's answer: the run as started, and the learned durations.

    Attributes:
        run: The start answer (PENDING or RUNNING; already done for a synchronous answer).
        clusters: The worker's learned duration clusters for this workflow, (shortest,
            longest) seconds; empty: the plain schedule.
    """

    run: WorkflowRun
    clusters: tuple[tuple[float, float], ...] = ()


class QueryRequest(_Frozen):
    """The query activity's argument.

    Attributes:
        run_id: The run to query.
        workflow_id: The run's platform workflow, where the query path needs it.
        elapsed: Seconds since the start answer, by the workflow's clock: the duration the
            worker learns if this query sees the run succeed without one of its own.
    """

    run_id: str
    workflow_id: str | None = None
    elapsed: float = 0.0


class InputOutcome(_Frozen):
    """One input's end in a batch, as `run_many`'s `BatchItem`: a run or an error.

    Attributes:
        index: The input's 0-based position in the batch.
        run: The finished run (SUCCEEDED, or FAILED/CANCELLED with its error), when known.
        error_type: The flowinvoke error class name when the input ended in error
            ("WorkflowFailedError", "WaitTimeoutError", "RunMayHaveStarted", "APIError"...).
        error: That error's message (key-free).
        run_id: The run id, whenever the platform gave one.
    """

    index: int
    run: WorkflowRun | None = None
    error_type: str | None = None
    error: str | None = None
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when the input's run succeeded."""
        return self.error_type is None and self.run is not None and self.run.succeeded


class BatchState(_Frozen):
    """A batch's progress (the `progress` query) and what a new history starts from.

    Attributes:
        total: Inputs in the batch.
        started: Inputs whose run workflow was started (the next index to start).
        done: Inputs finished, succeeded or not.
        failed: Inputs that ended in error.
        in_flight: Indices started and not yet finished.
    """

    total: int
    started: int = 0
    done: int = 0
    failed: int = 0
    in_flight: tuple[int, ...] = ()

    @property
    def finished(self) -> bool:
        """True once every input has ended."""
        return self.done >= self.total


class BatchRequest(_Frozen):
    """A batch for `BatchWorkflow`: the inputs and how many run at once.

    Attributes:
        inputs: The inputs, in order (each a mapping of JSON values).
        concurrency: The most runs in flight at once (a sliding window).
        template: The settings every input's `RunRequest` copies (its `input` ignored).
        runs_per_history: Start a fresh history (continue-as-new) after this many inputs
            finished, so a long batch's history stays small.
        workflow: The workflow type each input runs: `RunWorkflow`'s, or one of your own
            that takes a `RunRequest` and signals its batch the same way.
        task_timeout: Seconds a worker may hold one workflow task of the batch or its runs
            before Temporal hands it to another (how soon a killed worker's work moves on).
        state: Where an earlier history of this batch left off (None: the beginning).
    """

    inputs: list[dict[str, Any]]
    concurrency: int = Field(default=100, ge=1)
    template: RunRequest = RunRequest(input={})
    runs_per_history: int = Field(default=500, ge=1)
    workflow: str = "flowinvoke.run"
    task_timeout: float = Field(default=10.0, gt=0)
    state: BatchState | None = None
