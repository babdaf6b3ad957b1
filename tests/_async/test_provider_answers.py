"""Answers the providers really send (issue 10): each maps like its documented HTTP twin."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from flowinvoke import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)

from ..seed_bodies import GPTBOTS_QUERY_ANSWER
from .support import AITUTOR_URL, KEY, QUERY_URL, make_client

NO_RETRY = RetryPolicy(max_retries=0)
AITUTOR_RUN_URL = f"{AITUTOR_URL}/api/v1/run/wf_1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {
            "success": True,
            "run_id": "run_1",
            "status": "completed",
            "output": {"a": 1},
            "error": None,
        },
        {"success": True, "result": '{"a": 1}', "error": None, "citations": []},
        {"success": True, "output": {"a": 1}, "error": ""},
    ],
)
async def test_aitutor_success_with_a_null_error_is_a_success(body: dict[str, Any]) -> None:
    with respx.mock:
        respx.post(AITUTOR_RUN_URL).respond(200, json=body)
        async with make_client(provider="aitutor", workflow_id="wf_1") as client:
            run = await client.invoke({"story": "x"})
    assert run.succeeded
    assert run.output == {"a": 1}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "error", "code"),
    [
        # A numeric code sent as a string maps like the integer.
        ({"code": "40127", "message": "authentication failed"}, AuthenticationError, "40127"),
        ({"code": "20022", "message": "insufficient credits"}, InsufficientCreditsError, "20022"),
        # `msg` instead of `message` (the Coze spelling).
        ({"code": 40127, "msg": "authentication failed"}, AuthenticationError, 40127),
        ({"code": 20059, "msg": "deleted"}, NotFoundError, 20059),
        ({"code": "20055", "msg": "API switched off"}, PermissionDeniedError, "20055"),
        # Word codes name their kind.
        ({"code": "invalid_param", "message": "bad input"}, BadRequestError, "invalid_param"),
        ({"code": "unauthorized", "msg": "bad key"}, AuthenticationError, "unauthorized"),
        ({"code": "something_new", "msg": "who knows"}, APIStatusError, "something_new"),
    ],
)
async def test_errors_inside_http_200_with_string_codes_or_msg(
    body: dict[str, Any], error: type[APIStatusError], code: Any
) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=body)
        async with make_client(retry=NO_RETRY) as client:
            with pytest.raises(error) as info:
                await client.get_run("run-42")
    assert type(info.value) is error
    assert info.value.code == code
    assert info.value.status_code == 200
    assert info.value.run_id == "run-42"
    assert not info.value.may_have_started
    assert body.get("message", body.get("msg")) in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("http_status", "envelope", "error"),
    [
        (200, {"code": "invalid_param", "message": "bad input", "status": 400}, BadRequestError),
        (200, {"code": "E_AUTH", "message": "bad key", "status": 401}, AuthenticationError),
        (200, {"code": "E_PAY", "message": "credits", "status": 402}, InsufficientCreditsError),
        (200, {"code": "E_NO", "message": "denied", "status": 403}, PermissionDeniedError),
        (200, {"code": "40000", "message": "no such run", "status": 404}, NotFoundError),
        (200, {"code": "E_SLOW", "message": "slow down", "status": 429}, RateLimitError),
        (200, {"code": "E_BOOM", "message": "internal", "status": 500}, ServerError),
        (200, {"code": "E_X", "message": "bad", "status": "UNAUTHENTICATED"}, AuthenticationError),
        (400, {"code": "E_X", "message": "bad"}, BadRequestError),
    ],
)
async def test_altabots_error_envelope_maps_by_code_and_status(
    http_status: int, envelope: dict[str, Any], error: type[APIStatusError]
) -> None:
    with respx.mock:
        respx.post("https://altatech.ai/v1/workflow/query/result").respond(
            http_status, json={"error": envelope}
        )
        async with make_client(provider="altabots", retry=NO_RETRY) as client:
            with pytest.raises(error) as info:
                await client.get_run("run-42")
    assert type(info.value) is error
    assert info.value.code == envelope["code"]
    assert info.value.status_code == http_status
    assert info.value.run_id == "run-42"
    assert envelope["message"] in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["gptbots", "altabots"])
@pytest.mark.parametrize(("scheme", "other"), [("bearer", "raw"), ("raw", "bearer")])
async def test_a_refused_key_names_the_auth_scheme_and_the_other_one(
    provider: str, scheme: str, other: str
) -> None:
    host = "https://altatech.ai" if provider == "altabots" else "https://api-sg.gptbots.ai"
    with respx.mock:
        respx.post(f"{host}/v1/workflow/query/result").respond(
            401, json={"code": 40127, "message": "authentication failed"}
        )
        async with make_client(provider=provider, auth_scheme=scheme) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_run("run-42")
    text = str(info.value)
    assert f"auth_scheme={scheme!r}" in text
    assert f"auth_scheme={other!r}" in text
    assert KEY not in text


@pytest.mark.anyio
async def test_aitutor_auth_failure_has_no_scheme_hint() -> None:
    """aitutor accepts Bearer only: there is no other scheme to suggest."""
    with respx.mock:
        respx.post(AITUTOR_RUN_URL).respond(
            401,
            json={
                "success": False,
                "error": {"message": "Invalid API key", "code": "unauthorized"},
            },
        )
        async with make_client(provider="aitutor", workflow_id="wf_1") as client:
            with pytest.raises(AuthenticationError) as info:
                await client.invoke({"story": "x"})
    assert "auth_scheme" not in str(info.value)


@pytest.mark.anyio
async def test_a_body_with_a_run_id_and_a_code_is_still_a_run() -> None:
    body = {**GPTBOTS_QUERY_ANSWER, "code": "0", "msg": "success"}
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=body)
        async with make_client() as client:
            run = await client.get_run("run-42")
    assert run.succeeded
