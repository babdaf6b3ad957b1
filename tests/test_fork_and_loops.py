"""A client across processes and event loops: a forked child never shares its parent's
connections; an async client used from a second loop while the first still has requests
in flight fails at once with a clear error instead of hanging.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from flowinvoke import AsyncClient, Client, ConfigurationError

from .hostile_server import Connection, HostileServer
from .hostile_support import KEY, QUERY, SUCCEEDED, stopwatch

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def numbering(connection: Connection) -> None:
    """Answer every request with the number of the connection it came on: a request sent
    over a connection another process also uses shows up as the same number."""
    while (request := connection.read_request()) is not None:
        answer = {**SUCCEEDED, "output": {"connection": connection.number}}
        if QUERY in request.path:
            run_id = json.loads(request.body)["workflowRunId"]
            connection.server.stopping.wait(float(run_id.split("-")[1]))
            answer["workflowRunId"] = run_id  # an answer about another run is refused
        connection.answer(answer)


def _in_child(report: Callable[[], Any]) -> Any:
    """Fork; the child runs `report` and sends its result (or error) back through a pipe."""
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which coverage does not follow
        os.close(reading)
        try:
            message = {"result": report()}
        except BaseException as error:  # every failure goes to the parent
            message = {"error": f"{type(error).__name__}: {error}"}
        os.write(writing, json.dumps(message).encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        received = pipe.read()
    os.waitpid(pid, 0)
    message = json.loads(received)
    assert "error" not in message, message["error"]
    return message["result"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads (3.12+)
def test_a_forked_child_never_reuses_the_parents_connections_sync() -> None:
    with (
        HostileServer(numbering) as server,
        Client(api_key=KEY, base_url=server.base_url) as client,
    ):

        def asked() -> int:
            return int(client.get_run("run-0").output["connection"])

        assert asked() == 0  # the parent's connection, now idle in its pool
        assert _in_child(asked) != 0
        assert asked() == 0  # the parent still has its own


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_never_reuses_the_parents_connections_async() -> None:
    with HostileServer(numbering) as server:
        client = AsyncClient(api_key=KEY, base_url=server.base_url)

        async def ask() -> int:
            return int((await client.get_run("run-0")).output["connection"])

        def in_a_new_loop() -> int:  # the child forked inside a running loop starts its own
            box: dict[str, int] = {}
            thread = threading.Thread(target=lambda: box.update(n=anyio.run(ask)))
            thread.start()
            thread.join(10)
            return box["n"]

        async def parent() -> list[int]:
            async with client:
                first = await ask()
                child = _in_child(in_a_new_loop)
                return [first, child, await ask()]

        first, child, again = anyio.run(parent)
    assert (first, again) == (0, 0)
    assert child != 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_second_event_loop_fails_at_once_while_the_first_has_requests(backend: str) -> None:
    """Before: the second loop waited forever in the request-slot queue for a slot the
    first loop's thread released, its deadline ignored."""
    with HostileServer(numbering) as server:
        client = AsyncClient(api_key=KEY, base_url=server.base_url, max_connections=1)
        first_in_flight = threading.Event()
        second_done = threading.Event()
        outcome: dict[str, Any] = {}

        async def first_loop() -> None:
            async with client, anyio.create_task_group() as group:
                group.start_soon(client.get_run, "run-3")  # answered after 3 s
                await anyio.sleep(0.2)
                first_in_flight.set()
                # The request stays in flight all along the second loop's try.
                await anyio.to_thread.run_sync(second_done.wait, 10)
                group.cancel_scope.cancel()

        async def second_loop() -> None:
            with stopwatch() as took:
                try:
                    await client.wait("run-0", timeout=2)
                except ConfigurationError as error:
                    outcome["error"] = error
                finally:
                    second_done.set()
            outcome["took"] = took

        first = threading.Thread(target=anyio.run, args=(first_loop,), kwargs={"backend": backend})
        first.start()
        assert first_in_flight.wait(5)
        second = threading.Thread(
            target=anyio.run, args=(second_loop,), kwargs={"backend": backend}
        )
        second.start()
        second.join(10)
        first.join(10)
        assert not second.is_alive()
        assert "another event loop" in str(outcome.get("error"))
        assert outcome["took"]() < 1


@pytest.mark.parametrize("backend", ["trio"])
def test_a_new_loop_may_take_over_a_client_once_the_old_one_is_done(backend: str) -> None:
    """Sequential loops are not "another loop in use": the slots pass to the new loop.
    (On asyncio the pooled connections stay tied to the closed loop, as before: not
    supported, and documented.)"""
    with HostileServer(numbering) as server:
        client = AsyncClient(api_key=KEY, base_url=server.base_url)

        async def ask() -> str:
            return str((await client.get_run("run-0")).status.value)

        assert anyio.run(ask, backend=backend) == anyio.run(ask, backend=backend)
        anyio.run(client.aclose, backend=backend)
