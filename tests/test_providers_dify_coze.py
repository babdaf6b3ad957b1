"""The Dify and Coze translators on the spec's literal examples (no I/O)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import flowinvoke
from flowinvoke import (
    APIStatusError,
    ConfigurationError,
    NotFoundError,
    RunStatus,
    UnsupportedOperationError,
)
from flowinvoke._core.secret import Redactor
from flowinvoke._transport.replies import read_reply
from flowinvoke.providers import (
    ErrorKind,
    Operation,
    RequestSpec,
    ServerSentEvent,
    StreamError,
    get_provider,
)
from flowinvoke.providers._sse import SSEDecoder

from .dify_coze_bodies import (
    COZE_ASYNC_START,
    COZE_CODES,
    COZE_HISTORY_RUNNING,
    COZE_HISTORY_SUCCESS,
    COZE_SYNC_SUCCESS,
    DIFY_BLOCKING_SUCCESS,
    DIFY_CODES,
    DIFY_ERROR_EVENT,
    DIFY_INVALID_PARAM,
    DIFY_PING,
)

DIFY = get_provider("dify")
COZE = get_provider("coze")
STUDIO = get_provider("coze-studio")
WORKFLOW = "7428720442700000000"


def dify_start(*, stream: bool = False) -> RequestSpec:
    return DIFY.build_invoke(
        {"q": "hi"}, user_id=None, workflow_id=None, async_mode=stream, webhooks=()
    )


def coze_start(*, is_async: bool = False) -> RequestSpec:
    return COZE.build_invoke(
        {"q": "hi"}, user_id="u-1", workflow_id=WORKFLOW, async_mode=is_async, webhooks=()
    )


def answer(provider: Any, spec: RequestSpec, status: int, body: Any) -> Any:
    """The run `read_reply` makes of an answer, or the error it raises."""
    response = httpx.Response(status, json=body)
    return read_reply(provider, spec, response, Redactor("sk-secret-key")).run


# -- Dify ---------------------------------------------------------------------------------


def test_dify_start_bodies() -> None:
    blocking = dify_start()
    assert (blocking.method, blocking.path, blocking.stream) == ("POST", "/workflows/run", False)
    assert blocking.json == {
        "inputs": {"q": "hi"},
        "response_mode": "blocking",
        "user": "flowinvoke",
    }
    streaming = dify_start(stream=True)
    assert streaming.stream and streaming.json["response_mode"] == "streaming"
    versioned = DIFY.build_invoke(
        {}, user_id="me", workflow_id="7c3e33d4", async_mode=False, webhooks=()
    )
    assert versioned.path == "/workflows/7c3e33d4/run"
    assert versioned.json["user"] == "me"


def test_dify_query_is_a_get_without_body() -> None:
    spec = DIFY.build_query("fb47b2e6-1")
    assert (spec.method, spec.path, spec.content) == ("GET", "/workflows/run/fb47b2e6-1", None)


def test_dify_blocking_success_example() -> None:
    run = answer(DIFY, dify_start(), 200, DIFY_BLOCKING_SUCCESS)
    assert run.id == "fb47b2e6-…"
    assert run.status is RunStatus.SUCCEEDED and run.raw_status == "succeeded"
    assert run.output == {"result": "Bonjour le monde"}
    assert run.workflow_id == "7c3e33d4-…"
    assert run.duration == timedelta(seconds=1.23)  # seconds, not milliseconds
    assert run.started_at == datetime(2024, 1, 16, 12, 20, 29, tzinfo=timezone.utc)
    assert run.ended_at == datetime(2024, 1, 16, 12, 20, 30, tzinfo=timezone.utc)
    assert run.total_tokens == 150
    assert run.input == {"q": "hi"}


@pytest.mark.parametrize(
    ("word", "status", "done"),
    [
        ("running", RunStatus.RUNNING, False),
        ("paused", RunStatus.RUNNING, False),
        ("succeeded", RunStatus.SUCCEEDED, True),
        ("partial-succeeded", RunStatus.SUCCEEDED, True),
        ("failed", RunStatus.FAILED, True),
        ("stopped", RunStatus.CANCELLED, True),
    ],
)
def test_dify_statuses(word: str, status: RunStatus, done: bool) -> None:
    body = {**DIFY_BLOCKING_SUCCESS["data"], "status": word, "error": "node llm failed"}
    run = answer(DIFY, DIFY.build_query("fb47b2e6-…"), 200, body)
    assert (run.status, run.raw_status, run.done) == (status, word, done)
    assert run.error == (
        "node llm failed" if status in (RunStatus.FAILED, RunStatus.CANCELLED) else None
    )


def test_dify_failed_blocking_run_keeps_difys_error_text() -> None:
    body = json.loads(json.dumps(DIFY_BLOCKING_SUCCESS))
    body["data"].update(status="failed", error="Node LLM run failed: quota", outputs=None)
    run = answer(DIFY, dify_start(), 200, body)
    assert run.status is RunStatus.FAILED and run.error == "Node LLM run failed: quota"
    with pytest.raises(flowinvoke.WorkflowFailedError, match="quota"):
        run.raise_for_status()


def test_dify_query_reads_inputs_given_as_json_text() -> None:
    body = {**DIFY_BLOCKING_SUCCESS["data"], "inputs": '{"q": "hi"}'}
    assert answer(DIFY, DIFY.build_query("fb47b2e6-…"), 200, body).input == {"q": "hi"}


def test_dify_old_server_rfc822_times() -> None:
    body = {
        **DIFY_BLOCKING_SUCCESS["data"],
        "created_at": "Tue, 16 Jan 2024 12:20:29 GMT",
        "finished_at": "Tue, 16 Jan 2024 12:20:30 -0000",
    }
    run = answer(DIFY, DIFY.build_query("fb47b2e6-…"), 200, body)
    assert run.started_at == datetime(2024, 1, 16, 12, 20, 29, tzinfo=timezone.utc)
    assert run.ended_at == datetime(2024, 1, 16, 12, 20, 30, tzinfo=timezone.utc)


def test_dify_old_server_all_null_answer_is_not_found() -> None:
    nulls = dict.fromkeys(("id", "workflow_id", "status", "inputs", "outputs", "created_at"))
    with pytest.raises(NotFoundError) as caught:
        answer(DIFY, DIFY.build_query("r-unknown"), 200, nulls)
    assert caught.value.run_id == "r-unknown"


@pytest.mark.parametrize(("status", "code", "error"), DIFY_CODES)
def test_dify_error_codes(status: int, code: str, error: str) -> None:
    body = {"code": code, "message": "text from Dify", "status": status}
    with pytest.raises(APIStatusError) as caught:
        answer(DIFY, dify_start(), status, body)
    assert type(caught.value).__name__ == error
    assert caught.value.code == code and "text from Dify" in str(caught.value)


def test_dify_error_envelope_inside_http_200_is_an_error() -> None:
    with pytest.raises(flowinvoke.BadRequestError):
        answer(DIFY, dify_start(), 200, DIFY_INVALID_PARAM)


def test_dify_proxy_timeout_page() -> None:
    spec = dify_start()
    response = httpx.Response(504, text="<html>504 Gateway Time-out</html>")
    with pytest.raises(flowinvoke.ServerError) as caught:
        read_reply(DIFY, spec, response, Redactor("k"))
    # A cut blocking call leaves its run going on the server (spec §1.6, gotcha 1).
    assert caught.value.may_have_started is True


def test_dify_stream_events() -> None:
    spec = dify_start(stream=True)
    started = ServerSentEvent(
        data=json.dumps(
            {
                "event": "workflow_started",
                "task_id": "t-1",
                "workflow_run_id": "fb47b2e6-…",
                "data": {"id": "fb47b2e6-…", "workflow_id": "w", "created_at": 1705407629},
            }
        )
    )
    run = DIFY.parse_stream_event(started, spec)
    assert isinstance(run, flowinvoke.WorkflowRun)
    assert (run.id, run.status, run.done) == ("fb47b2e6-…", RunStatus.RUNNING, False)
    finished = ServerSentEvent(
        data=json.dumps({"event": "workflow_finished", **DIFY_BLOCKING_SUCCESS})
    )
    final = DIFY.parse_stream_event(finished, spec)
    assert isinstance(final, flowinvoke.WorkflowRun)
    assert final.succeeded and final.output == {"result": "Bonjour le monde"}
    [ping] = SSEDecoder().feed(DIFY_PING.encode())
    assert DIFY.parse_stream_event(ping, spec) is None
    node = ServerSentEvent(data='{"event": "node_started", "workflow_run_id": "x", "data": {}}')
    assert DIFY.parse_stream_event(node, spec) is None


def test_dify_stream_error_event() -> None:
    [event] = SSEDecoder().feed(DIFY_ERROR_EVENT.encode())
    item = DIFY.parse_stream_event(event, dify_start(stream=True))
    assert isinstance(item, StreamError)
    assert (item.status_code, item.run_id) == (400, "fb47b2e6-…")
    early = ServerSentEvent(data='{"event":"error","workflow_run_id":null,"code":"unknown"}')
    item = DIFY.parse_stream_event(early, dify_start(stream=True))
    assert isinstance(item, StreamError) and item.run_id is None and item.status_code == 400


def test_dify_refuses_webhooks_and_regions() -> None:
    hook = flowinvoke.Webhook(url="https://example.com/hook")
    with pytest.raises(UnsupportedOperationError):
        DIFY.build_invoke({}, user_id=None, workflow_id=None, async_mode=False, webhooks=[hook])
    with pytest.raises(ConfigurationError):
        DIFY.base_url("eu")
    assert DIFY.base_url(None) == "https://api.dify.ai/v1"


# -- server-sent events -------------------------------------------------------------------


def test_sse_decoder_joins_split_chunks_and_line_endings() -> None:
    decoder = SSEDecoder()
    text = b'id: 0\r\nevent: Message\r\ndata: {"a":\r\ndata: 1}\r\n\r\n: comment\n\nevent: ping\n\n'
    events = [
        event for index in range(len(text)) for event in decoder.feed(text[index : index + 1])
    ]
    assert events == [
        ServerSentEvent("Message", '{"a":\n1}', "0"),
        ServerSentEvent("ping", "", None),
    ]
    assert events[0].json() == {"a": 1}  # data lines join with LF


def test_sse_decoder_close_flushes_an_unterminated_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"x": 1}') == []
    assert decoder.close() == [ServerSentEvent(data='{"x": 1}')]
    assert SSEDecoder().close() == []


# -- Coze ---------------------------------------------------------------------------------


def test_coze_start_bodies() -> None:
    spec = coze_start(is_async=True)
    assert (spec.method, spec.path, spec.workflow_id) == ("POST", "/v1/workflow/run", WORKFLOW)
    assert spec.json == {
        "workflow_id": WORKFLOW,
        "parameters": {"q": "hi"},
        "ext": {"user_id": "u-1"},
        "is_async": True,
    }
    assert "is_async" not in coze_start().json


def test_coze_needs_a_workflow_id() -> None:
    with pytest.raises(ConfigurationError, match="workflow_id"):
        COZE.build_invoke({}, user_id=None, workflow_id=None, async_mode=False, webhooks=())
    with pytest.raises(ConfigurationError, match="workflow_id"):
        COZE.build_query("741")


def test_coze_query_paths_cloud_and_studio() -> None:
    cloud = COZE.build_query("7413", workflow_id=WORKFLOW)
    assert (cloud.method, cloud.content) == ("GET", None)
    assert cloud.path == f"/v1/workflows/{WORKFLOW}/run_histories/7413"
    studio = STUDIO.build_query("7413", workflow_id=WORKFLOW)
    assert studio.path == f"/v1/workflow/get_run_history?workflow_id={WORKFLOW}&execute_id=7413"


def test_coze_regions_and_studio_base_url() -> None:
    assert COZE.base_url(None) == "https://api.coze.com"
    assert COZE.base_url("cn") == "https://api.coze.cn"
    with pytest.raises(ConfigurationError):
        COZE.base_url("eu")
    with pytest.raises(ConfigurationError, match="base_url"):
        STUDIO.base_url(None)


def test_coze_sync_success_example() -> None:
    run = answer(COZE, coze_start(), 200, COZE_SYNC_SUCCESS)
    assert run.succeeded and run.output == {"output": "…"}
    assert run.raw["data"] == '{"output":"…"}'  # the raw text is kept
    assert run.id == "741364789030728****"  # only the debug_url tells it
    assert run.total_tokens == 150 and run.workflow_id == WORKFLOW


def test_coze_async_start_example() -> None:
    run = answer(COZE, coze_start(is_async=True), 200, COZE_ASYNC_START)
    assert (run.id, run.status, run.workflow_id) == (
        "7413647890307280000",
        RunStatus.RUNNING,
        WORKFLOW,
    )


def test_coze_history_examples() -> None:
    spec = COZE.build_query("743104097880585****", workflow_id=WORKFLOW)
    run = answer(COZE, spec, 200, COZE_HISTORY_SUCCESS)
    assert run.succeeded and run.output == {"Output": "…"}
    assert run.started_at == datetime.fromtimestamp(1730174063, tz=timezone.utc)
    assert run.ended_at == datetime.fromtimestamp(1730174065, tz=timezone.utc)
    assert run.total_tokens == 150 and run.workflow_id == WORKFLOW
    running = answer(COZE, spec, 200, COZE_HISTORY_RUNNING)
    assert (running.status, running.output, running.ended_at) == (RunStatus.RUNNING, None, None)


def test_coze_studio_history_with_numeric_ids() -> None:
    body = {
        "code": 0,
        "msg": "",
        "data": [
            {
                "execute_id": 7431040978805850000,
                "execute_status": "Fail",
                "bot_id": 0,
                "log_id": "x",
                "error_code": "720702085",
                "error_msg": "node timeout",
                "token": 12,
                "cost": "0.00000",
                "create_time": 1730174063,
                "update_time": 1730174065,
            }
        ],
    }
    spec = STUDIO.build_query("7431040978805850000", workflow_id=WORKFLOW)
    run = answer(STUDIO, spec, 200, body)
    assert (run.id, run.status, run.error) == (
        "7431040978805850000",
        RunStatus.FAILED,
        "node timeout",
    )
    assert run.total_tokens == 12 and run.total_cost == 0.0


@pytest.mark.parametrize(
    ("word", "status"),
    [("Cancel", RunStatus.CANCELLED), ("<UNSET>", RunStatus.FAILED), ("", RunStatus.FAILED)],
)
def test_coze_studio_statuses_never_succeed_by_accident(word: str, status: RunStatus) -> None:
    body = {"code": 0, "data": [{"execute_id": "1", "execute_status": word, "output": "{}"}]}
    run = answer(STUDIO, STUDIO.build_query("1", workflow_id=WORKFLOW), 200, body)
    assert run.status is status and run.done and not run.succeeded


@pytest.mark.parametrize(("code", "error"), sorted(COZE_CODES.items()))
def test_every_coze_code_inside_http_200(code: int, error: str) -> None:
    for spec in (coze_start(), coze_start(is_async=True), COZE.build_query("1", workflow_id="2")):
        body = {"code": code, "msg": "from coze", "detail": {"logid": "l"}, "data": "{}"}
        with pytest.raises(APIStatusError) as caught:
            answer(COZE, spec, 200, body)
        assert type(caught.value).__name__ == error
        assert caught.value.code == code and caught.value.status_code == 200


def test_unknown_coze_code_is_still_an_error() -> None:
    with pytest.raises(APIStatusError) as caught:
        answer(COZE, coze_start(), 200, {"code": 1234, "msg": "new", "data": '{"x": 1}'})
    assert type(caught.value) is APIStatusError


def test_coze_6003_suggests_invoke() -> None:
    with pytest.raises(flowinvoke.PermissionDeniedError, match=r"use invoke\(\)"):
        answer(COZE, coze_start(is_async=True), 200, {"code": 6003, "msg": "not supported"})


def test_coze_studio_http_errors_are_judged_by_status() -> None:
    with pytest.raises(flowinvoke.ServerError):
        answer(STUDIO, coze_start(), 500, {"code": 500, "msg": "internal server error"})
    with pytest.raises(flowinvoke.BadRequestError):
        answer(STUDIO, coze_start(), 400, {"code": 400, "msg": "bind failed"})


def test_coze_empty_history_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        answer(COZE, COZE.build_query("1", workflow_id="2"), 200, {"code": 0, "data": []})


def test_registry_and_kinds() -> None:
    assert {"dify", "coze", "coze-studio"} <= set(flowinvoke.providers.available_providers())
    assert DIFY.supports_query and COZE.supports_query and STUDIO.supports_query
    assert StreamError(429, {}).status_code == 429
    assert ErrorKind.RATE_LIMIT and Operation.QUERY
