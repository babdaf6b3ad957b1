"""The normalised result model: one `WorkflowRun` whatever the provider said."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from typing_extensions import Self, TypeVar

from .errors import FlowInvokeError
from .outputs import OutputAdapter, output_adapter
from .shared import lean_body, shared
from .text import has_control_character

__all__ = [
    "MAX_WEBHOOKS",
    "OutputT",
    "OutputValidationError",
    "RunStatus",
    "WaitTimeoutError",
    "Webhook",
    "WorkflowFailedError",
    "WorkflowRun",
    "typed_run",
]

OutputT = TypeVar("OutputT", default=Any)
"""The type of a run's output: Any, unless an `output_type` validated it."""
T = TypeVar("T")


class RunStatus(str, enum.Enum):
    """Where a run is in its life, in words common to every provider."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def done(self) -> bool:
        """True once the run is in a known terminal state.

        An UNKNOWN word is not terminal: a platform's new word (`PAUSED`, `QUEUED`, ...) is as
        likely to mean "still going" as "over", and ending a wait on it would throw away a
        run that may yet succeed. A wait goes on polling until a known terminal word or its
        deadline.
        """
        return self not in _NOT_DONE

    @classmethod
    def from_word(cls, word: str | None) -> RunStatus:
        """Map a provider's status word, case-insensitively; an unknown word gives UNKNOWN."""
        if word is None:
            return cls.UNKNOWN
        return _WORDS.get(word.strip().lower().replace("-", "_"), cls.UNKNOWN)


_NOT_DONE = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.UNKNOWN})

# Every spelling the providers' pages and servers use (see providers.md), and their obvious
# neighbours: docs disagree (`SUCCEED`, `SUCCED`, `SUCCESS`), so the table is generous.
_WORDS: dict[str, RunStatus] = {
    **dict.fromkeys(("pending", "queued", "queuing", "waiting", "created"), RunStatus.PENDING),
    **dict.fromkeys(("running", "in_progress", "processing", "started"), RunStatus.RUNNING),
    **dict.fromkeys(
        ("succeed", "succeeded", "succed", "success", "successful", "completed", "complete"),
        RunStatus.SUCCEEDED,
    ),
    **dict.fromkeys(("failed", "fail", "failure", "error", "errored"), RunStatus.FAILED),
    **dict.fromkeys(("cancelled", "canceled", "stopped", "aborted"), RunStatus.CANCELLED),
}

MAX_WEBHOOKS = 5


class Webhook(BaseModel):
    """A URL the provider calls when an asynchronous run ends (GPTBots/AltaBots only)."""

    # Header values are often the webhook's own secret: keep them out of error messages.
    model_config = ConfigDict(
        frozen=True, extra="forbid", defer_build=True, hide_input_in_errors=True
    )

    url: str
    method: Literal["POST", "GET", "PUT"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, repr=False)

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        # Checked with the standard library rather than pydantic's HttpUrl, whose module
        # costs ~20 ms of `import flowinvoke`, or httpx, which the vocabulary does not
        # import; the URL is sent as given.
        if has_control_character(value) or any(char.isspace() for char in value):
            raise ValueError("not a URL: it has white space or a control character in it")
        try:
            parsed = urlsplit(value)
            parsed.port  # noqa: B018 (a port that is not a number raises here)
        except ValueError as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("headers")
    @classmethod
    def _header_safe(cls, value: dict[str, str]) -> dict[str, str]:
        # The provider replays these headers verbatim: a control character would be
        # refused by the provider (after the run started) or split a header on its side.
        for name, text in value.items():
            if not name.strip() or has_control_character(name) or has_control_character(text):
                raise ValueError(f"header {name!r} has an empty name or a control character in it")
        return value

    def to_wire(self) -> dict[str, Any]:
        """The webhook as the provider's invoke body spells it."""
        body: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.headers:
            body["headers"] = dict(self.headers)
        return body


class WorkflowRun(BaseModel, Generic[OutputT]):
    """One workflow run as the provider last described it, in normalised form.

    Built by the provider modules from whatever the server sent; `raw` keeps the body as
    received, so fields this model does not know are never lost. `WorkflowRun[Answer]` is
    a run whose output was validated into `Answer` (`output_type=Answer` on the client's
    calls, or `run.output_as(Answer)`); plain `WorkflowRun` has an output of any type.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str | None = Field(description="The run id; None where the provider gives none.")
    status: RunStatus
    raw_status: str | None = Field(None, description="The status word as the server sent it.")
    provider: str
    input: dict[str, Any] | None = None
    output: OutputT = None  # type: ignore[assignment]  # None until the run has an output
    workflow_id: str | None = None
    workflow_name: str | None = None
    workflow_version: str | None = None
    duration: timedelta | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    total_cost: float | None = None
    total_tokens: int | None = None
    error: str | None = Field(None, description="The failure message, when the run failed.")
    raw: Any = Field(default=None, repr=False, description="The body as received.")

    @field_validator("started_at", "ended_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value

    @property
    def done(self) -> bool:
        """True once the run is in a known terminal state (not PENDING, RUNNING or UNKNOWN)."""
        return self.status.done

    @property
    def succeeded(self) -> bool:
        """True when the run finished successfully."""
        return self.status is RunStatus.SUCCEEDED

    def output_as(self, output_type: type[T]) -> WorkflowRun[T]:
        """This run with its output validated into `output_type`, for runs already in hand.

        `output_type` is a pydantic model, a dataclass, a TypedDict or any type pydantic's
        `TypeAdapter` accepts (`list[str]`, ...). An output that arrives as a JSON-encoded
        string (as Coze sends it) is decoded first. The run itself is unchanged.

        Raises:
            ConfigurationError: pydantic cannot validate into `output_type`.
            OutputValidationError: the output does not fit; it carries this run and the
                raw output.
        """
        return _validated(self, output_adapter(output_type))

    def raise_for_status(self) -> Self:
        """Raise `WorkflowFailedError` if the run ended without success; else return self.

        A run not yet done (PENDING, RUNNING, or an UNKNOWN word) is not an error: the call
        returns it unchanged.
        """
        if self.done and not self.succeeded:
            raise WorkflowFailedError(self)
        return self


# --- The errors that carry a run (here, beside the model, since `raise_for_status` raises one)


class WorkflowFailedError(FlowInvokeError):
    """A run finished without success; `run` holds everything the server said of it."""

    def __init__(self, run: WorkflowRun) -> None:
        detail = f": {run.error}" if run.error else ""
        word = run.raw_status or run.status.value
        super().__init__(f"workflow run ended with status {word}{detail}", run_id=run.id)
        self.run = run

    def _state(self) -> dict[str, Any]:
        return {"run": self.run.model_dump(mode="json"), "run_id": self.run_id}

    @classmethod
    def _from_state(cls, message: str, state: Mapping[str, Any]) -> FlowInvokeError:
        error = cls(WorkflowRun.model_validate(state["run"]))
        error.run_id = state.get("run_id", error.run_id)
        return error


class OutputValidationError(FlowInvokeError, ValueError):
    """A succeeded run's output does not fit the `output_type` the call asked for.

    The run is not lost: `run` is the run as received, `output` its raw output, so the
    result can be read (or validated into another type) by hand.

    Attributes:
        run: The run, its output as the server sent it.
        output: That raw output.
        output_type: The name of the type asked for.
        errors: pydantic's errors (`type`, `loc`, `msg`), without the input's values.
    """

    def __init__(
        self, run: WorkflowRun, *, output_type: str, errors: Sequence[Mapping[str, Any]]
    ) -> None:
        problems = "; ".join(_problem(error) for error in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(
            f"the run's output is not a valid {output_type}: {problems}{more}", run_id=run.id
        )
        self.run = run
        self.output = run.output
        self.output_type = output_type
        self.errors = [{**error, "loc": tuple(error.get("loc", ()))} for error in errors]

    def _state(self) -> dict[str, Any]:
        return {
            "run": self.run.model_dump(mode="json"),
            "run_id": self.run_id,
            "output_type": self.output_type,
            "errors": [{**error, "loc": list(error.get("loc", ()))} for error in self.errors],
        }

    @classmethod
    def _from_state(cls, message: str, state: Mapping[str, Any]) -> FlowInvokeError:
        run = WorkflowRun.model_validate(state["run"])
        error = cls(run, output_type=state["output_type"], errors=state["errors"])
        error.run_id = state.get("run_id", error.run_id)
        return error


def _problem(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "output"
    return f"{where}: {error.get('msg', 'invalid')}"


class WaitTimeoutError(FlowInvokeError, TimeoutError):
    """The wait deadline passed before the run finished.

    The run itself is not marked failed and may still finish: resume with its `run_id`.

    Attributes:
        last_run: The last state observed before the deadline, if any was.
    """

    def __init__(
        self, message: str, *, run_id: str | None, last_run: WorkflowRun | None = None
    ) -> None:
        super().__init__(message, run_id=run_id)
        self.last_run = last_run

    def _state(self) -> dict[str, Any]:
        last = None if self.last_run is None else self.last_run.model_dump(mode="json")
        return {"run_id": self.run_id, "last_run": last}

    @classmethod
    def _from_state(cls, message: str, state: Mapping[str, Any]) -> FlowInvokeError:
        last = state.get("last_run")
        return cls(
            message,
            run_id=state.get("run_id"),
            last_run=None if last is None else WorkflowRun.model_validate(last),
        )


# A run read off the wire has every field determined, so all count as set: one shared set
# rather than a 728-byte set per run (a batch holds thousands of runs). `WorkflowRun` is
# frozen, so nothing adds to it, and `model_copy` gives a copy a set of its own.
_ALL_FIELDS: set[str] = set(WorkflowRun.model_fields)


def typed_run(run: WorkflowRun, adapter: OutputAdapter[T] | None) -> WorkflowRun[T]:
    """`run` validated by `adapter` when there is one and the run succeeded; else as it is.

    A run that has not succeeded (pending, running, failed) has no output to promise: it
    keeps what the server sent.

    Raises:
        OutputValidationError: the output does not fit; it carries `run` as it was.
    """
    if adapter is None or not run.succeeded:
        return cast("WorkflowRun[T]", run)
    return _validated(run, adapter)


def _validated(run: WorkflowRun, adapter: OutputAdapter[T]) -> WorkflowRun[T]:
    try:
        output = adapter.validate(run.output)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        raise OutputValidationError(run, output_type=adapter.name, errors=problems) from None
    return cast("WorkflowRun[T]", run.model_copy(update={"output": output}))


def wire_run(*, lean: bool = False, **values: Any) -> WorkflowRun:
    """A run from values a provider module has already checked (no validation).

    A run still going on, and any start's answer (`lean`), is what waits and their callers
    hold while the run goes on (100,000 of them at once, for some): the words and names
    runs repeat (status word, workflow id, name and version) and the raw body's keys are
    shared between runs (`shared`): under half the body's bytes. A finished run's answer is
    left as decoded: the hot path's query of a finished run pays nothing for it.
    """
    if lean or not values["status"].done:
        for name in _REPEATED:
            value = values.get(name)
            if type(value) is str:
                values[name] = shared(value)
        raw = values.get("raw")
        if type(raw) is dict:
            values["raw"] = lean_body(raw)
    return WorkflowRun.model_construct(_ALL_FIELDS, **values)


_REPEATED = ("raw_status", "workflow_id", "workflow_name", "workflow_version")
