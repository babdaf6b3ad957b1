"""The async client behaves the same on httpx's own transport and on the fast one.

Over a real socket (the emulator behind uvicorn on loopback), because what differs between
transports is what they raise when the network misbehaves; the safety of the retry rules
depends on telling "nothing was sent" from "sent, answer lost".
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest

from flowinvoke import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    ConfigurationError,
    PollPolicy,
    RetryPolicy,
    RunStatus,
)
from flowinvoke.testing import Emulator, Fault, LoopbackServer, Workflow

from .loopback_support import FAST_POLL, FAST_RETRY

pytest.importorskip("uvicorn")
pytest.importorskip("httpx_aiohttp")

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    emulator = Emulator(
        [Workflow(id="wf-poll", api_key="key-poll", polls=2), Workflow(id="wf-q", api_key="key-q")]
    )
    with LoopbackServer(emulator) as loopback:
        yield loopback


@pytest.fixture(autouse=True)
def _no_leftover_faults(server: LoopbackServer) -> Iterator[None]:
    yield
    server.emulator.clear_faults()


#: Every event loop with every transport it can use: the fast one serves asyncio only.
on_each_transport = pytest.mark.parametrize(
    ("anyio_backend", "fast"),
    [
        pytest.param("asyncio", False, id="asyncio-own"),
        pytest.param("asyncio", True, id="asyncio-fast"),
        pytest.param("trio", False, id="trio-own"),
    ],
)


def _client(server: LoopbackServer, workflow: str, fast: bool, **options: Any) -> AsyncClient:
    settings: dict[str, Any] = {"retry": FAST_RETRY, "poll": FAST_POLL, "fast_transport": fast}
    return server.async_client(workflow, **{**settings, **options})


def _engine(client: AsyncClient) -> str:
    transport: Any = client._http._transport
    return type(getattr(transport, "_inner", transport)).__name__


@on_each_transport
async def test_a_run_end_to_end(server: LoopbackServer, fast: bool) -> None:
    seen: list[RunStatus] = []
    async with _client(server, "wf-poll", fast) as client:
        run = await client.run({"case": "e2e"}, on_update=lambda r: seen.append(r.status))
        assert _engine(client) == ("AiohttpTransport" if fast else "AsyncHTTPTransport")
    assert run.succeeded
    assert seen[0] is RunStatus.PENDING
    assert RunStatus.RUNNING in seen
    assert seen[-1] is RunStatus.SUCCEEDED


@on_each_transport
async def test_a_query_cut_mid_answer_is_retried(server: LoopbackServer, fast: bool) -> None:
    fault = Fault("disconnect", operation="query", workflow="wf-poll", processed=True)
    server.emulator.inject(fault)
    async with _client(server, "wf-poll", fast) as client:
        run = await client.run({"case": "cut-query"})
    assert run.succeeded
    assert server.emulator.pending_faults() == ()


@on_each_transport
@pytest.mark.parametrize("kind", ["disconnect", "reset"])
async def test_a_start_cut_after_sending_is_not_retried(
    server: LoopbackServer, fast: bool, kind: Any
) -> None:
    inputs = {"case": "cut-start", "id": os.urandom(4).hex()}
    server.emulator.inject(Fault(kind, operation="invoke", workflow="wf-poll", processed=True))
    async with _client(server, "wf-poll", fast) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.run(inputs)
    assert caught.value.may_have_started
    assert server.emulator.counters.invokes_for_input(inputs) == 1  # started once, not twice


@on_each_transport
async def test_a_refused_connection_is_retried_and_says_nothing_started(fast: bool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    client = AsyncClient(
        api_key="key-q",
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.001),
        fast_transport=fast,
    )
    async with client:
        with pytest.raises(APIConnectionError) as caught:
            await client.invoke({"case": "refused"})
    assert not caught.value.may_have_started
    assert "ConnectError" in str(caught.value)


@on_each_transport
async def test_a_slow_answer_meets_the_read_timeout(server: LoopbackServer, fast: bool) -> None:
    server.emulator.inject(Fault("slow", operation="invoke", workflow="wf-q", delay=2.0))
    retry = RetryPolicy(max_retries=0)
    async with _client(server, "wf-q", fast, timeout=0.2, retry=retry) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.invoke({"case": "slow"})
    assert caught.value.may_have_started


@on_each_transport
async def test_cancelling_a_wait_sends_nothing_more(
    server: LoopbackServer, fast: bool, anyio_backend: str
) -> None:
    emulator = server.emulator
    slow = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0)
    name = f"wf-forever-{anyio_backend}-{fast}"
    emulator.add_workflow(Workflow(id=name, api_key=f"key-{name}", polls=10**9))
    async with _client(server, name, fast, poll=slow) as client:
        started = await client.invoke({"case": "cancel"}, async_mode=True)
        assert started.id is not None
        with anyio.move_on_after(0.2):
            await client.wait(started)
        await anyio.sleep(0.05)  # a query sent just before the cancel may still land
        queries = emulator.run(started.id).queries
        assert queries > 0
        await anyio.sleep(0.1)  # a poller that survived would query every 10 ms
        assert emulator.run(started.id).queries == queries


async def test_the_default_is_httpx_own_transport_even_with_the_fast_extra(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOWINVOKE_FAST_TRANSPORT", raising=False)
    async with server.async_client("wf-q", retry=FAST_RETRY) as client:
        await client.invoke({"case": "default"})
        assert _engine(client) == "AsyncHTTPTransport"


def test_the_fast_transport_imports_aiohttp_when_the_client_is_built() -> None:
    """Not at the first request, inside the running loop, where the import stalled every
    request in flight."""
    client = AsyncClient(api_key="k", fast_transport=True)
    assert _engine(client) == "AiohttpTransport"
    assert "aiohttp" in sys.modules


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_insisting_on_the_fast_transport_under_trio_is_a_configuration_error(
    server: LoopbackServer,
) -> None:
    async with _client(server, "wf-q", True) as client:
        with pytest.raises(ConfigurationError, match="asyncio"):
            await client.invoke({"case": "trio"})


def test_the_blocking_client_refuses_the_fast_transport() -> None:
    from flowinvoke import Client

    with pytest.raises(ConfigurationError, match="async client"):
        Client(api_key="k", fast_transport=True)


def test_the_env_flag_must_be_a_yes_or_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWINVOKE_FAST_TRANSPORT", "maybe")
    with pytest.raises(ConfigurationError, match="FLOWINVOKE_FAST_TRANSPORT"):
        AsyncClient(api_key="k")
    monkeypatch.setenv("FLOWINVOKE_FAST_TRANSPORT", "yes")
    assert _engine(AsyncClient(api_key="k")) == "AiohttpTransport"
    assert _engine(AsyncClient(api_key="k", fast_transport=False)) == "AsyncHTTPTransport"
    monkeypatch.setenv("FLOWINVOKE_FAST_TRANSPORT", "0")
    assert _engine(AsyncClient(api_key="k")) == "AsyncHTTPTransport"


@on_each_transport
async def test_a_start_whose_connection_closes_before_any_answer_is_not_retried(
    fast: bool,
) -> None:
    """The server reads the whole request, then closes without a byte of answer: the
    run may exist, so the start must not be repeated (aiohttp calls this
    ServerDisconnectedError, which httpx-aiohttp alone would report as a connect timeout)."""
    received: list[bytes] = []

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            received.append(await stream.receive())

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, handle)
        client = AsyncClient(
            api_key="key-q", base_url=f"http://127.0.0.1:{port}", fast_transport=fast
        )
        async with client:
            with pytest.raises(APIConnectionError) as caught:
                await client.invoke({"case": "silent close"})
        group.cancel_scope.cancel()
    assert caught.value.may_have_started
    assert len(received) == 1


async def test_respx_intercepts_a_default_client_with_the_fast_extra_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No environment variable, no argument: the default transport is the one respx mocks
    (before, a user's test reached the real server with the real key)."""
    import respx

    monkeypatch.delenv("FLOWINVOKE_FAST_TRANSPORT", raising=False)
    body = {"workflowRunId": "r-1", "status": "SUCCEED", "output": {"answer": 42}}
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url__regex=r".*").respond(200, json=body)
        async with AsyncClient(api_key="sk-never-sent") as client:
            run = await client.invoke({"q": 1})
    assert route.called
    assert run.id == "r-1"
