"""The emulator's plain ASGI app, driven by httpx.ASGITransport on asyncio and trio."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flowinvoke.testing import (
    EMULATOR_BASE_URL,
    Emulator,
    EmulatorASGIApp,
    FakeClock,
    Fault,
    Workflow,
)

INVOKE = "/v1/workflow/invoke"
QUERY = "/v1/workflow/query/result"
AUTH = {"Authorization": "Bearer key-a"}

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return Emulator(
        [
            Workflow(id="wf-a", api_key="key-a", polls=1, duration=3.0),
            Workflow(id="wf_t", api_key="sk", provider="aitutor", duration=4.0),
        ],
        clock=clock,
    )


def asgi_client(emulator: Emulator) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=emulator.asgi_app())
    return httpx.AsyncClient(transport=transport, base_url=EMULATOR_BASE_URL)


async def test_invoke_and_poll_over_asgi(emulator: Emulator) -> None:
    async with asgi_client(emulator) as http:
        started = await http.post(INVOKE, headers=AUTH, json={"input": {"a": 1}, "isAsync": True})
        assert started.status_code == 200
        assert started.headers["content-length"] == str(len(started.content))
        run_id = started.json()["workflowRunId"]
        first = await http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id})
        second = await http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id})
    assert first.json()["status"] == "PENDING"
    assert second.json()["status"] == "SUCCEED"


async def test_asgi_and_transport_share_state(emulator: Emulator) -> None:
    async with asgi_client(emulator) as http:
        started = await http.post(INVOKE, headers=AUTH, json={"input": {}, "isAsync": True})
    run_id = started.json()["workflowRunId"]
    async with emulator.async_http_client() as http:
        answer = await http.post(QUERY, headers=AUTH, json={"workflowRunId": run_id})
    assert answer.json()["workflowRunId"] == run_id
    assert emulator.counters.requests == 2


async def test_aitutor_over_asgi_waits_on_the_clock(emulator: Emulator, clock: FakeClock) -> None:
    async with asgi_client(emulator) as http:
        answer = await http.post(
            "/api/v1/run/wf_t", headers={"Authorization": "Bearer sk"}, json={"x": 1}
        )
    assert answer.json()["status"] == "completed"
    assert clock() == 4.0


async def test_errors_over_asgi(emulator: Emulator) -> None:
    async with asgi_client(emulator) as http:
        bad_key = await http.post(INVOKE, headers={"Authorization": "x"}, json={"input": {}})
        unknown = await http.post(QUERY, headers=AUTH, json={"workflowRunId": "nope"})
    assert bad_key.status_code == 401
    assert bad_key.json()["code"] == 40127
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("disconnect"), httpx.RemoteProtocolError),
        (Fault("disconnect", processed=True), httpx.RemoteProtocolError),
        (Fault("reset", processed=True), httpx.ReadError),
        (Fault("timeout", delay=10.0), httpx.ReadTimeout),
        (Fault("connect_error"), httpx.ConnectError),
    ],
)
async def test_connection_faults_over_asgi(
    emulator: Emulator, fault: Fault, error: type[Exception]
) -> None:
    emulator.inject(fault)
    async with asgi_client(emulator) as http:
        with pytest.raises(error):
            await http.post(INVOKE, headers=AUTH, json={"input": {}, "isAsync": True})
    assert emulator.counters.total_invokes == (1 if fault.processed else 0)


async def test_http_faults_over_asgi(emulator: Emulator, clock: FakeClock) -> None:
    emulator.inject(
        Fault("rate_limit", retry_after=3),
        Fault("server_error", status=504),
        Fault("slow", delay=2.5),
        Fault("malformed_json", processed=True),
    )
    async with asgi_client(emulator) as http:
        limited = await http.post(INVOKE, headers=AUTH, json={"input": {}})
        gateway = await http.post(INVOKE, headers=AUTH, json={"input": {}})
        slow = await http.post(INVOKE, headers=AUTH, json={"input": {}})
        broken = await http.post(INVOKE, headers=AUTH, json={"input": {}})
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert gateway.status_code == 504
    assert slow.status_code == 200
    assert clock() == 2.5
    assert broken.status_code == 200
    assert broken.content.startswith(b'{"workflowId"')


async def test_lifespan_and_other_scopes(emulator: Emulator) -> None:
    app = EmulatorASGIApp(emulator)
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app({"type": "lifespan"}, receive, send)
    assert [message["type"] for message in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    await app({"type": "websocket"}, receive, send)
    assert len(sent) == 2


async def test_client_disconnect_before_body(emulator: Emulator) -> None:
    app = emulator.asgi_app()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": INVOKE, "headers": []}
    await app(scope, receive, send)
    assert sent == []
    assert emulator.counters.requests == 0
