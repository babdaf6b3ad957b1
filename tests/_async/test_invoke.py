"""Starting and querying runs: the requests sent and the answers read, per provider."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import (
    ConfigurationError,
    RunStatus,
    UnsupportedOperationError,
    Webhook,
)

from ..seed_bodies import (
    AITUTOR_LIVE_ANSWER,
    AITUTOR_SEED_ANSWER,
    GPTBOTS_ASYNC_ANSWER,
    GPTBOTS_QUERY_ANSWER,
    GPTBOTS_SYNC_ANSWER,
)
from .support import AITUTOR_URL, INVOKE_URL, KEY, QUERY_URL, make_client


def _sent(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls.last.request.content)
    return body


@pytest.mark.anyio
async def test_gptbots_invoke_sends_the_documented_request_and_reads_the_seed_answer() -> None:
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client() as client:
            run = await client.invoke({"input": "What should I do after a breakup?"}, user_id="u-1")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("flowinvoke/")
    assert _sent(route) == {
        "input": {"input": "What should I do after a breakup?"},
        "userId": "u-1",
    }
    assert run.id == "xxxx-5b15-4cbf-999c-1b218934xxxx"
    assert run.status is RunStatus.SUCCEEDED
    assert run.raw_status == "SUCCEED"
    assert run.succeeded and run.done
    assert run.provider == "gptbots"
    assert run.input == {"input": "What should I do after a breakup?"}
    assert run.output == GPTBOTS_SYNC_ANSWER["output"]
    assert run.duration == timedelta(milliseconds=24277)
    assert run.started_at == datetime(2025, 3, 12, 8, 31, 53, 25000, tzinfo=timezone.utc)
    assert run.ended_at is not None and run.ended_at.tzinfo is timezone.utc
    assert run.total_cost == 1.3754
    assert run.total_tokens == 3464
    assert run.error is None
    assert run.raw == GPTBOTS_SYNC_ANSWER


@pytest.mark.anyio
async def test_gptbots_query_reads_the_workflow_fields() -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        async with make_client() as client:
            run = await client.get_run("run-42")
    assert _sent(route) == {"workflowRunId": "run-42"}
    assert (run.workflow_id, run.workflow_name, run.workflow_version) == (
        "wf-news",
        "todayNews",
        "1.0.1",
    )
    assert run.id == "run-42"
    assert run.duration == timedelta(milliseconds=8347)


@pytest.mark.anyio
async def test_async_mode_and_webhooks_go_into_the_invoke_body() -> None:
    hooks: list[Any] = [
        Webhook(url="https://hooks.example.com/a"),  # type: ignore[arg-type]
        {"url": "https://hooks.example.com/b", "method": "PUT", "headers": {"X-Sig": "s"}},
    ]
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        async with make_client() as client:
            run = await client.invoke({"topic": "News"}, async_mode=True, webhooks=hooks)
    assert _sent(route) == {
        "input": {"topic": "News"},
        "isAsync": True,
        "webhook": [
            {"method": "POST", "url": "https://hooks.example.com/a"},
            {"method": "PUT", "url": "https://hooks.example.com/b", "headers": {"X-Sig": "s"}},
        ],
    }
    assert run.status is RunStatus.PENDING
    assert not run.done
    assert run.workflow_version == "9"
    assert run.output is None and run.started_at is None


@pytest.mark.anyio
async def test_more_than_five_webhooks_fail_before_sending() -> None:
    hooks = [{"url": f"https://hooks.example.com/{i}"} for i in range(6)]
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        async with make_client() as client:
            with pytest.raises(ConfigurationError, match="at most 5 webhooks"):
                await client.invoke({"a": 1}, async_mode=True, webhooks=hooks)
            with pytest.raises(TypeError):
                await client.invoke({"a": 1}, webhooks={"url": "https://x.example.com"})  # type: ignore[arg-type]
    assert not route.called


@pytest.mark.anyio
async def test_raw_auth_scheme_sends_the_bare_key() -> None:
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client(auth_scheme="raw") as client:
            await client.invoke({})
    assert route.calls.last.request.headers["authorization"] == KEY


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "url"),
    [
        ({"region": "jp"}, "https://api-jp.gptbots.ai"),
        ({"region": "TH"}, "https://api-th.gptbots.ai"),
        ({"region": "eu2"}, "https://api-eu2.gptbots.ai"),
        ({"provider": "altabots"}, "https://altatech.ai"),
        ({"base_url": "https://proxy.example.com/gw/"}, "https://proxy.example.com/gw"),
    ],
)
async def test_base_urls(options: dict[str, Any], url: str) -> None:
    with respx.mock:
        route = respx.post(f"{url}/v1/workflow/query/result").respond(
            200, json=GPTBOTS_QUERY_ANSWER
        )
        async with make_client(**options) as client:
            assert client.base_url == url
            await client.get_run("run-42")
    assert route.called


@pytest.mark.anyio
async def test_aitutor_seed_shape() -> None:
    with respx.mock:
        route = respx.post(f"{AITUTOR_URL}/api/v1/run/wf_b1c45lj9pabaotitahwfk9gb").respond(
            200, json=AITUTOR_SEED_ANSWER
        )
        async with make_client(provider="aitutor", workflow_id="wf_b1c45lj9pabaotitahwfk9gb") as c:
            run = await c.invoke({"story": "a story about a dog named charlie"}, user_id="ignored")
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert _sent(route) == {"story": "a story about a dog named charlie"}
    assert run.id == "run_abc123xyz"
    assert run.status is RunStatus.SUCCEEDED
    assert run.raw_status == "completed"
    assert run.output == AITUTOR_SEED_ANSWER["output"]
    assert run.workflow_id == "wf_b1c45lj9pabaotitahwfk9gb"
    assert run.input == {"story": "a story about a dog named charlie"}


@pytest.mark.anyio
async def test_aitutor_live_shape_decodes_the_result_text() -> None:
    with respx.mock:
        respx.post(f"{AITUTOR_URL}/api/v1/run/wf_live").respond(200, json=AITUTOR_LIVE_ANSWER)
        respx.post(f"{AITUTOR_URL}/api/v1/run/wf_text").respond(
            200, json={"success": True, "result": "plain words", "citations": ["c"]}
        )
        async with make_client(provider="aitutor") as client:
            run = await client.invoke({"story": "x"}, workflow_id="wf_live")
            text = await client.invoke({"story": "x"}, workflow_id="wf_text")
    assert run.id is None
    assert run.status is RunStatus.SUCCEEDED
    assert run.raw_status is None
    assert run.output == {"generated_story": "Once upon a time..."}
    assert text.output == "plain words"
    assert text.raw["citations"] == ["c"]


@pytest.mark.anyio
async def test_aitutor_refusals_happen_before_any_request() -> None:
    with respx.mock:
        route = respx.post(url__startswith=AITUTOR_URL).respond(200, json=AITUTOR_SEED_ANSWER)
        async with make_client(provider="aitutor") as client:
            with pytest.raises(ConfigurationError, match="workflow_id"):
                await client.invoke({"story": "x"})
            with pytest.raises(UnsupportedOperationError, match="aitutor") as info:
                await client.get_run("run_abc")
            assert info.value.provider == "aitutor"
            assert info.value.run_id == "run_abc"
            with pytest.raises(UnsupportedOperationError, match="asynchronous"):
                await client.invoke({"story": "x"}, workflow_id="wf_1", async_mode=True)
            with pytest.raises(UnsupportedOperationError, match="webhooks"):
                await client.invoke(
                    {"story": "x"}, workflow_id="wf_1", webhooks=[{"url": "https://e.com"}]
                )
    assert not route.called


@pytest.mark.anyio
async def test_aitutor_workflow_id_is_a_single_path_segment() -> None:
    with respx.mock:
        route = respx.post(f"{AITUTOR_URL}/api/v1/run/wf%2F..%2Fadmin").respond(
            200, json=AITUTOR_SEED_ANSWER
        )
        async with make_client(provider="aitutor") as client:
            run = await client.invoke({"story": "x"}, workflow_id="wf/../admin")
    assert route.called
    assert run.workflow_id == "wf/../admin"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        (["a"], TypeError, "mapping"),
        ({1: "a"}, TypeError, "1"),
        ({"when": datetime(2025, 1, 1)}, TypeError, r"input\['when'\]"),
        (
            {"deep": {"list": [1, {"x": {1, 2}}]}},
            TypeError,
            r"input\['deep'\]\['list'\]\[1\]\['x'\]",
        ),
        ({"n": float("nan")}, ValueError, r"input\['n'\]"),
        ({"d": {3: "x"}}, TypeError, "non-str key 3"),
    ],
)
async def test_bad_input_fails_before_any_request(
    bad: Any, error: type[Exception], match: str
) -> None:
    with respx.mock:
        route = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_SYNC_ANSWER)
        async with make_client() as client:
            with pytest.raises(error, match=match):
                await client.invoke(bad)
            with pytest.raises(error, match=match):
                await client.run(bad)
    assert not route.called


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("run_id", "error"), [("", ValueError), ("  ", ValueError), (42, TypeError)]
)
async def test_bad_run_ids_fail_before_any_request(run_id: Any, error: type[Exception]) -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        async with make_client() as client:
            with pytest.raises(error):
                await client.get_run(run_id)
            with pytest.raises(error):
                await client.wait(run_id)
            with pytest.raises(TypeError, match="user_id"):
                await client.invoke({}, user_id=7)  # type: ignore[arg-type]
    assert not route.called


@pytest.mark.anyio
async def test_with_options_shares_the_pool_and_only_the_owner_closes_it() -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        client = make_client()
        other = client.with_options(api_key="sk-other-key-0000", default_headers={"X-Team": "a"})
        assert other._http is client._http
        await other.get_run("run-42")
        assert route.calls.last.request.headers["authorization"] == "Bearer sk-other-key-0000"
        assert route.calls.last.request.headers["x-team"] == "a"
        await other.aclose()
        assert not client._http.is_closed
        await client.get_run("run-42")
        assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
        assert "x-team" not in route.calls.last.request.headers
        await client.aclose()
        assert client._http.is_closed


@pytest.mark.anyio
async def test_with_options_region_rebuilds_the_url() -> None:
    async with make_client() as client:
        assert client.with_options(region="jp").base_url == "https://api-jp.gptbots.ai"
        assert client.with_options(workflow_id="wf_2").base_url == client.base_url
        assert client.with_options(poll=client.poll).poll is client.poll


@pytest.mark.anyio
async def test_a_callers_http_client_is_used_and_never_closed() -> None:
    with respx.mock:
        route = respx.post(QUERY_URL).respond(200, json=GPTBOTS_QUERY_ANSWER)
        async with httpx.AsyncClient(headers={"X-Mine": "1"}) as http:
            async with make_client(http_client=http) as client:
                await client.get_run("run-42")
            assert not http.is_closed
    assert route.calls.last.request.headers["x-mine"] == "1"


@pytest.mark.anyio
async def test_a_transport_can_be_plugged_in() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=GPTBOTS_QUERY_ANSWER)

    async with make_client(transport=httpx.MockTransport(handler)) as client:
        run = await client.get_run("run-42")
    assert run.succeeded
    with pytest.raises(ConfigurationError, match="not both"):
        make_client(transport=httpx.MockTransport(handler), http_client=httpx.AsyncClient())
