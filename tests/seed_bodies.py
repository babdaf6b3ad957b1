"""Example bodies from the providers' pages (shared/seeds) and providers.md."""

from __future__ import annotations

from typing import Any

GPTBOTS_SYNC_ANSWER: dict[str, Any] = {
    "workflowRunId": "xxxx-5b15-4cbf-999c-1b218934xxxx",
    "input": {"input": "What should I do after a breakup?"},
    "output": {"output": "Breakups are a normal part of life. ..."},
    "workflowExecutionTime": 24277,
    "status": "SUCCEED",
    "totalCost": 1.3754,
    "totalTokens": 3464,
    "startTime": 1741768313025,
    "endTime": 1741768337310,
}

GPTBOTS_QUERY_ANSWER: dict[str, Any] = {
    "workflowId": "wf-news",
    "workflowName": "todayNews",
    "workflowVersion": "1.0.1",
    "workflowRunId": "run-42",
    "input": {"topic": "News"},
    "output": {"news": [{"summary": "...", "media": "KHON2", "title": "KHON2"}]},
    "workflowExecutionTime": 8347,
    "status": "SUCCEED",
    "totalCost": 0.6928,
    "totalTokens": 1745,
    "startTime": 1758765323024,
    "endTime": 1758765331373,
}

GPTBOTS_ASYNC_ANSWER: dict[str, Any] = {
    "workflowId": "wf-news",
    "workflowName": "todayNews",
    "workflowVersion": "9",
    "workflowRunId": "run-42",
    "status": "PENDING",
}

AITUTOR_SEED_ANSWER: dict[str, Any] = {
    "success": True,
    "run_id": "run_abc123xyz",
    "status": "completed",
    "output": {"generated_story": "Once upon a time, there was a friendly dog named Charlie..."},
}

AITUTOR_LIVE_ANSWER: dict[str, Any] = {
    "success": True,
    "result": '{"generated_story": "Once upon a time..."}',
    "citations": [],
}


def gptbots_state(status: str, run_id: str = "run-42", **extra: Any) -> dict[str, Any]:
    """A query answer for a run in `status`."""
    return {**GPTBOTS_ASYNC_ANSWER, "workflowRunId": run_id, "status": status, **extra}
