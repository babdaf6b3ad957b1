"""The emulator's state machine: registered workflows, runs and counters. No I/O.

A run's status is a pure function of its workflow's script and either the clock (duration
mode) or the number of queries seen (polls mode), so answers are deterministic. All methods
are called with the emulator's lock held by the caller; nothing here waits.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

from ._clock import Clock
from ._wire import canonical_json
from ._workflows import FinalStatus, Workflow, echoes

__all__ = ["Counters", "EmulatorState", "Run", "RunRecord", "WireStatus"]

WireStatus: TypeAlias = Literal["PENDING", "RUNNING", "SUCCEED", "FAILED"]
"""A run's status in GPTBots' words."""


@dataclasses.dataclass
class Counters:
    """What the emulator has seen, so tests can assert that no run was started twice.

    Attributes:
        requests: Every request received, faulted or not.
        requests_by_operation: Requests per operation ("invoke", "query", "other").
        invokes: Runs started, per workflow id (an invoke that was rejected — bad key, bad
            input, no credits, or a fault striking before processing — starts none).
        invokes_by_input: Runs started, per canonical JSON of the input (all workflows).
        queries: Queries that passed authentication and named a run id, per run id (unknown
            ids included).
        faults: Faults injected, per kind.
    """

    requests: int = 0
    requests_by_operation: Counter[str] = dataclasses.field(default_factory=Counter)
    invokes: Counter[str] = dataclasses.field(default_factory=Counter)
    invokes_by_input: Counter[str] = dataclasses.field(default_factory=Counter)
    queries: Counter[str] = dataclasses.field(default_factory=Counter)
    faults: Counter[str] = dataclasses.field(default_factory=Counter)

    def invokes_for_input(self, inputs: Mapping[str, Any]) -> int:
        """How many runs were started with exactly this input (any workflow)."""
        return self.invokes_by_input[canonical_json(inputs)]

    @property
    def total_invokes(self) -> int:
        """Runs started, all workflows together."""
        return sum(self.invokes.values())


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """A read-only snapshot of a run, for assertions in tests.

    Times are on the emulator's clock (seconds); `None` when not reached yet.
    """

    run_id: str
    workflow_id: str
    input: Mapping[str, Any]
    user_id: str | None
    is_async: bool
    webhooks: tuple[Mapping[str, Any], ...]
    status: WireStatus
    queries: int
    created_at: float
    started_at: float | None
    ended_at: float | None


@dataclasses.dataclass(slots=True)
class Run:
    """One run: its script, its input and where it is in PENDING → RUNNING → final.

    Lean, since users' tests and the benchmarks hold thousands: slots, and the input and
    output kept as their compact JSON text (what the wire sends anyway), decoded when read;
    no output at all for the default script's, the echo of the input (`output_json` None).
    """

    run_id: str
    workflow: Workflow
    input_json: str
    user_id: str | None
    is_async: bool
    webhooks: tuple[Mapping[str, Any], ...]
    created_at: float
    final_status: FinalStatus
    output_json: str | None
    by_polls: bool
    queries: int = 0
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def input(self) -> dict[str, Any]:
        """The run's input, as the invoke sent it (a new dict each time)."""
        value: dict[str, Any] = json.loads(self.input_json)
        return value

    @property
    def output(self) -> dict[str, Any]:
        """The run's output (a new dict each time); `{"error": ...}` for a failed run."""
        if self.output_json is None:
            return {"echo": self.input}
        value: dict[str, Any] = json.loads(self.output_json)
        return value

    def status(self, now: float) -> WireStatus:
        """The status at time `now`, without counting a query."""
        if self.by_polls:
            if self.ended_at is not None:
                return self.final_status
            return "RUNNING" if self.started_at is not None else "PENDING"
        if self.ended_at is not None and now >= self.ended_at:
            return self.final_status
        if self.started_at is not None and now >= self.started_at:
            return "RUNNING"
        return "PENDING"

    def observe(self, now: float) -> WireStatus:
        """Count one query at time `now` and return the status it sees."""
        self.queries += 1
        if self.by_polls and self.ended_at is None:
            polls = self.workflow.polls or 0
            if self.queries > polls:
                if self.started_at is None:
                    self.started_at = now
                self.ended_at = now
            elif self.queries >= 2 and self.started_at is None:
                self.started_at = now
        return self.status(now)

    def record(self, now: float) -> RunRecord:
        """A snapshot of this run at time `now`."""
        return RunRecord(
            run_id=self.run_id,
            workflow_id=self.workflow.id,
            input=self.input,
            user_id=self.user_id,
            is_async=self.is_async,
            webhooks=self.webhooks,
            status=self.status(now),
            queries=self.queries,
            created_at=self.created_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
        )


class EmulatorState:
    """Workflows, runs, ids and counters; the clock is read, never waited on."""

    def __init__(self, *, clock: Clock, epoch: float, seed: int) -> None:
        self.clock = clock
        self._clock_origin = clock()
        self._epoch_origin = epoch
        self._rng = random.Random(seed)  # noqa: S311 - ids for a test fixture
        self._run_counter = 0
        self.workflows: dict[str, Workflow] = {}
        self.gptbots_keys: dict[str, Workflow] = {}
        self.dify_keys: dict[str, Workflow] = {}
        self.aitutor_keys: set[str] = set()
        self.coze_keys: set[str] = set()
        self.runs: dict[str, Run] = {}
        self.counters = Counters()

    # -- workflows ---------------------------------------------------------------------------

    def add_workflow(self, workflow: Workflow) -> None:
        """Register a workflow; ids are unique, and so are GPTBots/AltaBots keys."""
        if workflow.id in self.workflows:
            msg = f"a workflow with id {workflow.id!r} is already registered"
            raise ValueError(msg)
        if workflow.key_names_workflow:
            keys = self.gptbots_keys if workflow.is_gptbots_family else self.dify_keys
            if workflow.api_key in keys:
                family = "GPTBots/AltaBots" if workflow.is_gptbots_family else "Dify"
                msg = (
                    f"workflow {workflow.id!r}: another {family} workflow already "
                    "uses this API key (a key belongs to one workflow)"
                )
                raise ValueError(msg)
            keys[workflow.api_key] = workflow
        elif workflow.is_coze_family:
            self.coze_keys.add(workflow.api_key)
        else:
            self.aitutor_keys.add(workflow.api_key)
        self.workflows[workflow.id] = workflow

    # -- time --------------------------------------------------------------------------------

    def now(self) -> float:
        """The clock's current reading."""
        return self.clock()

    def epoch_ms(self, at: float) -> int:
        """Milliseconds since the Unix epoch of clock reading `at`."""
        return round(self.epoch_seconds(at) * 1000)

    def epoch_seconds(self, at: float) -> float:
        """Seconds since the Unix epoch of clock reading `at`."""
        return self._epoch_origin + (at - self._clock_origin)

    # -- runs --------------------------------------------------------------------------------

    def queried(self, run_id: str) -> Run | None:
        """Count a query of `run_id` (unknown ids too) and return its run, if there is one.

        A known run is counted under its own id string, not the copy each request decodes:
        100,000 runs queried keep one id each.
        """
        run = self.runs.get(run_id)
        self.counters.queries[run_id if run is None else run.run_id] += 1
        return run

    def _new_run_id(self, workflow: Workflow) -> str:
        self._run_counter += 1
        n = self._run_counter
        if workflow.is_coze_family:  # 19 digits, like Coze's execute ids
            return f"74{self._rng.getrandbits(26) % 10**8:08d}{n:09d}"
        if workflow.key_names_workflow:
            tail = f"{self._rng.getrandbits(64):016x}"
            return f"{n:08x}-{tail[:4]}-4{tail[4:7]}-{tail[7:11]}-{tail[11:16]}{n:07x}"
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        tail = "".join(self._rng.choice(alphabet) for _ in range(8))
        return f"run_{n:06d}{tail}"

    def start_run(
        self,
        workflow: Workflow,
        inputs: dict[str, Any],
        *,
        user_id: str | None,
        is_async: bool,
        progressive: bool,
        webhooks: tuple[Mapping[str, Any], ...] = (),
    ) -> Run:
        """Create a run, count it, and fix its timeline (duration mode) or leave it to polls.

        `progressive` runs advance by queries in polls mode; others (a synchronous invoke that
        waits) are finished at once in polls mode.
        """
        now = self.now()
        final_status: FinalStatus = "SUCCEED"
        output_json = None
        if not echoes(workflow):
            final_status, output = workflow.compute_output(inputs)
            try:
                output_json = _compact_json(output)
            except (TypeError, ValueError) as exc:  # no JSON answer could carry it
                final_status = "FAILED"
                output_json = _compact_json({"error": f"output: {exc}"})
        by_polls = workflow.polls is not None and progressive
        key = canonical_json(inputs)
        input_json = _compact_json(inputs)
        run = Run(
            run_id=self._new_run_id(workflow),
            workflow=workflow,
            input_json=key if input_json == key else input_json,  # one string where they agree
            user_id=user_id,
            is_async=is_async,
            webhooks=webhooks,
            created_at=now,
            final_status=final_status,
            output_json=output_json,
            by_polls=by_polls,
        )
        if workflow.polls is not None and not progressive:
            run.started_at = run.ended_at = now
        elif not by_polls:
            run.started_at = now + workflow.queue_time
            run.ended_at = run.started_at + workflow.duration
        self.runs[run.run_id] = run
        self.counters.invokes[workflow.id] += 1
        self.counters.invokes_by_input[key] += 1
        return run


def _compact_json(value: Any) -> str:
    """JSON text with no spaces, keys in their given order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
