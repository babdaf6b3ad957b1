"""Dify and Coze through the client: streaming starts, polling fallback, deadlines, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest

from flowinvoke import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    Hooks,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    PollPolicy,
    RetryPolicy,
    RunStatus,
    ServerError,
    WaitTimeoutError,
    WorkflowRun,
)
from flowinvoke._transport import http as _http
from flowinvoke.testing import Emulator, Fault, Workflow

from ..dify_coze_bodies import COZE_HISTORY_SUCCESS, DIFY_BLOCKING_SUCCESS
from .conftest import PatchedClientClock
from .support import KEY, make_client

POLL = PollPolicy(initial_delay=1.0, multiplier=1.0, max_interval=1.0, jitter=0, timeout=60)
RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.02, jitter=False)
COZE_WF = "7400000000000000001"
STUDIO_WF = "7400000000000000002"


def emulator(clock: PatchedClientClock, *workflows: Workflow) -> Emulator:
    """An emulator on the test's fake clock: its waits and the client's sleeps both move it."""
    emu = Emulator(
        workflows
        or (
            Workflow(id="dify-app", api_key="app-key", provider="dify", duration=25.0, tokens=7),
            Workflow(id="dify-polls", api_key="app-polls", provider="dify", polls=2),
            Workflow(id=COZE_WF, api_key="pat", provider="coze", polls=1, tokens=9),
            Workflow(id=STUDIO_WF, api_key="pat", provider="coze-studio", polls=1),
        ),
        clock=clock,
    )
    clock.move_with(emu)  # the emulator's waits move the fake clock too
    return emu


def client(emu: Emulator, workflow: str, **options: Any) -> AsyncClient:
    return emu.async_client(workflow, poll=POLL, retry=RETRY, **options)


class Updates:
    def __init__(self) -> None:
        self.states: list[WorkflowRun] = []

    def __call__(self, run: WorkflowRun) -> None:
        self.states.append(run)


# -- Dify through the emulator ------------------------------------------------------------


@pytest.mark.anyio
async def test_dify_run_finishes_from_the_stream_without_polling(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    updates = Updates()
    async with client(emu, "dify-app") as dify:
        run = await dify.run({"q": "hi"}, on_update=updates)
    assert run.succeeded and run.output == {"echo": {"q": "hi"}}
    assert run.raw_status == "succeeded" and run.total_tokens == 7
    assert [state.status for state in updates.states] == [RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert updates.states[0].id == run.id  # the id reached on_update before the end
    assert emu.counters.requests_by_operation["query"] == 0
    assert emu.run(run.id or "").user_id == "flowinvoke"


@pytest.mark.anyio
async def test_dify_run_outliving_its_stream_is_polled(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    async with client(emu, "dify-polls") as dify:
        run = await dify.run({"q": 1}, user_id="alice")
    assert run.succeeded
    assert emu.counters.queries[run.id or ""] == 3
    assert emu.run(run.id or "").user_id == "alice"


@pytest.mark.anyio
async def test_dify_stream_drop_falls_back_to_polling(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    emu.inject(Fault("disconnect", operation="invoke", processed=True))
    async with client(emu, "dify-app") as dify:
        run = await dify.run({"q": "drop"})
    assert run.succeeded and run.output == {"echo": {"q": "drop"}}
    assert emu.counters.total_invokes == 1  # never started twice
    assert emu.counters.queries[run.id or ""] >= 1


@pytest.mark.anyio
async def test_dify_stream_refused_before_the_id_is_not_retried(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    emu.inject(Fault("reset", operation="invoke", processed=True))
    emu.inject(Fault("reset", operation="invoke", processed=True))
    async with client(emu, "dify-polls") as dify:
        # The polls workflow's stream drops after its first chunk, which holds the id.
        run = await dify.run({"q": 1})
    assert run.succeeded and emu.counters.total_invokes == 1


@pytest.mark.anyio
async def test_dify_invoke_blocking_and_async_mode(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    async with client(emu, "dify-app") as dify:
        done = await dify.invoke({"q": "now"})
        started = await dify.invoke({"q": "later"}, async_mode=True)
        assert (done.status, started.status) == (RunStatus.SUCCEEDED, RunStatus.RUNNING)
        assert started.id is not None
        finished = await dify.wait(started.id)
        again = await dify.get_run(started.id)
    assert finished.succeeded and again.succeeded


@pytest.mark.anyio
async def test_dify_errors_through_the_emulator(clock: PatchedClientClock) -> None:
    emu = emulator(
        clock,
        Workflow(id="a", api_key="ka", provider="dify", required_inputs=("q",)),
        Workflow(id="b", api_key="kb", provider="dify", credits_exhausted=True),
        Workflow(id="c", api_key="kc", provider="dify", dify_legacy=True, duration=1.0),
    )
    async with client(emu, "a") as dify:
        with pytest.raises(BadRequestError, match="q is required"):
            await dify.run({})
        with pytest.raises(NotFoundError) as caught:
            await dify.wait("no-such-run")
        assert caught.value.run_id == "no-such-run"
    async with client(emu, "b") as dify:
        with pytest.raises(InsufficientCreditsError):  # a quota: not hammered
            await dify.run({})
    assert emu.counters.requests_by_operation["invoke"] == 2
    async with client(emu, "c") as dify:
        with pytest.raises(NotFoundError):
            await dify.get_run("no-such-run")
        run = await dify.run({"q": 1})
        assert (await dify.get_run(run.id or "")).started_at == run.started_at


@pytest.mark.anyio
async def test_dify_too_many_requests_is_retried(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    emu.inject(Fault("rate_limit", operation="invoke", retry_after=0.01))
    async with client(emu, "dify-app") as dify:
        run = await dify.run({"q": 1})
    assert run.succeeded and emu.counters.faults["rate_limit"] == 1


# -- Dify streams from a scripted transport ----------------------------------------------


def started_event(run_id: str = "run-1") -> bytes:
    event = {"event": "workflow_started", "workflow_run_id": run_id, "data": {"id": run_id}}
    return b"event: ping\n\n" + f"data: {json.dumps(event)}\n\n".encode()


def streaming(chunks: Callable[[], AsyncGenerator[bytes, None]], query: Any = None) -> Any:
    def handle(request: _http.Request) -> _http.Response:
        if request.method == "GET":
            return _http.Response(200, json=query)
        headers = {"content-type": "text/event-stream"}
        return _http.Response(200, headers=headers, content=chunks())

    return _http.MockTransport(handle)


@pytest.mark.anyio
async def test_deadline_holds_when_the_stream_drips(clock: PatchedClientClock) -> None:
    async def drip() -> AsyncGenerator[bytes, None]:
        yield started_event()
        for _ in range(50):  # bounded, so that a broken cut fails instead of hanging
            await clock.async_sleep(4.0)
            yield b"event: ping\n\n"

    async with make_client(provider="dify", transport=streaming(drip)) as dify:
        with pytest.raises(WaitTimeoutError) as caught:
            await dify.run({"q": 1}, timeout=30)
    assert caught.value.run_id == "run-1"
    assert caught.value.last_run is not None and caught.value.last_run.status is RunStatus.RUNNING
    assert clock.now - 1000.0 <= 30 + 4  # cut at the first read after the deadline


@pytest.mark.anyio
async def test_stream_error_event_is_typed_and_carries_the_run_id() -> None:
    async def failing() -> AsyncGenerator[bytes, None]:
        yield started_event("run-9")
        event = {
            "event": "error",
            "workflow_run_id": "run-9",
            "status": 400,
            "code": "invalid_param",
            "message": f"bad input for {KEY}",
        }
        yield f"data: {json.dumps(event)}\n\n".encode()

    async with make_client(provider="dify", transport=streaming(failing)) as dify:
        with pytest.raises(BadRequestError) as caught:
            await dify.run({"q": 1})
    assert caught.value.run_id == "run-9" and caught.value.code == "invalid_param"
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.body)


@pytest.mark.anyio
async def test_stream_ending_without_outcome_polls_the_run(clock: PatchedClientClock) -> None:
    async def short() -> AsyncGenerator[bytes, None]:
        yield started_event("fb47b2e6-…")

    query = DIFY_BLOCKING_SUCCESS["data"]
    async with make_client(provider="dify", transport=streaming(short, query)) as dify:
        run = await dify.run({"q": 1})
    assert run.succeeded and run.duration is not None and run.duration.total_seconds() == 1.23


@pytest.mark.anyio
async def test_stream_dropping_before_the_id_says_the_run_may_have_started() -> None:
    async def broken() -> AsyncGenerator[bytes, None]:
        yield b"event: ping\n\n"
        raise _http.RemoteProtocolError("peer closed connection")

    async with make_client(provider="dify", transport=streaming(broken)) as dify:
        with pytest.raises(APIConnectionError) as caught:
            await dify.run({"q": 1})
    assert caught.value.may_have_started


@pytest.mark.anyio
async def test_stream_start_error_status_is_read_and_typed() -> None:
    def handle(request: _http.Request) -> _http.Response:
        body = {"code": "unauthorized", "message": f"Access token {KEY} is invalid", "status": 401}
        return _http.Response(401, json=body)

    async with make_client(provider="dify", transport=_http.MockTransport(handle)) as dify:
        with pytest.raises(AuthenticationError) as caught:
            await dify.run({"q": 1})
    assert KEY not in str(caught.value)


# -- Coze through the emulator ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("workflow", [COZE_WF, STUDIO_WF])
async def test_coze_run_starts_async_and_polls(workflow: str, clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    updates = Updates()
    async with client(emu, workflow) as coze:
        run = await coze.run({"q": "hi"}, on_update=updates)
        assert run.succeeded and run.output == {"echo": {"q": "hi"}}
        assert run.workflow_id == workflow and run.id is not None and len(run.id) == 19
        assert updates.states[0].status is RunStatus.RUNNING
        assert emu.run(run.id).is_async
        assert (await coze.wait(run.id)).succeeded  # a bare id: the client's workflow_id
        done = await coze.invoke({"q": "sync"})
    assert done.succeeded and done.output == {"echo": {"q": "sync"}}


@pytest.mark.anyio
async def test_coze_wait_on_a_bare_id_needs_a_workflow_id(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    async with client(emu, COZE_WF) as coze:
        run = await coze.invoke({"q": 1}, async_mode=True)
    options = emu.client_options(COZE_WF)
    del options["workflow_id"]
    async with AsyncClient(**options, poll=POLL, retry=RETRY) as bare:
        with pytest.raises(ConfigurationError, match="workflow_id"):
            await bare.wait(run.id or "")
        assert (await bare.wait(run.id or "", workflow_id=COZE_WF)).succeeded
        assert (await bare.wait(run)).succeeded  # the run carries its workflow
        with pytest.raises(ConfigurationError):
            await bare.invoke({"q": 1})
    assert emu.counters.total_invokes == 1


@pytest.mark.anyio
async def test_coze_free_plan_async_refusal_suggests_invoke(clock: PatchedClientClock) -> None:
    emu = emulator(
        clock, Workflow(id=COZE_WF, api_key="pat", provider="coze", coze_async_refused=True)
    )
    async with client(emu, COZE_WF) as coze:
        with pytest.raises(PermissionDeniedError, match=r"invoke\(\)") as caught:
            await coze.run({"q": 1})
        assert caught.value.code == 6003
        assert (await coze.invoke({"q": 1})).succeeded


@pytest.mark.anyio
async def test_coze_errors_inside_http_200_never_succeed(clock: PatchedClientClock) -> None:
    emu = emulator(
        clock,
        Workflow(id=COZE_WF, api_key="pat", provider="coze", final_status="FAILED"),
        Workflow(id=STUDIO_WF, api_key="pat", provider="coze", credits_exhausted=True),
    )
    async with client(emu, COZE_WF) as coze:
        with pytest.raises(ServerError) as failed:
            await coze.invoke({"q": 1})
        assert failed.value.status_code == 200 and failed.value.code == 5000
        run = await coze.run({"q": 1}, raise_on_failure=False)
        assert run.status is RunStatus.FAILED and run.error == "Workflow execution failed"
        with pytest.raises(NotFoundError) as missing:
            await coze.get_run("7400000000000009999")
        assert missing.value.code == 4314
    async with client(emu, STUDIO_WF) as coze:
        with pytest.raises(InsufficientCreditsError):
            await coze.run({"q": 1})
    async with client(emu, COZE_WF, api_key="wrong") as coze:
        with pytest.raises(AuthenticationError) as caught:
            await coze.invoke({"q": 1})
        assert "wrong" not in str(caught.value)


@pytest.mark.anyio
async def test_coze_rate_limit_inside_200_is_retried(clock: PatchedClientClock) -> None:
    emu = emulator(clock)
    emu.inject(Fault("error_in_200", operation="query", code=4020, message="rpm"))
    async with client(emu, COZE_WF) as coze:
        run = await coze.run({"q": 1})
    assert run.succeeded and emu.counters.faults["error_in_200"] == 1


@pytest.mark.anyio
async def test_coze_history_example_through_a_scripted_transport() -> None:
    seen: list[str] = []

    def handle(request: _http.Request) -> _http.Response:
        seen.append(f"{request.method} {request.url.path} {request.content!r}")
        return _http.Response(200, json=COZE_HISTORY_SUCCESS)

    transport = _http.MockTransport(handle)
    async with make_client(provider="coze", transport=transport, workflow_id=COZE_WF) as coze:
        run = await coze.get_run("743104097880585****")
    assert run.succeeded and run.output == {"Output": "…"}
    assert seen == [f"GET /v1/workflows/{COZE_WF}/run_histories/743104097880585****" + " b''"]


@pytest.mark.anyio
async def test_hooks_see_the_stream_start_its_retry_and_the_states(
    clock: PatchedClientClock,
) -> None:
    emu = emulator(clock)
    emu.inject(Fault("rate_limit", operation="invoke", retry_after=0.01))
    seen: list[str] = []
    hooks = Hooks(
        on_request=lambda event: seen.append(f"request {event.operation}"),
        on_response=lambda event: seen.append(f"response {event.status_code}"),
        on_retry=lambda event: seen.append("retry"),
        on_state=lambda run: seen.append(f"state {run.raw_status}"),
    )
    async with client(emu, "dify-app", hooks=hooks) as dify:
        run = await dify.run({"q": 1})
    assert run.succeeded
    assert seen == [
        "request invoke",
        "response 429",
        "retry",
        "request invoke",
        "state running",
        "state succeeded",
        "response 200",
    ]


@pytest.mark.anyio
async def test_a_webhook_receiver_is_left_out_where_the_platform_calls_none(
    clock: PatchedClientClock,
) -> None:
    from flowinvoke.webhooks import WebhookReceiver

    receiver = WebhookReceiver("https://hooks.example.com/flowinvoke")
    emu = emulator(clock)
    for workflow in ("dify-app", COZE_WF):
        async with client(emu, workflow, webhook_receiver=receiver) as platform:
            run = await platform.run({"q": workflow})
        assert run.succeeded  # no webhook was sent (both would refuse one)
    assert all(not record.webhooks for record in emu.runs())
