"""Every public exception survives Celery's default JSON result backend (issue 23).

Celery stores a task's exception as its type, module and `args`, and rebuilds it on the
caller's side as `cls(*args)`; these tests go through Celery's own code for both halves
(`prepare_exception`, the JSON codec, `exception_to_python`), no broker needed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from celery import Celery

import flowinvoke as _errors

from .test_pickle import ERROR_CLASSES, RUN, _example


@pytest.fixture(scope="module")
def backend() -> Any:
    app = Celery("flowinvoke-tests", backend="cache+memory://", set_as_current=False)
    app.conf.result_serializer = "json"
    assert app.backend.serializer == "json"
    return app.backend


def _through_json(backend: Any, error: Exception) -> Exception:
    stored = backend.prepare_exception(error)
    wire = json.loads(backend.encode(stored))  # what a result store holds
    return backend.exception_to_python(wire)  # type: ignore[no-any-return]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_public_exception_keeps_its_type_message_and_run_id(
    backend: Any, cls: type[Exception]
) -> None:
    error = _example(cls)
    again = _through_json(backend, error)
    assert type(again) is cls
    assert str(again) == str(error)
    assert again.run_id == "run-42"  # type: ignore[attr-defined]
    for name in ("provider", "may_have_started", "status_code", "code", "request_id"):
        if hasattr(error, name):
            assert getattr(again, name) == getattr(error, name), name
    with pytest.raises(cls):
        raise again


def test_a_failed_run_and_a_wait_s_last_state_come_back_whole(backend: Any) -> None:
    failed = _through_json(backend, _errors.WorkflowFailedError(RUN))
    assert isinstance(failed, _errors.WorkflowFailedError)
    assert failed.run == RUN
    timeout = _through_json(
        backend, _errors.WaitTimeoutError("late", run_id="run-42", last_run=RUN)
    )
    assert isinstance(timeout, _errors.WaitTimeoutError)
    assert timeout.last_run == RUN
    limited = _through_json(
        backend, _errors.RateLimitError("slow", provider="coze", status_code=429, retry_after=2)
    )
    assert isinstance(limited, _errors.RateLimitError)
    assert limited.retry_after == 2


def test_a_run_id_added_after_the_error_was_made_travels_too(backend: Any) -> None:
    # A wait adds the run id to an error raised below it (`error.run_id = ...`).
    error = _errors.ServerError("failed", provider="gptbots", status_code=502)
    error.run_id = "run-7"
    again = _through_json(backend, error)
    assert isinstance(again, _errors.ServerError)
    assert again.run_id == "run-7"
    failed = _errors.WorkflowFailedError(RUN)
    failed.run_id = "run-8"
    assert _through_json(backend, failed).run_id == "run-8"  # type: ignore[attr-defined]


def test_what_json_cannot_hold_falls_back_to_its_default(backend: Any) -> None:
    error = _errors.APIStatusError(
        "refused", provider="dify", status_code=500, body={"a": 1}, headers={"x": "y"}
    )
    again = _through_json(backend, error)
    assert isinstance(again, _errors.APIStatusError)
    # The body and headers stay out of the result store (they can be large); pickle keeps them.
    assert (again.body, dict(again.headers)) == (None, {})


def test_a_plain_call_still_builds_an_error_with_a_second_argument_of_its_own() -> None:
    # Only a mapping carrying the mark is read as attributes.
    with pytest.raises(TypeError):
        _errors.FlowInvokeError("message", {"run_id": "r"})  # type: ignore[call-arg]
