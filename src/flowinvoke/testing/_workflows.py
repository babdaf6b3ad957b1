"""The script of one emulated workflow: who may call it, what it answers, how long it takes.

A `Workflow` is plain, frozen configuration. The emulator's state machine reads it when a run
starts and never changes it, so the same script always yields the same answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias

__all__ = [
    "AitutorStyle",
    "FinalStatus",
    "OutputScript",
    "ProviderName",
    "SyncAnswer",
    "Workflow",
]

ProviderName: TypeAlias = Literal["gptbots", "altabots", "aitutor", "dify", "coze", "coze-studio"]
"""Which provider's wire format the workflow speaks. GPTBots and AltaBots share one API;
so do Coze and coze-studio (the emulator serves both history paths)."""

FinalStatus: TypeAlias = Literal["SUCCEED", "FAILED"]
"""How a run of the workflow ends."""

AitutorStyle: TypeAlias = Literal["seed", "live"]
"""aitutor-api answer shape: the documentation page's ("seed") or the live server's."""

SyncAnswer: TypeAlias = Literal["wait", "running"]
"""What a synchronous GPTBots invoke does for a long run: wait for the end, or answer at once
with the run's current (PENDING/RUNNING) state, as a server cutting a long call might."""

OutputScript: TypeAlias = Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""A workflow's output: a fixed mapping, or a function of the run's input."""

GPTBOTS_FAMILY: frozenset[str] = frozenset({"gptbots", "altabots"})
COZE_FAMILY: frozenset[str] = frozenset({"coze", "coze-studio"})
PROVIDERS: frozenset[str] = frozenset({"aitutor", "dify"}) | GPTBOTS_FAMILY | COZE_FAMILY


def _echo(inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"echo": dict(inputs)}


def echoes(workflow: Workflow) -> bool:
    """Whether a workflow's runs succeed with the default output, the echo of their input
    (the emulator's run record then keeps no copy of it: see `_state.Run`)."""
    return workflow.output is _echo and workflow.final_status == "SUCCEED"


@dataclasses.dataclass(frozen=True)
class Workflow:
    """One scripted workflow the emulator serves.

    Attributes:
        id: The workflow id (`workflowId` for GPTBots; the path segment `wf_...` for aitutor).
        api_key: The key that calls it. A GPTBots/AltaBots key belongs to exactly one workflow
            (the invoke call names no workflow); aitutor workflows may share a key. Never
            shown in a repr or in an error body.
        provider: The wire format: "gptbots", "altabots" (same API) or "aitutor".
        name: `workflowName` in GPTBots answers.
        version: `workflowVersion` in GPTBots answers (a string, like "9" or "1.0.1").
        output: A mapping, or a function of the input returning one. If the function raises,
            or returns what JSON cannot carry, the run FAILS with the exception's text as
            its error message.
        final_status: "SUCCEED" or "FAILED". A FAILED GPTBots run keeps status FAILED and its
            output is `{"error": error_message}`; a FAILED aitutor run answers HTTP 500.
        error_message: The message a FAILED run carries.
        duration: Wall-time seconds the run executes (measured on the emulator's clock). A
            synchronous call waits this long; an async run shows RUNNING meanwhile.
        queue_time: Wall-time seconds an async run stays PENDING before it runs.
        polls: If set, async GPTBots runs ignore the clock: the first `polls` queries answer
            non-terminal (the first PENDING, later ones RUNNING) and query `polls + 1`
            answers the final status. `polls=0` means terminal at the first query. Fast tests
            use this. A synchronous invoke of such a workflow answers terminal at once.
        required_inputs: Input names that must be present, or the call fails with a
            bad-request error (GPTBots 40000 / aitutor `invalid_request`).
        aitutor_style: "seed" or "live" answer and error shapes (aitutor only).
        cost: `totalCost` (credits, float) of a finished run.
        tokens: `totalTokens` of a finished run.
        credits_exhausted: Every invoke fails: GPTBots code 20022 with HTTP
            `credits_error_status`, aitutor 402 `spend_limit_reached`. No run is created.
        credits_error_status: The HTTP status of GPTBots' 20022 error (the real one is
            unknown, 402 is the emulator's choice).
        errors_in_http_200: Deliver this workflow's error bodies inside HTTP 200 (a behaviour
            the GPTBots docs allow). `None` inherits the emulator-wide setting.
        sync_answer: "wait" (default) or "running"; see `SyncAnswer`.
        dify_legacy: Answer Dify queries like servers before the epoch change: times as
            RFC 822 text, and an unknown run id as HTTP 200 with every field null.
        coze_async_refused: Refuse Coze async starts with code 6003, as free plans do.
    """

    id: str
    api_key: str = dataclasses.field(repr=False)
    provider: ProviderName = "gptbots"
    name: str = "emulated-workflow"
    version: str = "1"
    output: OutputScript = _echo
    final_status: FinalStatus = "SUCCEED"
    error_message: str = "Workflow execution failed"
    duration: float = 0.0
    queue_time: float = 0.0
    polls: int | None = None
    required_inputs: tuple[str, ...] = ()
    aitutor_style: AitutorStyle = "seed"
    cost: float = 0.0
    tokens: int = 0
    credits_exhausted: bool = False
    credits_error_status: int = 402
    errors_in_http_200: bool | None = None
    sync_answer: SyncAnswer = "wait"
    dify_legacy: bool = False
    coze_async_refused: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            msg = "a workflow needs a non-empty id"
            raise ValueError(msg)
        if not self.api_key:
            msg = f"workflow {self.id!r} needs a non-empty api_key"
            raise ValueError(msg)
        if self.provider not in PROVIDERS:
            msg = f"workflow {self.id!r}: unknown provider {self.provider!r}"
            raise ValueError(msg)
        if self.final_status not in ("SUCCEED", "FAILED"):
            msg = f"workflow {self.id!r}: final_status must be 'SUCCEED' or 'FAILED'"
            raise ValueError(msg)
        if self.aitutor_style not in ("seed", "live"):
            msg = f"workflow {self.id!r}: aitutor_style must be 'seed' or 'live'"
            raise ValueError(msg)
        if self.sync_answer not in ("wait", "running"):
            msg = f"workflow {self.id!r}: sync_answer must be 'wait' or 'running'"
            raise ValueError(msg)
        if self.duration < 0 or self.queue_time < 0:
            msg = f"workflow {self.id!r}: duration and queue_time must be >= 0"
            raise ValueError(msg)
        if self.polls is not None and self.polls < 0:
            msg = f"workflow {self.id!r}: polls must be >= 0"
            raise ValueError(msg)
        names: object = self.required_inputs
        if isinstance(names, str):
            msg = f"workflow {self.id!r}: required_inputs must be a tuple of names, not a str"
            raise TypeError(msg)
        object.__setattr__(self, "required_inputs", tuple(self.required_inputs))

    @property
    def is_gptbots_family(self) -> bool:
        """True for GPTBots and AltaBots, which share one wire format."""
        return self.provider in GPTBOTS_FAMILY

    @property
    def is_coze_family(self) -> bool:
        """True for Coze and coze-studio, which share one wire format."""
        return self.provider in COZE_FAMILY

    @property
    def key_names_workflow(self) -> bool:
        """True where the API key alone names the workflow (GPTBots, AltaBots, Dify), so
        a key belongs to one workflow; aitutor and Coze name it in each call."""
        return self.is_gptbots_family or self.provider == "dify"

    def compute_output(self, inputs: Mapping[str, Any]) -> tuple[FinalStatus, dict[str, Any]]:
        """Return the final status and output of a run with these inputs.

        A FAILED run's output is `{"error": <message>}`; a raising output function turns the
        run into a FAILED one carrying the exception's text.
        """
        if self.final_status == "FAILED":
            return "FAILED", {"error": self.error_message}
        script = self.output
        try:
            result = script(inputs) if callable(script) else script
            return "SUCCEED", dict(result)
        except Exception as exc:  # a user script's failure fails the run
            return "FAILED", {"error": str(exc) or type(exc).__name__}
