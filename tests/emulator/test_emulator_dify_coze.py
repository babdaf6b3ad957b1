"""The emulator's Dify and Coze wire formats: raw answers, ASGI, and a real loopback socket."""

from __future__ import annotations

import json

import httpx
import pytest

from flowinvoke import AsyncClient, PollPolicy, RetryPolicy
from flowinvoke.providers import ServerSentEvent
from flowinvoke.providers._sse import SSEDecoder
from flowinvoke.testing import (
    EMULATOR_BASE_URL,
    Emulator,
    FakeClock,
    Fault,
    LoopbackServer,
    Workflow,
)

WF = "7400000000000000001"
POLL = PollPolicy(initial_delay=0.001, multiplier=1.0, max_interval=0.001, jitter=0, timeout=20)
RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, jitter=False)


def emulator(clock: FakeClock | None = None) -> Emulator:
    return Emulator(
        [
            Workflow(id="app", api_key="app-key", provider="dify", duration=21.0),
            Workflow(id=WF, api_key="pat", provider="coze", polls=1),
        ],
        clock=clock,
    )


def events(body: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.close()


def test_dify_stream_frames_with_pings_on_the_fake_clock() -> None:
    clock = FakeClock()
    emu = emulator(clock)
    with emu.http_client() as http:
        answer = http.post(
            "/v1/workflows/run",
            headers={"Authorization": "Bearer app-key"},
            json={"inputs": {"q": 1}, "user": "u", "response_mode": "streaming"},
        )
    assert answer.headers["content-type"].startswith("text/event-stream")
    got = events(answer.content)
    names = [event.event if event.event == "ping" else event.json()["event"] for event in got]
    assert names == [
        "ping",
        "workflow_started",
        "node_started",
        "ping",
        "ping",
        "ping",
        "node_finished",
        "workflow_finished",
    ]
    finished = got[-1].json()
    assert finished["data"]["status"] == "succeeded" and finished["data"]["elapsed_time"] == 21.0
    assert finished["workflow_run_id"] == got[1].json()["workflow_run_id"]


def test_dify_wire_errors() -> None:
    emu = emulator()
    with emu.http_client() as http:
        no_user = http.post(
            "/v1/workflows/run", headers={"Authorization": "Bearer app-key"}, json={"inputs": {}}
        )
        bad_key = http.post("/v1/workflows/run", headers={"Authorization": "Bearer x"}, json={})
        unknown = http.get("/v1/workflows/run/nope", headers={"Authorization": "Bearer app-key"})
        wrong_method = http.get("/v1/workflows/run", headers={"Authorization": "Bearer app-key"})
    assert no_user.json() == {
        "code": "invalid_param",
        "message": "Arg user must be provided.",
        "status": 400,
    }
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "unauthorized")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert wrong_method.status_code == 405


def test_coze_wire_history_shapes() -> None:
    emu = emulator()
    auth = {"Authorization": "Bearer pat"}
    with emu.http_client() as http:
        started = http.post(
            "/v1/workflow/run",
            headers=auth,
            json={"workflow_id": int(WF), "parameters": '{"q": 1}', "is_async": True},
        ).json()
        run_id = started["execute_id"]
        cloud = http.get(f"/v1/workflows/{WF}/run_histories/{run_id}", headers=auth).json()
        studio = http.get(
            "/v1/workflow/get_run_history",
            params={"workflow_id": WF, "execute_id": run_id},
            headers=auth,
        ).json()
        bad = http.post("/v1/workflow/run", headers={"Authorization": "Bearer no"}, json={})
    assert started["code"] == 0 and isinstance(run_id, str) and len(run_id) == 19
    assert cloud["data"][0]["execute_status"] == "Running"
    assert cloud["data"][0]["execute_id"] == run_id and "logid" in cloud["data"][0]
    assert studio["data"][0]["execute_status"] == "Success"
    assert studio["data"][0]["execute_id"] == int(run_id) and "log_id" in studio["data"][0]
    assert json.loads(studio["data"][0]["output"]) == {"echo": {"q": 1}}
    assert (bad.status_code, bad.json()["code"]) == (200, 4100)


@pytest.mark.anyio
async def test_dify_and_coze_over_asgi() -> None:
    emu = emulator(FakeClock())
    transport = httpx.ASGITransport(app=emu.asgi_app())
    async with httpx.AsyncClient(transport=transport) as http:
        for workflow in ("app", WF):
            options = emu.client_options(workflow)
            del options["transport"]
            async with AsyncClient(**options, http_client=http, poll=POLL, retry=RETRY) as client:
                run = await client.run({"q": workflow})
            assert run.succeeded and run.output == {"echo": {"q": workflow}}


@pytest.mark.anyio
async def test_dify_stream_drop_over_a_real_socket() -> None:
    pytest.importorskip("uvicorn")
    emu = Emulator([Workflow(id="app", api_key="app-key", provider="dify", duration=0.2)])
    emu.inject(Fault("reset", operation="invoke", processed=True))
    with LoopbackServer(emu) as server:
        async with server.async_client("app", poll=POLL, retry=RETRY) as client:
            run = await client.run({"q": "socket"})
    assert run.succeeded and emu.counters.total_invokes == 1
    assert emu.counters.requests_by_operation["query"] >= 1


@pytest.mark.anyio
async def test_dify_stream_read_to_the_end_over_a_real_socket() -> None:
    pytest.importorskip("uvicorn")
    emu = Emulator([Workflow(id="app", api_key="app-key", provider="dify", duration=0.1)])
    with LoopbackServer(emu) as server:
        async with server.async_client("app", poll=POLL, retry=RETRY) as client:
            run = await client.run({"q": "socket"})
    assert run.succeeded and emu.counters.requests_by_operation["query"] == 0


def test_client_options_name_the_workflow_only_where_the_call_does() -> None:
    emu = emulator()
    assert "workflow_id" not in emu.client_options("app")
    assert emu.client_options(WF)["workflow_id"] == WF
    assert EMULATOR_BASE_URL.startswith("http://")


def _slow_dify() -> Emulator:
    # Real time: the run takes a minute and its stream pings only every 10 s.
    return Emulator([Workflow(id="app", api_key="app-key", provider="dify", duration=60.0)])


@pytest.mark.anyio
async def test_async_run_returns_at_its_deadline_while_the_stream_is_silent() -> None:
    pytest.importorskip("uvicorn")
    import anyio

    from flowinvoke import WaitTimeoutError

    with LoopbackServer(_slow_dify()) as server:
        async with server.async_client("app", poll=POLL, retry=RETRY) as client:
            started = anyio.current_time()
            with anyio.fail_after(15), pytest.raises(WaitTimeoutError) as caught:
                await client.run({"q": 1}, timeout=1.0)
            elapsed = anyio.current_time() - started
    assert caught.value.run_id is not None  # the stream told it before the deadline
    assert elapsed < 1.0 + 2.0  # a bound, not a timing: the deadline cut the silent read


def test_sync_run_returns_at_its_deadline_while_the_stream_is_silent() -> None:
    pytest.importorskip("uvicorn")
    import time

    from flowinvoke import WaitTimeoutError

    with LoopbackServer(_slow_dify()) as server, server.client("app", poll=POLL) as client:
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as caught:
            client.run({"q": 1}, timeout=1.0)
        elapsed = time.monotonic() - started
    assert caught.value.run_id is not None
    assert elapsed < 1.0 + 2.0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the fast transport serves asyncio
@pytest.mark.anyio
async def test_dify_stream_and_drop_on_the_fast_transport() -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx_aiohttp")
    emu = Emulator([Workflow(id="app", api_key="app-key", provider="dify", duration=0.2)])
    with LoopbackServer(emu) as server:
        async with server.async_client(
            "app", poll=POLL, retry=RETRY, fast_transport=True
        ) as client:
            streamed = await client.run({"q": 1})
            emu.inject(Fault("reset", operation="invoke", processed=True))
            polled = await client.run({"q": 2})
    assert streamed.succeeded and polled.succeeded
    assert emu.counters.total_invokes == 2
    assert emu.counters.queries[streamed.id or ""] == 0
    assert emu.counters.queries[polled.id or ""] >= 1
