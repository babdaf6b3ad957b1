"""Cancelling a wait stops it at once and leaves nothing behind (asyncio and trio).

A real loopback server is used here, not a mock: the point is the state of the real
connection pool after the cancellation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from flowinvoke import AsyncClient, RunStatus, WorkflowRun

from .loopback_support import pool_is_clean
from .policies import MILLISECOND_POLL
from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

pytestmark = pytest.mark.anyio


@dataclass
class LoopbackServer:
    """Answers invokes with PENDING and queries with RUNNING; from query number
    `hang_from` on, it reads the request and never answers."""

    hang_from: int = 3
    queries: int = 0
    port: int = 0
    hanging: anyio.Event = field(default_factory=anyio.Event)

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        buffered = BufferedByteReceiveStream(stream)
        async with stream:
            while True:
                try:
                    head = await buffered.receive_until(b"\r\n\r\n", 65536)
                except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError):
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await buffered.receive_exactly(length)
                if b"/query/result" in head.split(b"\r\n")[0]:
                    self.queries += 1
                    if self.queries >= self.hang_from:
                        self.hanging.set()
                        await anyio.sleep_forever()
                    body = gptbots_state("RUNNING")
                else:
                    body = GPTBOTS_ASYNC_ANSWER
                payload = json.dumps(body).encode()
                await stream.send(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + b"content-length: %d\r\n\r\n" % len(payload)
                    + payload
                )


@asynccontextmanager
async def serving() -> AsyncIterator[LoopbackServer]:
    state = LoopbackServer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    state.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, state.handle)
        yield state
        group.cancel_scope.cancel()


@pytest.mark.parametrize("operation", ["wait", "run", "watch"])
async def test_cancelling_a_wait_stops_polling_and_leaves_the_pool_clean(operation: str) -> None:
    seen: list[WorkflowRun] = []
    async with (
        serving() as server,
        AsyncClient(
            api_key="sk-test-key-1234",
            base_url=f"http://127.0.0.1:{server.port}",
            poll=MILLISECOND_POLL,
        ) as client,
    ):

        async def waiter() -> None:
            if operation == "wait":
                await client.wait("run-42", on_update=seen.append)
            elif operation == "run":
                await client.run({"a": 1}, on_update=seen.append)
            else:
                async for state in client.watch("run-42"):
                    seen.append(state)

        with anyio.CancelScope() as outer:
            async with anyio.create_task_group() as group:
                group.start_soon(waiter)
                await server.hanging.wait()  # a query is in flight now
                group.cancel_scope.cancel()
        assert not outer.cancelled_caught  # the cancellation stayed inside its own scope
        queries_at_cancel = server.queries
        await anyio.wait_all_tasks_blocked()
        await anyio.sleep(0.05)  # a poller that survived would have queried by now
        assert server.queries == queries_at_cancel
        assert pool_is_clean(client)
        assert seen and seen[-1].status in (RunStatus.PENDING, RunStatus.RUNNING)


async def test_the_library_never_swallows_cancellation() -> None:
    reached_after_wait = False
    async with (
        serving() as server,
        AsyncClient(
            api_key="sk-test-key-1234",
            base_url=f"http://127.0.0.1:{server.port}",
            poll=MILLISECOND_POLL,
        ) as client,
    ):
        with anyio.move_on_after(30) as guard, anyio.CancelScope() as scope:

            async def cancel_when_hanging() -> None:
                await server.hanging.wait()
                scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(cancel_when_hanging)
                await client.wait("run-42")
                reached_after_wait = True  # pragma: no cover - must not run
        assert scope.cancelled_caught
        assert not guard.cancelled_caught
        assert pool_is_clean(client)
    assert not reached_after_wait
