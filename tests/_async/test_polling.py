"""Waiting for runs: wait, run and watch against scripted answers."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx

from flowinvoke import (
    APITimeoutError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PollPolicy,
    RunStatus,
    UnsupportedOperationError,
    WaitTimeoutError,
    WorkflowFailedError,
    WorkflowRun,
)

from ..seed_bodies import AITUTOR_SEED_ANSWER, GPTBOTS_ASYNC_ANSWER, gptbots_state
from .conftest import PatchedClientClock
from .support import AITUTOR_URL, INVOKE_URL, QUERY_URL, make_client


def _states(*statuses: str | int) -> list[httpx.Response]:
    return [
        httpx.Response(s) if isinstance(s, int) else httpx.Response(200, json=gptbots_state(s))
        for s in statuses
    ]


@pytest.mark.anyio
async def test_run_starts_asynchronously_and_polls_through_transient_failures(
    clock: PatchedClientClock,
) -> None:
    seen: list[WorkflowRun] = []
    with respx.mock:
        start = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        query = respx.post(QUERY_URL).mock(side_effect=_states(429, "RUNNING", 503, "SUCCEED"))
        async with make_client() as client:
            run = await client.run({"topic": "News"}, user_id="u-1", on_update=seen.append)
    assert json.loads(start.calls.last.request.content)["isAsync"] is True
    assert start.call_count == 1
    assert query.call_count == 4
    assert run.status is RunStatus.SUCCEEDED
    assert [s.status for s in seen] == [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert seen[0].id == "run-42"
    # poll 1 s, the client-wide cool-down of 1 s after the 429 (no hint), poll 2 s, retry
    # 0.5 s after the 503
    assert clock.sleeps == [1.0, 1.0, 2.0, 0.5]


@pytest.mark.anyio
async def test_failed_run_raises_unless_asked_not_to(clock: PatchedClientClock) -> None:
    failed = gptbots_state("FAILED", output={"error": "node 3: division by zero"})
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(200, json=failed)
        async with make_client() as client:
            with pytest.raises(WorkflowFailedError) as info:
                await client.run({"a": 1})
            run = await client.run({"a": 1}, raise_on_failure=False)
    assert info.value.run_id == "run-42"
    assert info.value.run.status is RunStatus.FAILED
    assert "division by zero" in str(info.value)
    assert run.status is RunStatus.FAILED
    assert run.error == "node 3: division by zero"


@pytest.mark.anyio
@pytest.mark.parametrize("word", ["PAUSED", "QUEUED_FOR_REVIEW", ""])
async def test_an_unknown_status_word_is_not_final_and_is_warned_of_once(
    word: str, clock: PatchedClientClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flowinvoke")
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        query = respx.post(QUERY_URL).mock(
            side_effect=_states("RUNNING", word, word, word, "SUCCEED")
        )
        async with make_client() as client:
            run = await client.run({"a": 1})
    assert run.succeeded  # a run that may yet succeed is not thrown away
    assert query.call_count == 5
    warnings = [r for r in caplog.records if "unknown to flowinvoke" in r.getMessage()]
    assert len(warnings) == 1
    assert repr(word) in warnings[0].getMessage()
    assert warnings[0].run_id == "run-42"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_wait_on_an_unknown_word_ends_at_the_deadline_showing_the_word(
    clock: PatchedClientClock,
) -> None:
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("PAUSED"))
        async with make_client() as client:
            with pytest.raises(WaitTimeoutError) as info:
                await client.wait("run-42", timeout=10)
    last = info.value.last_run
    assert last is not None
    assert last.status is RunStatus.UNKNOWN
    assert last.raw_status == "PAUSED"
    assert "PAUSED" in str(info.value)


@pytest.mark.anyio
async def test_a_run_stuck_running_ends_at_the_deadline(clock: PatchedClientClock) -> None:
    with respx.mock:
        query = respx.post(QUERY_URL).respond(200, json=gptbots_state("RUNNING"))
        async with make_client() as client:
            with pytest.raises(WaitTimeoutError) as info:
                await client.wait("run-42", timeout=10)
    error = info.value
    assert isinstance(error, TimeoutError)
    assert error.run_id == "run-42"
    assert error.last_run is not None
    assert error.last_run.status is RunStatus.RUNNING
    assert "run-42" in str(error) and "RUNNING" in str(error)
    # queried at once, then after 1, 2, 4, 4 s (at 11 s the deadline has passed)
    assert query.call_count == 4
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]


@pytest.mark.anyio
async def test_the_deadline_comes_from_the_policy_by_default(clock: PatchedClientClock) -> None:
    policy = PollPolicy(initial_delay=5, multiplier=1, max_interval=5, jitter=0, timeout=12)
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("PENDING"))
        async with make_client(poll=policy) as client:
            with pytest.raises(WaitTimeoutError):
                await client.wait("run-42")
    assert sum(clock.sleeps) == pytest.approx(12.0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (404, NotFoundError)],
)
async def test_auth_and_missing_run_errors_end_the_wait_with_the_run_id(
    status: int, error: type[Exception], clock: PatchedClientClock
) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        query = respx.post(QUERY_URL).mock(
            side_effect=[
                *_states("RUNNING"),
                httpx.Response(status, json={"code": 1, "message": "no"}),
            ]
        )
        async with make_client() as client:
            with pytest.raises(error) as info:
                await client.run({"a": 1})
    assert info.value.run_id == "run-42"  # type: ignore[attr-defined]
    assert query.call_count == 2


@pytest.mark.anyio
async def test_retry_after_on_a_query_answer_sets_the_next_delay(clock: PatchedClientClock) -> None:
    policy = PollPolicy(initial_delay=1, multiplier=1, max_interval=1, jitter=0, max_hint=30)
    with respx.mock:
        respx.post(QUERY_URL).mock(
            side_effect=[
                httpx.Response(200, json=gptbots_state("RUNNING"), headers={"Retry-After": "7"}),
                httpx.Response(200, json=gptbots_state("RUNNING"), headers={"Retry-After": "99"}),
                httpx.Response(200, json=gptbots_state("RUNNING"), headers={"Retry-After": "0"}),
                *_states("RUNNING", "SUCCEED"),
            ]
        )
        async with make_client(poll=policy) as client:
            await client.wait("run-42")
    # capped at max_hint; a hint of 0 is floored at the initial delay, so polling never spins
    assert clock.sleeps == [7.0, 30.0, 1.0, 1.0]


@pytest.mark.anyio
async def test_a_hint_on_a_failed_query_sets_the_next_poll(clock: PatchedClientClock) -> None:
    busy = httpx.Response(503, headers={"Retry-After": "9"})
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=[busy, busy, busy, *_states("SUCCEED")])
        async with make_client() as client:
            await client.wait("run-42")
    # three attempts (two retries after 9 s each), then the next poll also waits 9 s
    assert clock.sleeps == [9.0, 9.0, 9.0]


@pytest.mark.anyio
@pytest.mark.parametrize("hint", ["0", "-5", "Thu, 01 Jan 1970 00:00:00 GMT"])
async def test_a_short_hint_on_a_running_answer_never_makes_polling_faster(
    hint: str, clock: PatchedClientClock
) -> None:
    running = httpx.Response(200, json=gptbots_state("RUNNING"), headers={"Retry-After": hint})
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=[running, running, *_states("SUCCEED")])
        async with make_client() as client:
            await client.wait("run-42")
    assert clock.sleeps == [1.0, 2.0]  # the schedule's own intervals


@pytest.mark.anyio
async def test_a_wait_resumes_from_a_bare_id_in_a_new_client(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).mock(side_effect=_states("RUNNING", "SUCCEED"))
        async with make_client() as first:
            started = await first.invoke({"a": 1}, async_mode=True)
        run_id = started.id
        assert run_id is not None
        async with make_client() as second:
            run = await second.wait(run_id)
    assert run.succeeded
    assert run.id == "run-42"
    assert clock.sleeps == [1.0]  # a bare id is queried at once


@pytest.mark.anyio
async def test_watch_yields_each_change_once(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).mock(
            side_effect=_states("PENDING", "RUNNING", "RUNNING", 502, "RUNNING", "SUCCEED")
        )
        async with make_client() as client:
            started = await client.invoke({"a": 1}, async_mode=True)
            statuses = [run.raw_status async for run in client.watch(started)]
    assert statuses == ["PENDING", "RUNNING", "SUCCEED"]


@pytest.mark.anyio
async def test_watch_reports_progress_data_changes(clock: PatchedClientClock) -> None:
    answers = [
        httpx.Response(200, json=gptbots_state("RUNNING", workflowExecutionTime=100)),
        httpx.Response(200, json=gptbots_state("RUNNING", workflowExecutionTime=100)),
        httpx.Response(200, json=gptbots_state("RUNNING", workflowExecutionTime=900)),
        *_states("SUCCEED"),
    ]
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=answers)
        async with make_client() as client:
            durations = [run.duration async for run in client.watch("run-42")]
    assert len(durations) == 3


@pytest.mark.anyio
async def test_transient_failures_past_the_retry_budget_never_end_the_wait(
    clock: PatchedClientClock,
) -> None:
    answers = [*_states(503, 503, 503), httpx.Response(200, text="<oops"), *_states(500, "SUCCEED")]
    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=answers)
        async with make_client() as client:
            run = await client.wait("run-42")
    assert run.succeeded


@pytest.mark.anyio
async def test_on_update_may_be_async_and_its_errors_propagate(clock: PatchedClientClock) -> None:
    seen: list[str | None] = []

    async def record(run: WorkflowRun) -> None:
        seen.append(run.raw_status)

    class Boom(Exception):
        pass

    def explode(run: WorkflowRun) -> None:
        if run.status is RunStatus.RUNNING:
            raise Boom

    with respx.mock:
        respx.post(QUERY_URL).mock(side_effect=_states("RUNNING", "SUCCEED", "RUNNING"))
        async with make_client() as client:
            await client.wait("run-42", on_update=record)
            with pytest.raises(Boom):
                await client.wait("run-42", on_update=explode)
    assert seen == ["RUNNING", "SUCCEED"]


@pytest.mark.anyio
async def test_aitutor_runs_finish_inside_the_call(clock: PatchedClientClock) -> None:
    seen: list[WorkflowRun] = []
    with respx.mock:
        route = respx.post(f"{AITUTOR_URL}/api/v1/run/wf_1").respond(200, json=AITUTOR_SEED_ANSWER)
        async with make_client(provider="aitutor", workflow_id="wf_1") as client:
            run = await client.run({"story": "x"}, on_update=seen.append)
            assert await client.wait(run) is run
            with pytest.raises(UnsupportedOperationError) as info:
                await client.wait("run_abc123xyz")
    assert run.succeeded
    assert seen == [run]
    assert route.call_count == 1
    assert info.value.run_id == "run_abc123xyz"
    assert clock.sleeps == []


@pytest.mark.anyio
async def test_wait_on_a_finished_run_sends_nothing(clock: PatchedClientClock) -> None:
    with respx.mock:
        query = respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client() as client:
            done = await client.get_run("run-42")
            assert await client.wait(done) is done
    assert query.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("timeout", [0, -1, float("nan"), True, "5"])
async def test_a_bad_timeout_fails_before_any_request(timeout: Any) -> None:
    with respx.mock:
        query = respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client() as client:
            with pytest.raises(ValueError, match="timeout"):
                await client.wait("run-42", timeout=timeout)
    assert not query.called


@pytest.mark.anyio
async def test_errors_after_the_start_carry_the_run_id(clock: PatchedClientClock) -> None:
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(200, json=gptbots_state("RUNNING"))
        async with make_client() as client:
            with pytest.raises(WaitTimeoutError) as info:
                await client.run({"a": 1}, timeout=3)
    assert info.value.run_id == "run-42"


@pytest.mark.anyio
async def test_no_request_is_sent_once_the_deadline_has_passed(clock: PatchedClientClock) -> None:
    with respx.mock:
        start = respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        query = respx.post(QUERY_URL).respond(200, json=gptbots_state("RUNNING"))
        async with make_client(rate_limit=0.1) as client:  # one request per 10 s
            await client.get_run("run-42")
            with pytest.raises(APITimeoutError, match="deadline passed") as info:
                await client.run({"a": 1}, timeout=5)  # the rate limit outlasts the deadline
            with pytest.raises(WaitTimeoutError):
                await client.wait("run-42", timeout=5)
    assert not info.value.may_have_started
    assert not start.called
    assert query.call_count == 1
