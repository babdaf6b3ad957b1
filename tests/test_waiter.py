"""The async client's waiter: every wait an entry in one schedule per client and loop.

All on `FakeClock` (the client and the emulator share it), through the public API, on
asyncio and trio. The blocking client keeps a loop per wait (see docs/architecture.md);
what it shares with the async one is tested in tests/_async.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from flowinvoke import AsyncClient, PollPolicy, RunStatus, WaitTimeoutError, WorkflowRun
from flowinvoke.testing import Emulator, FakeClock, Fault, Workflow

from ._async.test_waiting_promises import RateLimitWindow
from .seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state

KEY = "sk-waiter-7f3a91"
FIXED = PollPolicy(initial_delay=1.0, multiplier=1.0, max_interval=1.0, jitter=0)
# A real-time guard only: a wait that nobody's clock wakes would hang the test instead.
GUARD = 60


def _emulator(clock: FakeClock, duration: float = 30.0) -> Emulator:
    return Emulator([Workflow(id="wf", api_key=KEY, duration=duration)], clock=clock)


def _schedules(client: AsyncClient) -> dict[int, Any]:
    """The client's live schedules (one per event loop with waits in it)."""
    schedules: dict[int, Any] = client._waiter._schedules
    return schedules


@pytest.mark.anyio
async def test_a_hundred_waits_on_one_run_send_the_queries_of_one() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    results: list[WorkflowRun] = []
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=FIXED) as client:
            shared = await client.invoke({"n": 1}, async_mode=True)
            alone = await client.invoke({"n": 2}, async_mode=True)
            assert shared.id is not None and alone.id is not None

            async def wait(run_id: str) -> None:
                results.append(await client.wait(run_id))

            async with anyio.create_task_group() as group:
                group.start_soon(client.wait, alone.id)
                for _ in range(100):
                    group.start_soon(wait, shared.id)
            assert _schedules(client) == {}  # the last wait to leave dropped the entry
    queries = emulator.counters.queries
    assert queries[shared.id] == queries[alone.id] <= 32  # a query a second for 30 s
    assert len(results) == 100
    assert all(run.status is RunStatus.SUCCEEDED and run == results[0] for run in results)


@pytest.mark.anyio
async def test_waits_on_one_run_keep_their_own_deadlines() -> None:
    clock = FakeClock()
    emulator = _emulator(clock)
    outcomes: dict[float, WorkflowRun | WaitTimeoutError] = {}
    ended_at: dict[float, float] = {}
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=FIXED) as client:
            run = await client.invoke({"n": 1}, async_mode=True)
            assert run.id is not None
            run_id = run.id

            async def wait(seconds: float) -> None:
                try:
                    outcomes[seconds] = await client.wait(run_id, timeout=seconds)
                except WaitTimeoutError as error:
                    outcomes[seconds] = error
                ended_at[seconds] = clock()

            async with anyio.create_task_group() as group:
                for timeout in (5.0, 15.0, 60.0):
                    group.start_soon(wait, timeout)
    for timeout in (5.0, 15.0):
        error = outcomes[timeout]
        assert isinstance(error, WaitTimeoutError)
        assert error.run_id == run_id
        assert error.last_run is not None and error.last_run.status is RunStatus.RUNNING
        assert ended_at[timeout] == pytest.approx(timeout)
    last = outcomes[60.0]
    assert isinstance(last, WorkflowRun) and last.status is RunStatus.SUCCEEDED
    assert 30.0 <= ended_at[60.0] <= 31.0
    # The shorter deadlines left the run's queries alone: one a second throughout.
    assert emulator.counters.queries[run_id] <= 32


@pytest.mark.parametrize("seconds", [3.5, 4.0])
@pytest.mark.anyio
async def test_a_runs_only_wait_times_out_at_its_deadline_through_the_runs_own_item(
    seconds: float,
) -> None:
    """An entry with one wait keeps no heap item for the wait's deadline (100,000 waits:
    one item each, not two): the entry is never due past it and times the wait out when
    it is. A deadline equal to a due time (4 s, a poll a second) sends no query then."""
    clock = FakeClock()
    emulator = _emulator(clock)
    items: list[int] = []
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=FIXED) as client:
            run = await client.invoke({"n": 1}, async_mode=True)
            assert run.id is not None

            async def count_items() -> None:
                await clock.async_sleep(1.5)
                (schedule,) = _schedules(client).values()
                items.append(len(schedule.heap))

            async with anyio.create_task_group() as group:
                group.start_soon(count_items)
                with pytest.raises(WaitTimeoutError) as caught:
                    await client.wait(run, timeout=seconds)
                assert clock() == pytest.approx(seconds)
    assert caught.value.run_id == run.id
    assert items == [1]  # the entry's due time alone
    assert emulator.counters.queries[run.id] == 3  # at 1, 2 and 3 s; none at the deadline


@pytest.mark.anyio
async def test_a_cancelled_wait_sends_no_further_query_and_leaves_nothing() -> None:
    clock = FakeClock()
    emulator = _emulator(clock, duration=3600.0)
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=FIXED) as client:
            run = await client.invoke({"n": 1}, async_mode=True)
            assert run.id is not None
            async with anyio.create_task_group() as group:
                group.start_soon(client.wait, run)
                await clock.async_sleep(5.5)
                sent = emulator.counters.queries[run.id]
                group.cancel_scope.cancel()
            assert _schedules(client) == {}
            await clock.async_sleep(60.0)
    assert sent == 5  # at 1, 2, 3, 4 and 5 s
    assert emulator.counters.queries[run.id] == sent


@pytest.mark.anyio
async def test_the_clock_passes_on_when_its_keeper_is_cancelled() -> None:
    """The first wait to sleep keeps the clock for all; cancelling it must not leave the
    others asleep with no one to wake them."""
    clock = FakeClock()
    emulator = _emulator(clock)
    finished: list[WorkflowRun] = []
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=FIXED) as client:
            runs = [await client.invoke({"n": n}, async_mode=True) for n in range(4)]

            async def wait(run: WorkflowRun) -> None:
                finished.append(await client.wait(run))

            async with anyio.create_task_group() as group:
                with anyio.CancelScope() as first:  # the keeper: the first to sleep
                    async with anyio.create_task_group() as keeper:
                        keeper.start_soon(wait, runs[0])
                        await anyio.lowlevel.checkpoint()  # it parks (and takes the clock) first
                        for run in runs[1:]:
                            group.start_soon(wait, run)
                        await clock.async_sleep(3.5)
                        first.cancel()
    assert first.cancelled_caught
    assert len(finished) == 3
    assert all(run.status is RunStatus.SUCCEEDED for run in finished)
    assert 30.0 <= clock() <= 31.0


@pytest.mark.anyio
async def test_queries_go_out_in_due_order_no_more_at_once_than_request_slots() -> None:
    """Two request slots, a server that takes 1 s to answer and 20 runs due at various
    times: the server sees each query in the order it fell due, never more than two at
    once, and no query waits inside the transport for a slot."""
    clock = FakeClock()
    in_flight, most = 0, 0
    arrivals: list[tuple[float, str]] = []

    async def server(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        if request.url.path.endswith("/invoke"):
            number = len(arrivals)
            arrivals.append((clock(), "start"))
            body = {**GPTBOTS_ASYNC_ANSWER, "workflowRunId": f"run-{number:02d}"}
            return httpx.Response(200, json=body)
        run_id = request.read().decode().split('"workflowRunId":')[1].split('"')[1]
        arrivals.append((clock(), run_id))
        in_flight += 1
        most = max(most, in_flight)
        await clock.async_sleep(1.0)
        in_flight -= 1
        return httpx.Response(200, json=gptbots_state("SUCCEED", run_id))

    # Run n falls due at 0.5 + (n * 7 % 20) / 10 s: an order unlike the start order.
    def policy(n: int) -> PollPolicy:
        delay = 0.5 + (n * 7 % 20) / 10
        return PollPolicy(initial_delay=delay, multiplier=1.0, max_interval=delay, jitter=0)

    with clock.install(), anyio.fail_after(GUARD):
        transport = httpx.MockTransport(server)
        async with AsyncClient(api_key=KEY, transport=transport, max_connections=2) as client:
            runs = [await client.invoke({"n": n}, async_mode=True) for n in range(20)]
            async with anyio.create_task_group() as group:
                for n, run in enumerate(runs):
                    group.start_soon(_wait_with, client.wait, run, policy(n))
    queried = [run_id for _, run_id in arrivals if run_id != "start"]
    due = sorted(range(20), key=lambda n: (n * 7 % 20, n))
    assert queried == [f"run-{n:02d}" for n in due]
    assert most == 2


async def _wait_with(wait: Callable[..., Any], run: WorkflowRun, poll: PollPolicy) -> None:
    await wait(run, poll=poll)


class _Recording(httpx.AsyncBaseTransport):
    """The emulator's transport, noting when each run was queried (on the fake clock)."""

    def __init__(self, emulator: Emulator, clock: FakeClock) -> None:
        self._inner = emulator.transport()
        self._clock = clock
        self.queried: dict[str, list[float]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/invoke"):
            run_id = json.loads(request.read())["workflowRunId"]
            self.queried.setdefault(run_id, []).append(self._clock())
        return await self._inner.handle_async_request(request)


@pytest.mark.anyio
async def test_a_burst_is_spread_over_the_learned_window_and_never_past_a_deadline() -> None:
    """Runs of a workflow learned to take 10 s, 200 started together: their first queries
    land spread over the step before the learned end, and a wait whose deadline comes
    first sends nothing past it."""
    clock = FakeClock()
    emulator = _emulator(clock, duration=10.0)
    recording = _Recording(emulator, clock)
    timed_out: list[WaitTimeoutError] = []
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", transport=recording) as client:
            warm = await client.run_many([{"warm": n} for n in range(8)], concurrency=8)
            assert all(item.ok for item in warm)
            start = clock()
            runs = [await client.invoke({"n": n}, async_mode=True) for n in range(200)]
            assert clock() == start  # started together

            async def wait(run: WorkflowRun, seconds: float | None) -> None:
                try:
                    await client.wait(run, timeout=seconds)
                except WaitTimeoutError as error:
                    timed_out.append(error)

            async with anyio.create_task_group() as group:
                for n, run in enumerate(runs):
                    group.start_soon(wait, run, 9.7 if n % 2 else None)
    assert len(timed_out) == 100  # the runs last 10 s: a 9.7 s deadline ends first
    assert all(error.run_id for error in timed_out)
    firsts = [recording.queried[run.id][0] - start for run in runs if run.id in recording.queried]
    capped = [recording.queried.get(str(run.id), []) for n, run in enumerate(runs) if n % 2]
    # Nothing was sent past a deadline; the first queries fell in the learned window (the
    # step of 0.4 s before the 10 s end, warm-up noise aside), spread over it.
    assert all(at - start <= 9.7 for times in capped for at in times)
    assert min(firsts) >= 9.0
    assert max(firsts) <= 10.0
    assert len({round(at, 3) for at in firsts}) >= 50


@pytest.mark.anyio
async def test_the_first_runs_of_a_cold_workflow_to_end_bring_the_others_queries_forward() -> None:
    """Three groups of 10 s runs on a cold client, started at 0, 0.5 and 3 s. The first
    group is seen at the plain schedule's 11.28 s. What it teaches reaches the waits
    already under way: the second group, which slept through the learned landing, is
    queried within a step (0.4 s) instead of at its own 11.28 s; the third lands on the
    learned end instead of passing it. Without re-planning both would lag 1.28 s."""
    clock = FakeClock()
    emulator = _emulator(clock, duration=10.0)
    recording = _Recording(emulator, clock)
    policy = PollPolicy(jitter=0, timeout=600)  # the default schedule, without its jitter
    group_of: dict[str, float] = {}
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", transport=recording, poll=policy) as client:
            origin = clock()

            async def run(started: float) -> None:
                group_of[str((await client.run({"at": started})).id)] = started

            async with anyio.create_task_group() as group:
                for started in (0.0, 0.5, 3.0):
                    await clock.async_sleep(max(0.0, origin + started - clock()))
                    for _ in range(10):
                        group.start_soon(run, started)
    lags: dict[float, list[float]] = {0.0: [], 0.5: [], 3.0: []}
    for run_id, started in group_of.items():
        lags[started].append(recording.queried[run_id][-1] - (emulator.run(run_id).ended_at or 0))
    assert all(abs(lag - 1.277) < 0.01 for lag in lags[0.0]), lags[0.0]  # the plain schedule
    assert all(0.7 < lag < 0.78 + 0.4 + 0.01 for lag in lags[0.5]), lags[0.5]  # caught up
    assert all(0 <= lag <= 0.4 for lag in lags[3.0]), lags[3.0]  # landed on the end
    # Nothing was wasted before the learned landing: after the query it had planned for
    # 8.52 s already (a query is brought forward, never put off), the third group's
    # queries come no earlier than the step before 10 s.
    third = [recording.queried[run_id] for run_id, at in group_of.items() if at == 3.0]
    late = [at - origin - 3.0 for times in third for at in times if at - origin - 3.0 > 8.53]
    assert late and min(late) >= 9.6 - 0.01, late


class _HintedSlowRun:
    """GPTBots on the fake clock: the first `quick` runs last 2 s; the next lasts 10 s and
    answers every query that sees it running with `Retry-After: 4`."""

    def __init__(self, clock: FakeClock, quick: int) -> None:
        self.clock = clock
        self.quick = quick
        self.started: dict[str, float] = {}
        self.queried: dict[str, list[float]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/invoke"):
            run_id = f"r{len(self.started)}"
            self.started[run_id] = self.clock()
            return httpx.Response(200, json={**GPTBOTS_ASYNC_ANSWER, "workflowRunId": run_id})
        run_id = json.loads(request.content)["workflowRunId"]
        self.queried.setdefault(run_id, []).append(self.clock())
        lasts = 2.0 if int(run_id[1:]) < self.quick else 10.0
        if self.clock() - self.started[run_id] < lasts:
            hint = {} if lasts == 2.0 else {"Retry-After": "4"}
            return httpx.Response(200, headers=hint, json=gptbots_state("RUNNING", run_id))
        return httpx.Response(200, json=gptbots_state("SUCCEED", run_id))


@pytest.mark.anyio
async def test_a_re_planned_query_still_waits_out_the_servers_hint() -> None:
    """Ten 2 s runs teach their workflow's duration while a run of the same workflow waits
    out a `Retry-After: 4` its server sent: the re-plan would query it at once (it slept
    through the learned landing), but the hint holds, as it does for every query."""
    clock = FakeClock()
    server = _HintedSlowRun(clock, quick=10)
    policy = PollPolicy(jitter=0, timeout=600)
    with clock.install(), anyio.fail_after(GUARD):
        async with AsyncClient(
            api_key=KEY, transport=httpx.MockTransport(server), poll=policy
        ) as client:
            items = await client.run_many([{"n": n} for n in range(11)], concurrency=11)
            assert all(item.ok for item in items)
            (learned,) = client.run_durations.snapshot()
    assert learned.estimate.warm  # the quick runs taught it, while the slow one waited
    slow = server.queried["r10"]
    assert len(slow) >= 3
    assert all(later - earlier > 4.0 - 1e-6 for earlier, later in itertools.pairwise(slow)), slow


@pytest.mark.anyio
async def test_a_429_window_meets_only_as_many_queries_as_there_are_request_slots() -> None:
    """100 runs due together during a 5 s window of 429s: the waiter sends 10 queries (the
    request slots), which wait out the shared cool-down; the other 90 waits are never sent
    into the window, and every wait still ends with its result."""
    clock = FakeClock()
    server = RateLimitWindow(5.0, clock)
    with clock.install(), anyio.fail_after(GUARD):
        async with AsyncClient(api_key=KEY, transport=httpx.MockTransport(server)) as client:
            items = await client.run_many([{"n": n} for n in range(100)], concurrency=100)
    assert all(item.ok for item in items)
    assert 0 < len(server.in_window) <= 10
    assert sum(server.in_window.values()) <= 10 * 4


@pytest.mark.anyio
async def test_a_run_whose_query_was_cut_off_is_queried_by_a_wait_parked_with_no_keeper() -> None:
    """The clock keeper finishes and leaves while the only other parked wait's run has its
    query in flight; that query is then cancelled with its wait. The run falls due again,
    and the parked wait must be woken to keep the clock and send it."""
    clock = FakeClock()
    emulator = _emulator(clock, duration=2.0)
    endless = dataclasses.replace(FIXED, timeout=None)  # no deadline in the heap either
    emulator.inject(Fault("slow", operation="query", delay=1000.0))  # the first query hangs
    ended: list[WorkflowRun] = []
    with clock.install(), anyio.fail_after(GUARD):
        async with emulator.async_client("wf", poll=endless) as client:
            hung = await client.invoke({"n": 1}, async_mode=True)
            quick = await client.invoke({"n": 2}, async_mode=True)
            assert hung.id is not None

            async def wait(run: WorkflowRun | str) -> None:
                ended.append(await client.wait(run))

            async with anyio.create_task_group() as group:
                with anyio.CancelScope() as sender:
                    async with anyio.create_task_group() as first:
                        first.start_soon(wait, hung.id)  # queries at once: the slow one
                        await anyio.wait_all_tasks_blocked()
                        group.start_soon(wait, quick)  # keeps the clock, ends at 2 s
                        await anyio.wait_all_tasks_blocked()
                        group.start_soon(wait, hung.id)  # parked under that keeper
                        await clock.async_sleep(5.0)
                        sender.cancel()
    assert sorted(run.id or "" for run in ended) == sorted([hung.id, quick.id or ""])
    assert all(run.status is RunStatus.SUCCEEDED for run in ended)
