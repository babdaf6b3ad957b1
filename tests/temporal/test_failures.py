"""flowinvoke's errors as Temporal failures and back (pure: no server): the failure's type
names the error, only a failure after which no run can have started is retryable, and the
caller gets the flowinvoke error again, run id included."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

from flowinvoke import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    FlowInvokeError,
    RateLimitError,
    RunStatus,
    WaitTimeoutError,
    WorkflowFailedError,
    WorkflowRun,
)
from flowinvoke.temporal._failures import (
    MAY_HAVE_STARTED,
    application_error,
    error_from_failure,
    may_have_started,
)

RUN = WorkflowRun(id="run-7", status=RunStatus.FAILED, provider="gptbots", error="broke")


def _activity_failure(cause: BaseException) -> ActivityError:
    failure = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="worker",
        activity_type="start",
        activity_id="1",
        retry_state=None,
    )
    failure.__cause__ = cause
    return failure


def _status_error(kind: type[APIError], **fields: object) -> APIError:
    return kind("refused", provider="gptbots", status_code=401, body={}, run_id="run-7", **fields)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (APIError("cut", provider="gptbots", may_have_started=True), MAY_HAVE_STARTED, False),
        (_status_error(RateLimitError), "RateLimitError", True),
        (_status_error(AuthenticationError), "AuthenticationError", False),
        (WorkflowFailedError(RUN), "WorkflowFailedError", False),
        (ValueError("not JSON"), "ValueError", False),
    ],
)
def test_a_flowinvoke_error_becomes_a_typed_failure_retryable_only_when_safe(
    error: Exception, kind: str, retryable: bool
) -> None:
    failure = application_error(error)
    assert failure.type == kind
    assert failure.non_retryable is not retryable


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (WorkflowFailedError(RUN), WorkflowFailedError),
        (WaitTimeoutError("late", run_id="run-7", last_run=RUN), WaitTimeoutError),
        (APIError("cut", provider="gptbots", run_id="run-7", may_have_started=True), APIError),
        (_status_error(RateLimitError), APIError),
        (ConfigurationError("bad key", run_id="run-7"), ConfigurationError),
        (KeyError("what"), FlowInvokeError),
    ],
)
def test_the_caller_gets_the_flowinvoke_error_back_with_its_run_id(
    error: Exception, expected: type[FlowInvokeError]
) -> None:
    failure = application_error(error)
    if isinstance(error, WaitTimeoutError):  # raised by the workflow itself, with the run
        failure = ApplicationError(
            "late", {"run_id": "run-7", "run": RUN.model_dump(mode="json")}, type="WaitTimeoutError"
        )
    back = error_from_failure(_activity_failure(failure))
    assert isinstance(back, expected)
    if not isinstance(error, KeyError):
        assert back.run_id == "run-7"
    if isinstance(error, APIError) and error.may_have_started:
        assert isinstance(back, APIError) and back.may_have_started
    if isinstance(back, WorkflowFailedError | WaitTimeoutError):
        run = back.run if isinstance(back, WorkflowFailedError) else back.last_run
        assert run is not None and run.id == "run-7" and run.error == "broke"


def test_a_failure_that_is_no_flowinvoke_failure_maps_to_nothing() -> None:
    assert error_from_failure(RuntimeError("elsewhere")) is None


def test_a_start_may_have_started_unless_it_said_so_or_never_reached_a_worker() -> None:
    assert may_have_started(
        _activity_failure(
            application_error(APIError("cut", provider="gptbots", may_have_started=True))
        )
    )
    assert not may_have_started(_activity_failure(application_error(_status_error(RateLimitError))))
    never_taken = TimeoutError(
        "late", type=TimeoutType.SCHEDULE_TO_START, last_heartbeat_details=[]
    )
    assert not may_have_started(_activity_failure(never_taken))
    mid_request = TimeoutError("late", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    assert may_have_started(_activity_failure(mid_request))
    assert may_have_started(_activity_failure(RuntimeError("worker lost")))
