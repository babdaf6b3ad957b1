"""Hostile answers stay inside the exception tree (issue 10): whatever a server sends ends
as a run or a `FlowInvokeError`, never a bare OverflowError, ValueError or RecursionError."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from flowinvoke import (
    FlowInvokeError,
    ResponseValidationError,
    RetryPolicy,
    WaitTimeoutError,
    WorkflowRun,
)

from ..seed_bodies import GPTBOTS_ASYNC_ANSWER, GPTBOTS_QUERY_ANSWER
from .conftest import PatchedClientClock
from .support import INVOKE_URL, KEY, QUERY_URL, make_client

NO_RETRY = RetryPolicy(max_retries=0)
HUGE = "9" * 400  # a JSON integer no float holds
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError
FAIRLY_DEEP = '{"a":' * 900 + "1" + "}" * 900  # decodes, but recursing readers break on it


def _answer(**fields: str) -> str:
    """The query seed answer as JSON text with some fields replaced by raw JSON tokens."""
    body = dict(GPTBOTS_QUERY_ANSWER)
    for name in fields:
        body[name] = f"@{name}@"
    text = json.dumps(body)
    for name, token in fields.items():
        text = text.replace(f'"@{name}@"', token)
    return text


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fields",
    [
        {"totalTokens": HUGE},
        {"totalCost": HUGE},
        {"workflowExecutionTime": HUGE},
        {"startTime": HUGE, "endTime": HUGE},
        {"workflowExecutionTime": "NaN", "startTime": "NaN", "endTime": "Infinity"},
        {"workflowExecutionTime": "Infinity", "totalCost": "-Infinity", "totalTokens": "NaN"},
        {"workflowExecutionTime": "1e400", "startTime": "-1e400"},
        {"workflowExecutionTime": '"NaN"', "startTime": '"1e999"', "totalTokens": '"inf"'},
        {"workflowVersion": HUGE, "workflowName": "NaN"},
    ],
)
async def test_absurd_numbers_in_a_query_answer_are_read_as_unknown(
    fields: dict[str, str],
) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(
            200, content=_answer(**fields).encode(), headers={"content-type": "application/json"}
        )
        async with make_client() as client:
            run = await client.get_run("run-42")
    assert run.succeeded
    assert run.id == "run-42"
    for name in fields:
        attribute = {
            "totalTokens": "total_tokens",
            "totalCost": "total_cost",
            "workflowExecutionTime": "duration",
            "startTime": "started_at",
            "endTime": "ended_at",
            "workflowVersion": "workflow_version",
            "workflowName": "workflow_name",
        }[name]
        assert getattr(run, attribute) is None


@pytest.mark.anyio
@pytest.mark.parametrize("text", [DEEP, FAIRLY_DEEP, "[" * 300 + "]" * 300, "1" * 5000])
async def test_an_unreadable_query_answer_is_a_response_validation_error(
    text: str, clock: PatchedClientClock
) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(
            200, content=text.encode(), headers={"content-type": "application/json"}
        )
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.get_run("run-42")
            # A wait treats an unreadable answer as transient: it polls on, then times out.
            with pytest.raises(FlowInvokeError) as waited:
                await client.run({"topic": "News"}, timeout=30)
    assert info.value.run_id == "run-42"
    assert not info.value.may_have_started
    assert waited.value.run_id == "run-42"


@pytest.mark.anyio
async def test_a_number_past_python_s_int_limit_is_named_as_such() -> None:
    body = _answer(totalTokens="1" * 5000)  # valid JSON that Python refuses to read
    with respx.mock:
        respx.post(QUERY_URL).respond(200, content=body.encode())
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.get_run("run-42")
    message = str(info.value)
    assert "an integer longer than Python reads" in message
    assert "not JSON" not in message
    with respx.mock:
        respx.post(QUERY_URL).respond(200, content=b"{not json")
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(ResponseValidationError, match="the body is not JSON"):
                await client.get_run("run-42")


@pytest.mark.anyio
async def test_a_deeply_nested_error_body_is_an_api_error() -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(500, content=DEEP.encode())
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(FlowInvokeError) as info:
                await client.get_run("run-42")
    assert info.value.run_id == "run-42"


@pytest.mark.anyio
async def test_a_deeply_nested_start_answer_is_a_response_validation_error() -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, content=FAIRLY_DEEP.encode())
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.invoke({"topic": "News"})
    assert info.value.may_have_started


@pytest.mark.anyio
async def test_aitutor_result_text_nested_past_the_stack_stays_text() -> None:
    result = "[" * 100_000 + "]" * 100_000
    with respx.mock:
        respx.post("https://aitutor-api.vercel.app/api/v1/run/wf_1").respond(
            200, json={"success": True, "result": result}
        )
        async with make_client(provider="aitutor", workflow_id="wf_1") as client:
            run = await client.invoke({"story": "x"})
    assert run.output == result


@pytest.mark.anyio
async def test_a_query_answer_naming_another_run_is_refused(clock: PatchedClientClock) -> None:
    other = {**GPTBOTS_QUERY_ANSWER, "workflowRunId": "run-OTHER"}
    seen: list[WorkflowRun] = []
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(200, json=other)
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(ResponseValidationError) as direct:
                await client.get_run("run-42")
            with pytest.raises(WaitTimeoutError) as waited:
                await client.run({"topic": "News"}, timeout=30, on_update=seen.append)
    assert direct.value.run_id == "run-42"
    assert "run-OTHER" in str(direct.value)
    assert waited.value.run_id == "run-42"
    assert waited.value.last_run is not None and waited.value.last_run.id == "run-42"
    assert [state.id for state in seen] == ["run-42"]


@pytest.mark.anyio
async def test_a_query_answer_without_a_run_id_keeps_the_queried_one() -> None:
    body: dict[str, Any] = {k: v for k, v in GPTBOTS_QUERY_ANSWER.items() if k != "workflowRunId"}
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=body)
        async with make_client() as client:
            run = await client.get_run("run-42")
    assert run.id == "run-42"


@pytest.mark.anyio
async def test_a_provider_reader_that_crashes_becomes_a_response_validation_error() -> None:
    """A third-party provider's reader bug on an odd body is still a FlowInvokeError."""
    from flowinvoke.providers import GPTBotsProvider, RequestSpec

    class Fragile(GPTBotsProvider):
        def parse_run(self, body: Any, request: RequestSpec) -> WorkflowRun:
            return body["nope"]["deeper"]  # type: ignore[no-any-return]

    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        async with make_client(provider=Fragile()) as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.get_run("run-42")
    assert info.value.run_id == "run-42"
    assert "KeyError" in str(info.value)
    assert KEY not in repr(info.value.body)
