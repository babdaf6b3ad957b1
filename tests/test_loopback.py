"""The clients against the emulator over a real socket (`LoopbackServer`, uvicorn).

What the in-process transport cannot show: connections kept alive across requests,
TCP_NODELAY on the server's sockets, a connection cut in the middle of an answer, and a
read timeout on a slow answer. One server serves the whole module; each test uses its own
workflow or input, and scripted faults are cleared after every test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowinvoke import (
    APIConnectionError,
    APITimeoutError,
    RetryPolicy,
    RunStatus,
)
from flowinvoke.testing import (
    DEMO_KEYS,
    Emulator,
    Fault,
    LoopbackServer,
    Workflow,
    serve,
)

from .policies import MILLISECOND_POLL, MILLISECOND_RETRY

pytest.importorskip("uvicorn")

FAST: dict[str, Any] = {"retry": MILLISECOND_RETRY, "poll": MILLISECOND_POLL}


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    emulator = Emulator(
        [
            Workflow(id="wf-poll", api_key="key-poll", polls=2),
            Workflow(id="wf-quick", api_key="key-quick"),
            Workflow(id="wf_story", api_key="key-story", provider="aitutor"),
        ]
    )
    with LoopbackServer(emulator) as loopback:
        yield loopback


@pytest.fixture(autouse=True)
def _no_leftover_faults(server: LoopbackServer) -> Iterator[None]:
    yield
    server.emulator.clear_faults()


def test_base_url_and_port(server: LoopbackServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert server.base_url in repr(server)


@pytest.mark.anyio
async def test_an_async_run_end_to_end(server: LoopbackServer) -> None:
    seen: list[RunStatus] = []
    async with server.async_client("wf-poll", **FAST) as client:
        run = await client.run({"case": "async"}, on_update=lambda r: seen.append(r.status))
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == {"echo": {"case": "async"}}
    assert seen[0] is RunStatus.PENDING
    assert RunStatus.RUNNING in seen
    assert server.emulator.run(run.id or "").queries == 3


def test_a_sync_run_end_to_end(server: LoopbackServer) -> None:
    with server.client("wf-poll", **FAST) as client:
        run = client.run({"case": "sync"})
    assert run.succeeded
    with server.client("wf_story", **FAST) as client:
        story = client.run({"topic": "owls"})
    assert story.provider == "aitutor"
    assert story.output == {"echo": {"topic": "owls"}}


def test_requests_reuse_one_kept_alive_connection(server: LoopbackServer) -> None:
    before = server.connections
    requests_before = server.emulator.counters.requests
    with server.client("wf-poll", **FAST) as client:
        for n in range(5):
            client.run({"keep-alive": n})  # 1 start + 3 queries each
    assert server.emulator.counters.requests - requests_before == 20
    assert server.connections - before == 1


@pytest.mark.anyio
async def test_async_requests_reuse_one_kept_alive_connection(server: LoopbackServer) -> None:
    before = server.connections
    async with server.async_client("wf-quick", **FAST) as client:
        for n in range(5):
            await client.invoke({"keep-alive-async": n})
    assert server.connections - before == 1


def test_the_server_sockets_have_tcp_nodelay(server: LoopbackServer) -> None:
    # uvicorn sets nothing itself: asyncio sets TCP_NODELAY on every TCP transport it
    # creates, and LoopbackServer sets it on the listening socket too. Read it back from
    # the accepted socket while the connection is open.
    with server.client("wf-quick", **FAST) as client:
        client.invoke({"nodelay": 1})
        connections = list(server._thread.server.server_state.connections)  # type: ignore[union-attr]
        assert connections
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_query_cut_mid_answer_is_retried(server: LoopbackServer) -> None:
    server.emulator.inject(
        Fault("disconnect", operation="query", workflow="wf-poll", processed=True)
    )
    with server.client("wf-poll", **FAST) as client:
        run = client.run({"case": "cut-query"})
    assert run.succeeded
    assert server.emulator.pending_faults() == ()


@pytest.mark.anyio
async def test_a_start_cut_mid_answer_is_not_retried(server: LoopbackServer) -> None:
    inputs = {"case": "cut-start", "id": os.urandom(4).hex()}
    server.emulator.inject(
        Fault("disconnect", operation="invoke", workflow="wf-poll", processed=True)
    )
    async with server.async_client("wf-poll", **FAST) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.run(inputs)
    assert caught.value.may_have_started
    assert "RemoteProtocolError" in str(caught.value)
    assert server.emulator.counters.invokes_for_input(inputs) == 1


def test_a_slow_answer_meets_the_client_timeout(server: LoopbackServer) -> None:
    server.emulator.inject(Fault("slow", operation="invoke", workflow="wf-quick", delay=2.0))
    retry = RetryPolicy(max_retries=0)
    started = time.monotonic()
    with (
        server.client("wf-quick", timeout=0.2, retry=retry) as client,
        pytest.raises(APITimeoutError) as caught,
    ):
        client.invoke({"case": "slow"})
    assert time.monotonic() - started < 1.5
    assert caught.value.may_have_started  # the request was sent: the run may exist


def test_non_loopback_hosts_are_refused() -> None:
    emulator = Emulator()
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            LoopbackServer(emulator, host=host)
        with pytest.raises(ValueError, match="loopback"):
            serve(emulator, host=host)
    for host in ("127.0.0.1", "::1", "[::1]", "localhost", "emulator.localhost"):
        LoopbackServer(emulator, host=host)  # accepted (not started)


def test_an_unstarted_server_has_no_address() -> None:
    loopback = LoopbackServer(Emulator())
    assert "not started" in repr(loopback)
    with pytest.raises(RuntimeError, match="not started"):
        _ = loopback.base_url
    loopback.close()  # closing an unstarted server is harmless


def test_a_server_cannot_be_started_twice() -> None:
    with LoopbackServer(Emulator()) as loopback, pytest.raises(RuntimeError, match="already"):
        loopback.start()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_serve_blocks_until_ctrl_c_and_prints_nothing() -> None:
    port = _free_port()
    code = (
        f"from flowinvoke.testing import demo_emulator, serve; serve(demo_emulator(), port={port})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        answer = None
        deadline = time.monotonic() + 10
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/v1/workflow/invoke",
                    headers={"Authorization": f"Bearer {DEMO_KEYS['demo-quick']}"},
                    json={"input": {"text": "hi"}},
                    timeout=1,
                )
            except httpx.ConnectError:
                time.sleep(0.05)
        assert answer is not None
        assert answer.json()["status"] == "SUCCEED"
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0
    assert stdout == b""
    assert stderr == b""


def test_serve_raises_oserror_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):  # noqa: PT011 - the errno differs between systems
            serve(Emulator(), port=taken.getsockname()[1])
