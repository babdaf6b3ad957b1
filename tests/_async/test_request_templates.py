"""The requests a client builds from its per-URL templates are the ones httpx would build."""

from __future__ import annotations

import json

import httpx
import pytest

from ..seed_bodies import GPTBOTS_QUERY_ANSWER
from .support import QUERY_URL, make_client

RUN_IDS = ("run-1", "run-22222222", "run-3")


def _answer(run_id: str, cookie: str | None = None) -> httpx.Response:
    headers = {"set-cookie": cookie} if cookie else None
    return httpx.Response(
        200, json={**GPTBOTS_QUERY_ANSWER, "workflowRunId": run_id}, headers=headers
    )


def _recording(seen: list[httpx.Request], cookie: str | None = None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        run_id = json.loads(request.content)["workflowRunId"]
        return _answer(run_id, cookie if len(seen) == 1 else None)

    return httpx.MockTransport(handle)


def _head(request: httpx.Request) -> list[tuple[bytes, bytes]]:
    return [(name.lower(), value) for name, value in request.headers.raw]


@pytest.mark.anyio
async def test_each_query_carries_its_own_body_and_length_and_the_same_head() -> None:
    seen: list[httpx.Request] = []
    async with make_client(transport=_recording(seen)) as client:
        for run_id in RUN_IDS:
            assert (await client.get_run(run_id)).id == run_id
    assert [json.loads(request.content) for request in seen] == [
        {"workflowRunId": run_id} for run_id in RUN_IDS
    ]
    for request in seen:
        assert request.headers["content-length"] == str(len(request.content))
        # httpx's own build of the same request, header for header and in order
        rebuilt = httpx.Request(
            "POST", request.url, headers=_without_length(request), content=request.content
        )
        assert _head(request) == _head(rebuilt)
    assert seen[0].headers is not seen[1].headers


def _without_length(request: httpx.Request) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]


@pytest.mark.anyio
async def test_a_cookie_the_server_set_is_sent_back_as_httpx_sends_it() -> None:
    seen: list[httpx.Request] = []
    async with make_client(transport=_recording(seen, cookie="affinity=node-7; Path=/")) as client:
        for run_id in RUN_IDS:
            await client.get_run(run_id)
    assert "cookie" not in seen[0].headers
    assert [request.headers.get("cookie") for request in seen[1:]] == ["affinity=node-7"] * 2


@pytest.mark.anyio
async def test_a_callers_http_client_changed_between_requests_is_followed() -> None:
    seen: list[httpx.Request] = []
    http = httpx.AsyncClient(transport=_recording(seen))
    async with http, make_client(http_client=http) as client:
        await client.get_run("run-1")
        http.headers["X-Mine"] = "2"
        await client.get_run("run-2")
    assert "x-mine" not in seen[0].headers
    assert seen[1].headers["x-mine"] == "2"
    assert str(seen[1].url) == QUERY_URL
