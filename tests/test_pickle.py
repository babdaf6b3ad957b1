"""Every public exception survives pickle and copy (issue 10): Celery, multiprocessing and
concurrent.futures hand exceptions across processes, and callers need their class and
attributes (run id above all) on the other side."""

from __future__ import annotations

import copy
import logging
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import flowinvoke
from flowinvoke._core.models import RunStatus, WorkflowRun

RUN = WorkflowRun(
    id="run-42",
    status=RunStatus.FAILED,
    raw_status="FAILED",
    provider="gptbots",
    input={"topic": "News"},
    output={"x": [1, 2]},
    workflow_id="wf-1",
    duration=timedelta(milliseconds=1500),
    started_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    total_cost=0.5,
    total_tokens=12,
    error="boom",
    raw={"workflowRunId": "run-42", "status": "FAILED"},
)
STATUS_FIELDS: dict[str, Any] = {
    "provider": "gptbots",
    "status_code": 429,
    "code": 40127,
    "request_id": "req-9",
    "body": {"code": 40127, "message": "nope"},
    "headers": {"retry-after": "3"},
    "run_id": "run-42",
    "may_have_started": True,
}


def _example(cls: type[Exception]) -> Exception:
    """One instance of `cls` with every attribute set to something other than its default."""
    if issubclass(cls, flowinvoke.WorkflowFailedError):
        return cls(RUN)
    if issubclass(cls, flowinvoke.OutputValidationError):
        problems = [{"type": "missing", "loc": ("answer",), "msg": "Field required"}]
        return cls(RUN, output_type="Answer", errors=problems)
    if issubclass(cls, flowinvoke.WaitTimeoutError):
        return cls("timed out", run_id="run-42", last_run=RUN)
    if issubclass(cls, flowinvoke.RateLimitError):
        return cls("slow down", retry_after=3.0, **STATUS_FIELDS)
    if issubclass(cls, flowinvoke.APIStatusError):
        return cls("refused", **STATUS_FIELDS)
    if issubclass(cls, flowinvoke.ResponseValidationError):
        return cls(
            "unreadable",
            provider="gptbots",
            body="<html>",
            status_code=200,
            run_id="run-42",
            may_have_started=True,
        )
    if issubclass(cls, flowinvoke.APIError):
        return cls("failed", provider="gptbots", run_id="run-42", may_have_started=True)
    if issubclass(cls, flowinvoke.UnsupportedOperationError):
        return cls("no query", provider="aitutor", run_id="run-42")
    return cls("bad setting", run_id="run-42")  # type: ignore[call-arg]


ERROR_CLASSES = [
    value
    for value in (getattr(flowinvoke, name) for name in flowinvoke.__all__)
    if isinstance(value, type) and issubclass(value, flowinvoke.FlowInvokeError)
]


def test_every_public_exception_is_exported_and_covered() -> None:
    assert len(ERROR_CLASSES) >= 17
    for cls in ERROR_CLASSES:
        assert issubclass(cls, flowinvoke.FlowInvokeError)
        assert getattr(flowinvoke, cls.__name__) is cls


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize(
    "roundtrip",
    [
        lambda error: pickle.loads(pickle.dumps(error)),
        lambda error: pickle.loads(pickle.dumps(error, protocol=2)),
        copy.copy,
        copy.deepcopy,
    ],
    ids=["pickle", "pickle-2", "copy", "deepcopy"],
)
def test_every_public_exception_round_trips(cls: type[Exception], roundtrip: Any) -> None:
    error = _example(cls)
    again = roundtrip(error)
    assert type(again) is cls
    assert str(again) == str(error)
    assert again.args == error.args
    assert vars(again) == vars(error)
    for name in (
        "message",
        "run_id",
        "may_have_started",
        "status_code",
        "code",
        "provider",
        "body",
        "headers",
        "retry_after",
        "request_id",
        "last_run",
        "run",
        "output",
        "output_type",
        "errors",
    ):
        if hasattr(error, name):
            assert getattr(again, name) == getattr(error, name), name
    assert again.run_id == "run-42"  # type: ignore[attr-defined]
    with pytest.raises(cls):
        raise again


def test_a_workflow_run_round_trips_through_pickle() -> None:
    again = pickle.loads(pickle.dumps(RUN))
    assert again == RUN
    assert again.status is RunStatus.FAILED
    built = WorkflowRun.model_construct(id="r", status=RunStatus.PENDING, provider="gptbots")
    assert pickle.loads(pickle.dumps(built)) == built


def test_the_flowinvoke_logger_has_a_null_handler() -> None:
    logger = logging.getLogger("flowinvoke")
    assert any(isinstance(handler, logging.NullHandler) for handler in logger.handlers)
