"""Polling that learns run durations: whole waits on the fake clock, through the public API."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import PollPolicy, RunDurations, WorkflowKey

from ..seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state
from .conftest import PatchedClientClock
from .support import GPTBOTS_URL, INVOKE_URL, QUERY_URL, make_client

LEARNING = PollPolicy(timeout=600)  # the default schedule, adaptive
KEY = WorkflowKey("gptbots", GPTBOTS_URL, "wf-news")


@pytest.fixture(autouse=True)
def seeded_jitter() -> Iterator[None]:
    """The jitter draws from the global generator: seed it, so each test is one fixed case."""
    state = random.getstate()
    random.seed(13)
    yield
    random.setstate(state)


class TimedRuns:
    """A GPTBots stand-in on the fake clock: run n lasts `durations[n]` seconds.

    Records, per run, the elapsed time of each query since the start answer.
    """

    def __init__(
        self,
        clock: PatchedClientClock,
        durations: Sequence[float],
        *,
        fail: Sequence[int] = (),
        server_duration: bool = False,
    ) -> None:
        self.clock = clock
        self.durations = list(durations)
        self.fail = set(fail)
        self.server_duration = server_duration
        self.started: list[float] = []
        self.queries: list[list[float]] = []

    def invoke(self, request: httpx.Request) -> httpx.Response:
        run = len(self.started)
        self.started.append(self.clock.now)
        self.queries.append([])
        return httpx.Response(200, json={**GPTBOTS_ASYNC_ANSWER, "workflowRunId": f"r{run}"})

    def query(self, request: httpx.Request) -> httpx.Response:
        run = int(json.loads(request.content)["workflowRunId"][1:])
        elapsed = self.clock.now - self.started[run]
        self.queries[run].append(elapsed)
        if elapsed < self.durations[run]:
            return httpx.Response(200, json=gptbots_state("RUNNING", f"r{run}"))
        status = "FAILED" if run in self.fail else "SUCCEED"
        extra: dict[str, Any] = {}
        if self.server_duration:
            extra["workflowExecutionTime"] = round(self.durations[run] * 1000)
        return httpx.Response(200, json=gptbots_state(status, f"r{run}", **extra))

    def lag(self, run: int) -> float:
        return self.queries[run][-1] - self.durations[run]


def _durations(base: float, count: int, spread: float = 0.03) -> list[float]:
    dice = random.Random(base)
    return [base * dice.uniform(1 - spread, 1 + spread) for _ in range(count)]


async def _run_all(server: TimedRuns, **options: Any) -> RunDurations:
    with respx.mock:
        respx.post(INVOKE_URL).mock(side_effect=server.invoke)
        respx.post(QUERY_URL).mock(side_effect=server.query)
        async with make_client(poll=options.pop("poll", LEARNING), **options) as client:
            for _ in server.durations:
                await client.run({"a": 1}, raise_on_failure=False)
            return client.run_durations


@pytest.mark.anyio
@pytest.mark.parametrize("server_duration", [False, True])
async def test_after_eight_runs_of_two_seconds_the_queries_cluster_near_two_seconds(
    clock: PatchedClientClock, server_duration: bool
) -> None:
    server = TimedRuns(clock, _durations(2.0, 12), server_duration=server_duration)
    durations = await _run_all(server)
    cold = server.queries[0]
    assert len(cold) == 6 and cold[0] < 0.25  # today's schedule: 0.2, 0.46, ... 2.55 s
    for run in range(8, 12):
        queries = server.queries[run]
        assert len(queries) <= 4, queries
        assert queries[0] > 1.6, queries  # nothing wasted early
        assert 0 <= server.lag(run) <= 0.15, queries
    (row,) = durations.snapshot()
    assert row.key == KEY and row.estimate.warm and abs(row.median - 2.0) < 0.2


@pytest.mark.anyio
async def test_twenty_second_runs_are_seen_within_five_percent_after_three(
    clock: PatchedClientClock,
) -> None:
    server = TimedRuns(clock, _durations(20.0, 8), server_duration=True)
    await _run_all(server)
    for run in range(3, 8):
        assert len(server.queries[run]) <= 6, server.queries[run]
        assert server.lag(run) <= 1.05


@pytest.mark.anyio
async def test_a_cold_client_polls_exactly_as_the_plain_schedule(clock: PatchedClientClock) -> None:
    server = TimedRuns(clock, [7.0])
    random.seed(5)
    await _run_all(server)
    random.seed(5)
    plain = PollPolicy(adaptive=False).delays()
    assert clock.sleeps == [round(next(plain), 6) for _ in clock.sleeps]


@pytest.mark.anyio
async def test_bimodal_runs_are_seen_early_in_each_mode_and_the_gap_is_crossed_sparsely(
    clock: PatchedClientClock,
) -> None:
    server = TimedRuns(clock, [1.0, 6.0] * 10, server_duration=True)
    durations = await _run_all(server)
    (row,) = durations.snapshot()
    assert len(row.estimate.clusters) == 2
    for run in range(10, 20):
        d = server.durations[run]
        queries = server.queries[run]
        assert server.lag(run) <= 0.15 * d + 0.1, (d, queries)
        # Querying the gap at the plain interval cost 9 to 12 queries in the 6 s mode.
        assert len(queries) <= (2 if d == 1.0 else 6), queries
        assert not [q for q in queries if 1.2 < q < 1.8], queries  # the gap thins out at once


@pytest.mark.anyio
async def test_failed_runs_teach_nothing(clock: PatchedClientClock) -> None:
    server = TimedRuns(clock, [0.3] * 5 + [4.0] * 3, fail=range(5), server_duration=True)
    durations = await _run_all(server)
    (row,) = durations.snapshot()
    assert row.durations == (4.0, 4.0, 4.0)


@pytest.mark.anyio
async def test_a_seeded_client_starts_warm_and_an_export_round_trips(
    clock: PatchedClientClock,
) -> None:
    teacher = TimedRuns(clock, _durations(2.0, 6), server_duration=True)
    exported = (await _run_all(teacher)).export()
    assert json.loads(json.dumps(exported)) == exported
    assert "sk-" not in json.dumps(exported)
    pupil = TimedRuns(clock, _durations(2.0, 3))
    await _run_all(pupil, run_durations=exported)
    assert pupil.queries[0][0] > 1.6 and pupil.lag(0) <= 0.15


@pytest.mark.anyio
async def test_without_adaptive_nothing_changes_and_nothing_is_learned(
    clock: PatchedClientClock,
) -> None:
    server = TimedRuns(clock, [2.0] * 5, server_duration=True)
    durations = await _run_all(server, poll=PollPolicy(adaptive=False))
    assert len(durations) == 0
    assert [len(q) for q in server.queries] == [6] * 5


@pytest.mark.anyio
async def test_a_key_without_a_workflow_id_is_named_by_a_fingerprint(
    clock: PatchedClientClock,
) -> None:
    answer = {k: v for k, v in GPTBOTS_ASYNC_ANSWER.items() if k != "workflowId"}
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=answer)
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED", workflowId=None))
        async with make_client(poll=LEARNING) as client:
            await client.run({"a": 1})
            shared = client.with_options(retry=None).run_durations
            (row,) = client.run_durations.snapshot()
    assert shared is client.run_durations
    assert row.key.workflow.startswith("key:") and "sk-test" not in repr(row)


@pytest.mark.anyio
async def test_a_bare_id_wait_neither_uses_nor_feeds_the_history(clock: PatchedClientClock) -> None:
    server = TimedRuns(clock, [2.0], server_duration=True)
    server.invoke(httpx.Request("POST", INVOKE_URL))
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=server.query)
        async with make_client(poll=LEARNING) as client:
            await client.wait("r0")
            assert len(client.run_durations) == 0


@pytest.mark.anyio
async def test_a_server_hint_still_wins_over_the_learned_schedule(
    clock: PatchedClientClock,
) -> None:
    book = RunDurations()
    for _ in range(5):
        book.record(KEY, 2.0)
    running = httpx.Response(200, json=gptbots_state("RUNNING"), headers={"Retry-After": "3"})
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).mock(
            side_effect=[running, httpx.Response(200, json=gptbots_state("SUCCEED"))]
        )
        async with make_client(poll=LEARNING, run_durations=book) as client:
            await client.run({"a": 1})
    first, second = clock.sleeps
    assert 1.85 <= first <= 2.0  # learned: straight to the expected end
    assert second == 3.0  # the hint, not the 0.1 s probe step
