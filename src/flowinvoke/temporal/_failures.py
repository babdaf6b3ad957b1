"""flowinvoke's errors as Temporal failures, and back.

An activity or workflow raises `ApplicationError` whose `type` is the flowinvoke error class
name and whose details carry the run id (and the run, when one is known), so the failure is
typed in the Temporal UI, in any SDK, and again on the caller's side (`error_from_failure`).
Only a failure after which no run can have started is retryable.
"""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

from .._core import errors
from .._core.models import WaitTimeoutError, WorkflowFailedError, WorkflowRun

__all__ = ["MAY_HAVE_STARTED", "application_error", "error_from_failure", "may_have_started"]

MAY_HAVE_STARTED = "RunMayHaveStarted"
"""The failure type of a start whose effect is unknown: never retried, carries any known id."""

#: Failures that every retry would meet too: the start is not retried.
_FINAL = (
    errors.AuthenticationError,
    errors.PermissionDeniedError,
    errors.InsufficientCreditsError,
    errors.BadRequestError,
    errors.NotFoundError,
    errors.ResponseValidationError,
)


def application_error(error: Exception) -> ApplicationError:
    """The Temporal failure for a flowinvoke error (or an input error) raised in an activity."""
    run_id = getattr(error, "run_id", None)
    if isinstance(error, errors.APIError) and error.may_have_started:
        kind, retryable = MAY_HAVE_STARTED, False
    elif isinstance(error, errors.APIError):
        kind, retryable = type(error).__name__, not isinstance(error, _FINAL)
    elif isinstance(error, WorkflowFailedError):
        kind, retryable = "WorkflowFailedError", False
    else:  # bad input, configuration, unsupported operation: a retry cannot help
        kind, retryable = type(error).__name__, False
    provider = getattr(error, "provider", None)
    run = getattr(error, "run", None)
    details: dict[str, Any] = {"run_id": run_id, "provider": provider}
    if isinstance(run, WorkflowRun):
        details["run"] = run.model_dump(mode="json", exclude={"raw"})
    message = getattr(error, "message", None) or str(error)
    return ApplicationError(message, details, type=kind, non_retryable=not retryable)


def may_have_started(failure: ActivityError) -> bool:
    """Whether a failed start activity may have started a run.

    Its own verdict when it raised one; a timeout after a worker took the task (the worker
    died mid-request, say) is ambiguous; a task that never reached a worker is not.
    """
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        return cause.type == MAY_HAVE_STARTED
    if isinstance(cause, TimeoutError):
        return cause.type is not TimeoutType.SCHEDULE_TO_START
    return True


def error_from_failure(failure: BaseException) -> errors.FlowInvokeError | None:
    """The flowinvoke error a run workflow's failure stands for, or None if it is not one.

    Pass the `WorkflowFailureError` from `handle.result()` (or its cause). A
    `RunMayHaveStarted` failure becomes an `APIError` with `may_have_started=True`.
    """
    cause: BaseException | None = failure
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__ if cause.__cause__ is not None else getattr(cause, "cause", None)
    if cause is None:
        return None
    details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    run_id, provider = details.get("run_id"), details.get("provider") or "unknown"
    run = WorkflowRun.model_validate(details["run"]) if details.get("run") else None
    message = cause.message
    if cause.type == "WorkflowFailedError" and run is not None:
        return WorkflowFailedError(run)
    if cause.type == "WaitTimeoutError":
        return WaitTimeoutError(message, run_id=run_id, last_run=run)
    if cause.type == MAY_HAVE_STARTED:
        return errors.APIError(message, provider=provider, run_id=run_id, may_have_started=True)
    kind = getattr(errors, cause.type or "", None)
    if isinstance(kind, type) and issubclass(kind, errors.APIError):
        return errors.APIError(message, provider=provider, run_id=run_id)
    if cause.type in ("ConfigurationError", "TypeError", "ValueError"):
        return errors.ConfigurationError(message, run_id=run_id)
    return errors.FlowInvokeError(message, run_id=run_id)
