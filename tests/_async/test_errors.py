"""Every documented error shape maps to its class; retries happen only where safe."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    FlowInvokeError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)

from ..seed_bodies import GPTBOTS_QUERY_ANSWER, GPTBOTS_SYNC_ANSWER
from .conftest import PatchedClientClock
from .support import AITUTOR_URL, INVOKE_URL, QUERY_URL, make_client

NO_RETRY = RetryPolicy(max_retries=0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (400, {"code": 40000, "message": "bad parameters"}, BadRequestError, 40000),
        (401, {"code": 40127, "message": "authentication failed"}, AuthenticationError, 40127),
        (200, {"code": 40127, "message": "authentication failed"}, AuthenticationError, 40127),
        (200, {"code": 40353, "message": "upgrade your plan"}, PermissionDeniedError, 40353),
        (200, {"code": 20022, "message": "insufficient credits"}, InsufficientCreditsError, 20022),
        (200, {"code": 20055, "message": "API switched off"}, PermissionDeniedError, 20055),
        (200, {"code": 20059, "message": "deleted"}, NotFoundError, 20059),
        (200, {"code": 50000, "message": "internal"}, ServerError, 50000),
        (200, {"code": 12345, "message": "who knows"}, APIStatusError, 12345),
        (402, {"code": 99, "message": "pay up"}, InsufficientCreditsError, 99),
        (403, {"message": "forbidden"}, PermissionDeniedError, None),
        (404, "<html>Not Found</html>", NotFoundError, None),
        (422, {"detail": "x"}, BadRequestError, None),
        (404, {"code": 40000, "message": "workflowRunId not found"}, NotFoundError, 40000),
        (503, {"code": 40000, "message": "overloaded"}, ServerError, 40000),
        (429, {"code": 429, "message": "slow down"}, RateLimitError, 429),
        (500, {"code": 50000, "message": "internal"}, ServerError, 50000),
        (502, "", ServerError, None),
        (
            400,
            {"error": {"code": "invalid_param", "message": "bad input", "status": 400}},
            BadRequestError,
            "invalid_param",
        ),
        (
            200,
            {"error": {"code": "40127", "message": "bad key", "status": 401}},
            AuthenticationError,
            "40127",
        ),
        (302, "", APIStatusError, None),
    ],
)
async def test_gptbots_error_shapes(
    status: int, body: Any, error: type[APIStatusError], code: Any
) -> None:
    content = {"json": body} if not isinstance(body, str) else {"text": body}
    with respx.mock:
        respx.post(QUERY_URL).respond(status, headers={"x-request-id": "req-9"}, **content)
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(error) as info:
                await client.get_run("run-42")
    assert type(info.value) is error
    assert info.value.status_code == status
    assert info.value.code == code
    assert info.value.request_id == "req-9"
    assert info.value.run_id == "run-42"
    assert info.value.provider == "gptbots"
    assert info.value.body == body or (body == "" and info.value.body is None)
    assert f"HTTP {status}" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            401,
            {"success": False, "error": {"message": "Invalid API key", "code": "unauthorized"}},
            AuthenticationError,
            "unauthorized",
        ),
        (
            404,
            {
                "success": False,
                "error": {"message": "Workflow not found", "code": "workflow_not_found"},
            },
            NotFoundError,
            "workflow_not_found",
        ),
        (
            400,
            {"success": False, "error": {"message": "Missing: story", "code": "invalid_request"}},
            BadRequestError,
            "invalid_request",
        ),
        (401, {"success": False, "error": "Unauthorized"}, AuthenticationError, None),
        (
            402,
            {"success": False, "error": "Spend limit reached", "code": "spend_limit_reached"},
            InsufficientCreditsError,
            "spend_limit_reached",
        ),
        (
            402,
            {"success": False, "error": "Billing", "code": "invalid_billing"},
            InsufficientCreditsError,
            "invalid_billing",
        ),
        (429, {"success": False, "error": "Too many requests"}, RateLimitError, None),
        (
            500,
            {"success": False, "error": "boom", "code": "internal_server_error"},
            ServerError,
            "internal_server_error",
        ),
        (
            200,
            {"success": False, "error": {"message": "nope", "code": "unauthorized"}},
            AuthenticationError,
            "unauthorized",
        ),
    ],
)
async def test_aitutor_error_shapes(
    status: int, body: Any, error: type[APIStatusError], code: Any
) -> None:
    with respx.mock:
        route = respx.post(f"{AITUTOR_URL}/api/v1/run/wf_1").respond(status, json=body)
        async with make_client(provider="aitutor", workflow_id="wf_1", retry=NO_RETRY) as client:
            with pytest.raises(error) as info:
                await client.invoke({"story": "x"})
    assert type(info.value) is error
    assert info.value.code == code
    assert route.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"workflowRunId": "run-42"}),
        httpx.Response(200, json={"status": "SUCCEED"}),
    ],
)
async def test_unreadable_answers_raise_with_the_body(answer: httpx.Response) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).mock(return_value=answer)
        async with make_client() as client:
            with pytest.raises(ResponseValidationError) as info:
                await client.invoke({"a": 1})
    assert info.value.body is not None
    assert info.value.status_code == 200
    assert info.value.may_have_started  # a start answered 2xx: it may have gone through


@pytest.mark.anyio
@pytest.mark.parametrize(
    "first",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(503, json={"code": 50300, "message": "busy"}),
    ],
)
async def test_a_start_is_retried_only_where_no_run_can_have_started(
    first: Any, clock: PatchedClientClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flowinvoke")
    with respx.mock:
        route = respx.post(INVOKE_URL).mock(
            side_effect=[first, httpx.Response(200, json=GPTBOTS_SYNC_ANSWER)]
        )
        async with make_client() as client:
            run = await client.invoke({"a": 1})
    assert run.succeeded
    assert route.call_count == 2
    assert clock.sleeps == (
        [1.0] if isinstance(first, httpx.Response) and first.status_code == 429 else [0.5]
    )
    [record] = [r for r in caplog.records if r.name == "flowinvoke"]
    assert record.levelno == logging.INFO
    assert "attempt 2 of 3" in record.getMessage()
    assert "gptbots invoke" in record.getMessage()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ReadTimeout("slow answer"), APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), APIConnectionError),
        (httpx.ReadError("reset"), APIConnectionError),
        (httpx.Response(500, json={"code": 50000, "message": "internal"}), ServerError),
        (httpx.Response(502, text="bad gateway"), ServerError),
        (httpx.Response(504, text="gateway timeout"), ServerError),
        (httpx.Response(200, json={"code": 50000, "message": "internal"}), ServerError),
    ],
)
async def test_an_ambiguous_start_failure_is_not_retried_and_says_so(
    failure: Any, error: type[FlowInvokeError], clock: PatchedClientClock
) -> None:
    with respx.mock:
        route = respx.post(INVOKE_URL).mock(side_effect=[failure])
        async with make_client() as client:
            with pytest.raises(error) as info:
                await client.invoke({"a": 1})
    assert route.call_count == 1
    assert clock.sleeps == []
    assert info.value.may_have_started  # type: ignore[attr-defined]
    assert "may have started" in str(info.value)
    if error is APITimeoutError:
        assert isinstance(info.value, TimeoutError)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
async def test_client_errors_are_never_retried(status: int, clock: PatchedClientClock) -> None:
    with respx.mock:
        start = respx.post(INVOKE_URL).respond(status, json={"code": 1, "message": "no"})
        query = respx.post(QUERY_URL).respond(status, json={"code": 1, "message": "no"})
        async with make_client() as client:
            with pytest.raises(APIStatusError) as info:
                await client.invoke({"a": 1})
            assert not info.value.may_have_started
            with pytest.raises(APIStatusError):
                await client.get_run("run-42")
    assert (start.call_count, query.call_count) == (1, 1)
    assert clock.sleeps == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(408),
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
        httpx.Response(200, text="{truncated"),
        httpx.Response(200, json={"code": 50000, "message": "internal error inside a 200"}),
    ],
)
async def test_a_query_is_retried_on_every_transient_failure(
    failure: Any, clock: PatchedClientClock
) -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).mock(
            side_effect=[failure, failure, httpx.Response(200, json=GPTBOTS_QUERY_ANSWER)]
        )
        async with make_client() as client:
            run = await client.get_run("run-42")
    assert run.succeeded
    assert route.call_count == 3
    if isinstance(failure, httpx.Response) and failure.status_code == 429:
        # No hint: the client-wide cool-down, from 1 s, doubling while the 429s go on.
        assert clock.sleeps == [1.0, 2.0]
    else:
        assert clock.sleeps == [0.5, 1.0]


@pytest.mark.anyio
async def test_retries_stop_when_used_up_and_the_error_keeps_the_run_id(
    clock: PatchedClientClock,
) -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(503, json={"code": 50000, "message": "busy"})
        async with make_client() as client:
            with pytest.raises(ServerError) as info:
                await client.get_run("run-42")
    assert route.call_count == 3
    assert info.value.run_id == "run-42"
    assert "run-42" in str(info.value)


@pytest.mark.anyio
async def test_retry_after_is_honoured_up_to_its_cap(clock: PatchedClientClock) -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=0.5, jitter=False, max_retry_after=10)
    with respx.mock:
        respx.post(QUERY_URL).mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "7"}),
                httpx.Response(429, headers={"Retry-After": "3600"}),
                httpx.Response(503, headers={"retry-after-ms": "1500"}),
                httpx.Response(200, json=GPTBOTS_QUERY_ANSWER),
            ]
        )
        async with make_client(retry=policy) as client:
            await client.get_run("run-42")
    # Each hint lengthens the backoff's delay (0.5, 1, 2 s), capped; none shortens it.
    assert clock.sleeps == [7.0, 10.0, 2.0]


@pytest.mark.anyio
async def test_rate_limit_error_carries_retry_after(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(429, headers={"Retry-After": "12"})
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(RateLimitError) as info:
                await client.get_run("run-42")
    assert info.value.retry_after == 12.0


@pytest.mark.anyio
async def test_the_retry_budget_limits_the_time_one_request_may_take(
    clock: PatchedClientClock,
) -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=1.0, jitter=False, budget=2.5)
    with respx.mock:
        route = respx.post(QUERY_URL).respond(503)
        async with make_client(retry=policy) as client:
            with pytest.raises(ServerError):
                await client.get_run("run-42")
    assert clock.sleeps == [1.0]  # a second sleep of 2 s would pass the 2.5 s budget
    assert route.call_count == 2


@pytest.mark.anyio
async def test_sync_answers_seeded_with_an_error_code_zero_are_runs() -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json={**GPTBOTS_SYNC_ANSWER, "code": 0})
        async with make_client() as client:
            run = await client.invoke({"a": 1})
    assert run.succeeded
