"""Histories written by earlier releases replay under today's workflow code.

A workflow waiting across a worker upgrade is replayed by the new code from its history;
any change to what the workflows decide must keep these histories replaying (new
behaviour behind `workflow.patched`). The histories were recorded by
`histories/record.py` at the commit in their names; add a new set when a release changes
the workflows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from flowinvoke.temporal import BatchWorkflow, RunWorkflow
from flowinvoke.temporal._worker import workflow_runner

HISTORIES = [
    pytest.param(json.loads(path.read_text()), id=path.stem)
    for path in sorted((Path(__file__).parent / "histories").glob("*.json"))
]


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 14  # main-4fe9843 (before local looks) and local-looks


@pytest.mark.asyncio
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "not-sandboxed"])
@pytest.mark.parametrize("recorded", HISTORIES)
async def test_a_recorded_history_replays_under_todays_code(
    recorded: dict[str, Any], sandboxed: bool
) -> None:
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(
        workflows=[RunWorkflow, BatchWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(sandboxed=sandboxed),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
