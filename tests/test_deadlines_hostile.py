"""Deadlines hold whatever the server does: drip-fed answers, hung headers, a full pool.

Each test runs on asyncio, trio and the blocking client against a real socket server
(tests/hostile_server.py). The promise is about time, so the checks are bound-style:
"returned within the deadline + 3 s". A server that drips one byte every tenth of a second
keeps every single read inside any read timeout; only a deadline on the whole request ends
it. The deadlines are short (a second) because waiting out a long one proves nothing more:
a broken client runs on for the whole drip (over ten seconds). The slack is wide because
the machine may be busy (threads, event loops and sockets to start and close).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from flowinvoke import APITimeoutError, AsyncClient, Client, WaitTimeoutError

from .hostile_server import Connection, HostileServer, http_answer
from .hostile_support import (
    FLAVOURS,
    INVOKE,
    KEY,
    NO_RETRY,
    PENDING,
    QUERY,
    SUCCEEDED,
    perform,
    stopwatch,
)
from .loopback_support import FAST_POLL

pytest.importorskip("httpx_aiohttp")

# "fast": asyncio with the aiohttp transport, which only cancellation can cut.
ALL = [*FLAVOURS, "fast"]

#: The seconds between two bytes of a drip-fed answer, and the deadline each test sets: an
#: answer of over a hundred bytes drips for over ten seconds, far past the deadline.
DRIP = 0.1
DEADLINE = 1.0
#: How much later than its deadline a call may return on a busy machine: still far less
#: than the drip-fed answer would last.
SLACK = 3.0


def dripping(where: str, *, only: str = "") -> Callable[[Connection], None]:
    """Answer each request (whose path contains `only`) one byte every `DRIP` seconds: the
    whole answer ("head") or only its body; other requests get a PENDING run at once."""

    def handle(connection: Connection) -> None:
        while (request := connection.read_request()) is not None:
            data = http_answer(PENDING)
            if only not in request.path:
                connection.send(data)
                continue
            if where == "body":
                head, _, data = data.partition(b"\r\n\r\n")
                if not connection.send(head + b"\r\n\r\n"):
                    return
            connection.drip(data, DRIP)

    return handle


def hanging(connection: Connection) -> None:
    if connection.read_request() is not None:
        connection.hang()


def _options(server: HostileServer, **extra: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "retry": NO_RETRY, "poll": FAST_POLL, **extra}


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize("where", ["head", "body", "hung"])
def test_a_misbehaving_start_answer_ends_run_at_its_deadline(flavour: str, where: str) -> None:
    handler = hanging if where == "hung" else dripping(where)
    with HostileServer(handler) as server:
        with stopwatch() as took, pytest.raises(APITimeoutError) as caught:
            perform(flavour, _options(server), "run", {"q": 1}, timeout=DEADLINE)
        assert len(server.requests_to(INVOKE)) == 1
    assert took() < DEADLINE + SLACK
    assert caught.value.may_have_started  # the start was sent: its answer never came
    assert KEY not in repr(caught.value) and KEY not in str(caught.value)


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize("operation", ["wait", "watch", "run", "run_many"])
@pytest.mark.parametrize("where", ["head", "body"])
def test_a_drip_fed_query_ends_the_wait_at_its_deadline(
    flavour: str, operation: str, where: str
) -> None:
    with HostileServer(dripping(where, only=QUERY)) as server:
        options = _options(server)
        with stopwatch() as took:
            if operation == "run_many":
                items = perform(
                    flavour, options, "run_many", [{"q": 1}, {"q": 2}], timeout=DEADLINE
                )
            else:
                subject = "run-42" if operation in ("wait", "watch") else {"q": 1}
                with pytest.raises(WaitTimeoutError) as caught:
                    perform(flavour, options, operation, subject, timeout=DEADLINE)
                assert caught.value.run_id == "run-42"
    assert took() < DEADLINE + SLACK
    if operation == "run_many":
        assert [type(item.error) for item in items] == [WaitTimeoutError] * 2


@pytest.mark.parametrize("flavour", ALL)
@pytest.mark.parametrize("operation", ["invoke", "get_run"])
@pytest.mark.parametrize(
    "timeout", [DEADLINE, httpx.Timeout(DEADLINE, connect=0.5)], ids=["float", "httpx"]
)
def test_the_client_timeout_bounds_a_whole_request(
    flavour: str, operation: str, timeout: Any
) -> None:
    """invoke() and get_run() have no wait deadline: the client's timeout bounds each
    request as a whole, the drip-fed body included (before, invoke never returned)."""
    with HostileServer(dripping("body")) as server:
        subject = {"q": 1} if operation == "invoke" else "run-42"
        with stopwatch() as took, pytest.raises(APITimeoutError):
            perform(flavour, _options(server, timeout=timeout), operation, subject)
    assert took() < DEADLINE + SLACK


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("pool", ["own", "yours"])
def test_a_full_pool_ends_run_at_its_deadline_and_the_start_is_never_sent_late(
    flavour: str, pool: str
) -> None:
    """The only connection is busy for 2 s: run(timeout=1) gives up after a second, before
    the connection frees up, says nothing started, and its start is not sent then."""
    freed: list[float] = []  # when the busy connection answered

    def handle(connection: Connection) -> None:
        while (request := connection.read_request()) is not None:
            if QUERY in request.path:
                connection.server.stopping.wait(2)
                freed.append(time.monotonic())
                connection.answer(SUCCEEDED)
            else:
                connection.answer(PENDING)

    with HostileServer(handle) as server:
        options = _options(server, max_connections=1)
        limits = httpx.Limits(max_connections=1)
        if flavour == "sync":
            with httpx.Client(limits=limits) as yours:
                if pool == "yours":
                    options = _options(server, http_client=yours)
                with Client(api_key=KEY, **options) as client:
                    busy = threading.Thread(target=client.get_run, args=("run-42",))
                    busy.start()
                    time.sleep(0.2)
                    with stopwatch() as took, pytest.raises(APITimeoutError) as caught:
                        client.run({"q": 1}, timeout=DEADLINE)
                    gave_up = time.monotonic()
                    busy.join(10)
        else:

            async def main() -> tuple[Callable[[], float], Any, float]:
                async with httpx.AsyncClient(limits=limits) as yours:
                    settings = _options(server, http_client=yours) if pool == "yours" else options
                    client = AsyncClient(api_key=KEY, **settings)
                    async with client, anyio.create_task_group() as group:
                        group.start_soon(client.get_run, "run-42")
                        await anyio.sleep(0.2)
                        with stopwatch() as took, pytest.raises(APITimeoutError) as caught:
                            await client.run({"q": 1}, timeout=DEADLINE)
                        gave_up = time.monotonic()
                return took, caught, gave_up

            took, caught, gave_up = anyio.run(main, backend=flavour)
        assert server.requests_to(INVOKE) == []  # not even after the connection freed up
    assert took() < DEADLINE + SLACK
    assert gave_up < freed[0]  # at its deadline, not once the connection came free
    assert not caught.value.may_have_started


@pytest.mark.parametrize("flavour", ["asyncio", "trio"])
@pytest.mark.parametrize("where", ["head", "body", "hung"])
def test_once_the_own_transport_has_shown_it_cuts_no_cancel_scope_is_needed(
    flavour: str, where: str
) -> None:
    """The async client leaves out its per-request cancel scope once its own transport has
    carried a request (every socket operation is then cut at the deadline, as the blocking
    client's are): a query that drips or hangs after that still ends the wait in time."""

    def handle(connection: Connection) -> None:
        while (request := connection.read_request()) is not None:
            if QUERY not in request.path:
                connection.answer(PENDING)
            elif where == "hung":
                connection.hang()
            elif where == "head":  # only the cut of each socket read can end this one
                connection.drip(http_answer(PENDING), DRIP)
            else:
                head, _, body = http_answer(PENDING).partition(b"\r\n\r\n")
                if connection.send(head + b"\r\n\r\n"):
                    connection.drip(body, DRIP)

    async def main() -> tuple[bool, Callable[[], float]]:
        async with AsyncClient(api_key=KEY, **_options(server)) as client:
            started = await client.invoke({"q": 1}, async_mode=True)
            unscoped = client._requester._cut_by_transport
            with stopwatch() as took, pytest.raises(WaitTimeoutError):
                await client.wait(started, timeout=DEADLINE)
        return unscoped, took

    with HostileServer(handle) as server:
        unscoped, took = anyio.run(main, backend=flavour)
    assert unscoped  # the path under test: no scope of the requester's own
    assert took() < DEADLINE + SLACK
