"""Waiting keeps its promises against servers that push back or answer oddly."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import typing
from collections import Counter
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import AsyncClient, PollPolicy, RateLimitError, RetryPolicy
from flowinvoke.testing import FakeClock

from ..seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state
from .conftest import PatchedClientClock
from .support import INVOKE_URL, KEY, QUERY_URL, make_client


class RateLimitWindow:
    """A GPTBots server that answers every query 429 for `seconds` of `clock`, with `hint`
    as its Retry-After (none when None), then the finished run; it counts queries per run."""

    def __init__(self, seconds: float, clock: FakeClock, hint: str | None = None) -> None:
        self.clock = clock
        self.ends = clock() + seconds
        self.hint = hint
        self.in_window: Counter[str] = Counter()
        self.after: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/invoke"):
            with self._lock:
                run_id = f"run-{next(self._ids)}"
            return httpx.Response(200, json={**GPTBOTS_ASYNC_ANSWER, "workflowRunId": run_id})
        run_id = json.loads(request.content)["workflowRunId"]
        with self._lock:
            limited = self.clock() < self.ends
            (self.in_window if limited else self.after)[run_id] += 1
        if limited:
            headers = {} if self.hint is None else {"Retry-After": self.hint}
            return httpx.Response(429, headers=headers, json={"code": 429, "message": "slow"})
        return httpx.Response(200, json=gptbots_state("SUCCEED", run_id))


@pytest.mark.anyio
async def test_a_429_window_makes_the_whole_client_back_off_together() -> None:
    """On fake time: the client and the server share one clock, which runs the hundred
    concurrent waits' sleeps in order, so the 5 s window costs no real time."""
    clock = FakeClock()
    # No hint here; `Retry-After: 0` and the like pause the same way (the test below).
    server = RateLimitWindow(5.0, clock)
    # The default schedules: 0.2 s polls would send ~25 queries per wait in 5 s on their own.
    with clock.install():
        async with AsyncClient(api_key=KEY, transport=httpx.MockTransport(server)) as client:
            items = await client.run_many([{"n": n} for n in range(100)], concurrency=100)
    assert clock() >= 5.0  # the waits outlasted the window on the fake clock
    # Every wait finished with its result.
    assert all(item.ok for item in items), [item.error for item in items if not item.ok][:3]
    # One shared cool-down of 1, 2, 4 s: at most about three queries each in the window
    # (the async client's waiter sends only as many at once as there are request slots,
    # so most of its waits send none there: tests/test_waiter.py).
    assert server.in_window
    assert max(server.in_window.values()) <= 5
    assert sum(server.in_window.values()) <= 100 * 4


@pytest.mark.anyio
@pytest.mark.parametrize("hint", ["0", "-3", "Thu, 01 Jan 1970 00:00:00 GMT"])
async def test_a_429_with_a_hint_of_nothing_pauses_as_if_it_had_none(
    hint: str, clock: PatchedClientClock
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": hint})
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=[limited, limited, *[limited] * 3])
        async with make_client(retry=RetryPolicy(max_retries=4, jitter=False)) as client:
            with pytest.raises(RateLimitError):
                await client.get_run("run-42")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # the cool-down, from 1 s, doubling


@pytest.mark.anyio
async def test_a_huge_retry_after_is_capped_where_callers_see_it() -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(429, headers={"Retry-After": "1000000000"})
        async with make_client(retry=RetryPolicy(max_retries=0)) as client:
            with pytest.raises(RateLimitError) as info:
                await client.get_run("run-42")
    assert info.value.retry_after == RetryPolicy().max_retry_after


@pytest.mark.anyio
async def test_a_pause_never_outlives_a_waits_deadline(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(429, headers={"Retry-After": "50"})
        async with make_client() as client:
            with pytest.raises(TimeoutError) as info:
                await client.wait("run-42", timeout=10)
    assert getattr(info.value, "run_id", None) == "run-42"
    assert sum(clock.sleeps) <= 10


@pytest.mark.anyio
async def test_one_hostile_item_is_its_own_error_and_the_batch_goes_on(
    clock: PatchedClientClock,
) -> None:
    """Whatever one input meets, even an exception flowinvoke does not know, stays on its
    item: the other runs and their ids are kept."""
    ids = itertools.count(1)

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/invoke"):
            run_id = f"run-{next(ids)}"
            return httpx.Response(200, json={**GPTBOTS_ASYNC_ANSWER, "workflowRunId": run_id})
        run_id = json.loads(request.content)["workflowRunId"]
        if run_id == "run-2":
            raise RuntimeError("a transport bug nobody foresaw")
        return httpx.Response(200, json=gptbots_state("SUCCEED", run_id))

    async with make_client(transport=httpx.MockTransport(server)) as client:
        items = await client.run_many([{"n": n} for n in range(3)], concurrency=1)
    assert [item.ok for item in items] == [True, False, True]
    assert isinstance(items[1].error, RuntimeError)
    assert [item.run_id for item in items if item.ok] == ["run-1", "run-3"]


@pytest.mark.anyio
async def test_debug_records_follow_a_run_with_structured_fields(
    clock: PatchedClientClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flowinvoke")
    answers = [
        httpx.Response(500),
        httpx.Response(200, json=gptbots_state("RUNNING")),
        httpx.Response(200, json=gptbots_state("RUNNING")),
    ]
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).mock(side_effect=answers)
        async with make_client() as client:
            with pytest.raises(TimeoutError):
                await client.run({"a": 1}, timeout=3)
    records = [r for r in caplog.records if r.name == "flowinvoke"]
    messages = [r.getMessage() for r in records]
    assert any("invoke answered: run run-42 PENDING" in m for m in messages)  # the start
    assert any("query answered: run run-42 RUNNING" in m for m in messages)  # each query
    assert any("retrying gptbots query" in m for m in messages)  # the retry
    assert any("run run-42 changed: RUNNING" in m for m in messages)  # the state change
    assert any("reached its deadline" in m for m in messages)  # the deadline
    for record in records:
        assert record.run_id == "run-42"  # type: ignore[attr-defined]
        assert record.provider == "gptbots"  # type: ignore[attr-defined]
        assert KEY not in record.getMessage()


def test_watch_and_as_completed_are_typed_as_closable_generators() -> None:
    """`aclosing(client.watch(...))` type-checks only if the return type has `aclose`."""
    for method in (AsyncClient.watch, AsyncClient.as_completed):
        returned = typing.get_type_hints(method)["return"]
        assert typing.get_origin(returned) is typing.get_origin(AsyncGenerator[Any, None])


@pytest.mark.anyio
async def test_a_poll_schedule_is_untouched_by_errors(clock: PatchedClientClock) -> None:
    """An error never shortens the next poll: the schedule goes on as if it had answered."""
    poll = PollPolicy(initial_delay=1.0, multiplier=2.0, max_interval=8.0, jitter=0, timeout=60)
    answers = [
        httpx.Response(200, json=gptbots_state("RUNNING")),
        httpx.Response(502),
        httpx.Response(200, json=gptbots_state("SUCCEED")),
    ]
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=answers)
        async with make_client(poll=poll, retry=RetryPolicy(max_retries=0)) as client:
            await client.wait("run-42")
    assert clock.sleeps == [1.0, 2.0]
