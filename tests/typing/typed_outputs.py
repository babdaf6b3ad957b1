"""Checked by mypy in tests/test_typing.py (not run): what `output_type=` gives the checker."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

from flowinvoke import AsyncClient, BatchItem, Client, WorkflowRun


class Answer(BaseModel):
    text: str


async def asynchronous(client: AsyncClient) -> None:
    run = await client.run({"q": 1}, output_type=Answer)
    assert_type(run, WorkflowRun[Answer])
    assert_type(run.output, Answer)
    plain = await client.run({"q": 1})
    assert_type(plain.output, Any)
    unparametrised: WorkflowRun = run
    assert_type(unparametrised.output, Any)
    assert_type((await client.invoke({}, output_type=Answer)).output, Answer)
    assert_type((await client.wait("r", output_type=list[int])).output, list[int])
    assert_type((await client.get_run("r", output_type=Answer)).output, Answer)
    items = await client.run_many([{}], output_type=Answer)
    assert_type(items, list[BatchItem[Answer]])
    async for item in client.as_completed([{}], output_type=Answer):
        assert_type(item, BatchItem[Answer])
    assert_type(plain.output_as(Answer).output, Answer)


def blocking(client: Client) -> None:
    assert_type(client.run({}, output_type=Answer).output, Answer)
    assert_type(client.run_many([{}], output_type=dict[str, int]), list[BatchItem[dict[str, int]]])


def mistaken(client: Client) -> int:
    return client.run({}, output_type=Answer).output  # the one error mypy must report
