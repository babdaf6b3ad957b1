"""Typed outputs: `output_type=` on the client's calls, and `run.output_as(...)` (issue 23).

A succeeded run's output is validated into the type asked for; a mismatch raises
`OutputValidationError` carrying the run and the raw output, never losing the result; a
type pydantic cannot take fails before anything is sent.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from flowinvoke import (
    AsyncClient,
    ConfigurationError,
    OutputValidationError,
    PollPolicy,
    RunStatus,
    WorkflowFailedError,
    WorkflowRun,
)
from flowinvoke.testing import Emulator, Workflow

QUICK = PollPolicy(initial_delay=0.001, multiplier=1.0, max_interval=0.001, jitter=0)


class Answer(BaseModel):
    answer: str
    score: int


@dataclasses.dataclass
class AnswerData:
    answer: str
    score: int


class AnswerDict(TypedDict):
    answer: str
    score: int


def _output(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("fail"):
        raise ValueError("the workflow broke")
    return {"answer": str(inputs.get("q", "")), "score": inputs.get("score", 3)}


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(
        [
            Workflow(id="wf", api_key="key-wf", output=_output, polls=1),
            Workflow(id="coze-wf", api_key="pat", provider="coze", output=_output, polls=1),
        ]
    )


def client(emulator: Emulator, workflow: str = "wf") -> AsyncClient:
    return emulator.async_client(workflow, poll=QUICK)


@pytest.mark.anyio
@pytest.mark.parametrize("workflow", ["wf", "coze-wf"])
async def test_run_validates_into_a_model_a_dataclass_a_typeddict_and_a_generic(
    emulator: Emulator, workflow: str
) -> None:
    async with client(emulator, workflow) as flow:
        run = await flow.run({"q": "tea"}, output_type=Answer, timeout=30)
        assert run.output == Answer(answer="tea", score=3)
        assert isinstance(run, WorkflowRun)
        assert run.status is RunStatus.SUCCEEDED
        data = await flow.run({"q": "tea"}, output_type=AnswerData, timeout=30)
        assert data.output == AnswerData(answer="tea", score=3)
        typed = await flow.run({"q": "tea"}, output_type=AnswerDict, timeout=30)
        assert typed.output == {"answer": "tea", "score": 3}
        mapping = await flow.run({"q": "7"}, output_type=dict[str, str | int], timeout=30)
        assert mapping.output == {"answer": "7", "score": 3}


@pytest.mark.anyio
async def test_invoke_wait_and_get_run_validate_a_succeeded_run_only(emulator: Emulator) -> None:
    async with client(emulator) as flow:
        started = await flow.invoke({"q": "tea"}, async_mode=True, output_type=Answer)
        assert started.status is not RunStatus.SUCCEEDED
        assert started.output is None  # nothing to validate yet
        assert started.id is not None
        done = await flow.wait(started.id, output_type=Answer, timeout=30)
        assert done.output == Answer(answer="tea", score=3)
        again = await flow.get_run(started.id, output_type=AnswerData)
        assert again.output == AnswerData(answer="tea", score=3)
        failed = await flow.run({"fail": True}, output_type=Answer, raise_on_failure=False)
        assert failed.status is RunStatus.FAILED
        assert failed.output == {"error": "the workflow broke"}  # as the server sent it
        with pytest.raises(WorkflowFailedError):
            await flow.run({"fail": True}, output_type=Answer)


class NotAType:
    def __init__(self, anything: object) -> None: ...


@pytest.mark.anyio
async def test_wait_many_validates_each_run_it_waits_for(emulator: Emulator) -> None:
    async with client(emulator) as flow:
        good = await flow.invoke({"q": "tea"}, async_mode=True)
        bad = await flow.invoke({"q": "tea", "score": "many"}, async_mode=True)
        ids = [good.id, bad.id]
        assert None not in ids
        items = [item async for item in flow.wait_many(ids, output_type=Answer, timeout=30)]
        queries = emulator.counters.requests
        with pytest.raises(ConfigurationError):
            async for _ in flow.wait_many(ids, output_type=NotAType):
                pass
        assert emulator.counters.requests == queries  # refused before any query
    by_id = {item.input: item for item in items}
    assert by_id[good.id].run is not None
    assert by_id[good.id].run.output == Answer(answer="tea", score=3)
    mismatch = by_id[bad.id]
    assert isinstance(mismatch.error, OutputValidationError)
    assert mismatch.run_id == bad.id  # the result is kept, on the error
    assert emulator.counters.total_invokes == 2


@pytest.mark.anyio
async def test_a_mismatch_is_a_typed_error_that_keeps_the_run(emulator: Emulator) -> None:
    async with client(emulator) as flow:
        with pytest.raises(OutputValidationError) as caught:
            await flow.run({"q": "tea", "score": "many"}, output_type=Answer, timeout=30)
    error = caught.value
    assert error.run.status is RunStatus.SUCCEEDED
    assert error.run_id == error.run.id is not None
    assert error.output == {"answer": "tea", "score": "many"}
    assert error.output_type == "Answer"
    assert [problem["loc"] for problem in error.errors] == [("score",)]
    assert "score:" in str(error)
    assert emulator.counters.total_invokes == 1  # the run is not started again
    assert pickle.loads(pickle.dumps(error)).run == error.run


@pytest.mark.anyio
async def test_a_type_pydantic_cannot_take_fails_before_anything_is_sent(
    emulator: Emulator,
) -> None:
    async with client(emulator) as flow:
        with pytest.raises(ConfigurationError, match="output_type=NotAType"):
            await flow.run({"q": 1}, output_type=NotAType)
        with pytest.raises(ConfigurationError):
            await flow.run_many([{"q": 1}], output_type=NotAType)
    assert emulator.counters.requests == 0


@pytest.mark.anyio
async def test_run_many_keeps_the_run_of_an_item_whose_output_does_not_fit(
    emulator: Emulator,
) -> None:
    inputs = [{"q": "a"}, {"q": "b", "score": "x"}, {"q": "c"}]
    async with client(emulator) as flow:
        items = await flow.run_many(inputs, output_type=Answer, timeout=30)
        streamed = [item async for item in flow.as_completed(inputs, output_type=Answer)]
    assert [item.run.output for item in items if item.ok and item.run] == [
        Answer(answer="a", score=3),
        Answer(answer="c", score=3),
    ]
    bad = items[1]
    assert isinstance(bad.error, OutputValidationError)
    assert bad.run is not None
    assert bad.run.output == {"answer": "b", "score": "x"}
    assert sorted(item.ok for item in streamed) == [False, True, True]


def test_output_as_decodes_a_json_string_first_and_leaves_the_run_unchanged() -> None:
    run = WorkflowRun(
        id="7400000000000000009",
        status=RunStatus.SUCCEEDED,
        provider="coze",
        output=json.dumps({"answer": "tea", "score": 2}),
    )
    typed = run.output_as(Answer)
    assert typed.output == Answer(answer="tea", score=2)
    assert isinstance(run.output, str)
    assert run.output_as(str).output == run.output  # a string stays a string where wanted
    assert typed.model_dump(mode="json")["output"] == {"answer": "tea", "score": 2}
    assert pickle.loads(pickle.dumps(typed)) == typed
    with pytest.raises(OutputValidationError) as caught:
        run.output_as(list[int])
    assert caught.value.run is run
