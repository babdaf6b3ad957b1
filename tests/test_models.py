from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pydantic
import pytest

from flowinvoke import RunStatus, Webhook, WorkflowFailedError, WorkflowRun


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("PENDING", RunStatus.PENDING),
        ("running", RunStatus.RUNNING),
        ("SUCCEED", RunStatus.SUCCEEDED),
        ("SUCCED", RunStatus.SUCCEEDED),
        ("SUCCESS", RunStatus.SUCCEEDED),
        ("Success", RunStatus.SUCCEEDED),
        ("completed", RunStatus.SUCCEEDED),
        ("succeeded", RunStatus.SUCCEEDED),
        ("FAILED", RunStatus.FAILED),
        ("Fail", RunStatus.FAILED),
        ("stopped", RunStatus.CANCELLED),
        ("canceled", RunStatus.CANCELLED),
        ("partial-succeeded", RunStatus.UNKNOWN),
        ("  Running ", RunStatus.RUNNING),
        ("", RunStatus.UNKNOWN),
        (None, RunStatus.UNKNOWN),
    ],
)
def test_status_words_map_case_insensitively(word: str | None, status: RunStatus) -> None:
    assert RunStatus.from_word(word) is status


def test_pending_running_and_unknown_are_not_done() -> None:
    assert [s for s in RunStatus if not s.done] == [
        RunStatus.PENDING,
        RunStatus.RUNNING,
        RunStatus.UNKNOWN,
    ]


def _run(status: RunStatus, **fields: object) -> WorkflowRun:
    return WorkflowRun(id="r-1", status=status, provider="gptbots", **fields)  # type: ignore[arg-type]


def test_run_properties_and_raise_for_status() -> None:
    ok = _run(RunStatus.SUCCEEDED)
    assert ok.done and ok.succeeded
    assert ok.raise_for_status() is ok
    pending = _run(RunStatus.PENDING)
    assert not pending.done
    assert pending.raise_for_status() is pending
    failed = _run(RunStatus.FAILED, raw_status="FAILED", error="node 3 exploded")
    with pytest.raises(WorkflowFailedError) as info:
        failed.raise_for_status()
    assert info.value.run is failed
    assert info.value.run_id == "r-1"
    assert "node 3 exploded" in str(info.value)
    unknown = _run(RunStatus.UNKNOWN, raw_status="PAUSED")
    assert unknown.raise_for_status() is unknown  # not final: not a failure either


def test_run_is_immutable_and_timestamps_are_aware() -> None:
    run = _run(RunStatus.RUNNING, started_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(pydantic.ValidationError):
        run.status = RunStatus.FAILED  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="timezone-aware"):
        _run(RunStatus.RUNNING, started_at=datetime(2025, 1, 1))
    assert _run(RunStatus.RUNNING, duration=timedelta(seconds=2)).duration == timedelta(seconds=2)


def test_raw_body_is_kept_out_of_the_repr() -> None:
    run = _run(RunStatus.SUCCEEDED, raw={"secretish": "x" * 50})
    assert "secretish" not in repr(run)
    assert run.model_dump()["raw"] == {"secretish": "x" * 50}


def test_webhook_validates_and_renders_the_wire_shape() -> None:
    hook = Webhook(url="https://example.com/hook", headers={"X-Token": "t"})  # type: ignore[arg-type]
    assert hook.to_wire() == {
        "method": "POST",
        "url": "https://example.com/hook",
        "headers": {"X-Token": "t"},
    }
    assert Webhook(url="https://e.com/h", method="GET").to_wire() == {  # type: ignore[arg-type]
        "method": "GET",
        "url": "https://e.com/h",
    }
    with pytest.raises(pydantic.ValidationError):
        Webhook(url="not a url")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        Webhook(url="https://e.com", method="DELETE")  # type: ignore[arg-type]
