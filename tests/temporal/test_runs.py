"""One run as a Temporal workflow, end to end: a real dev server, the emulator on loopback.

Workers run in the test's event loop here (the worker-process stories are in
test_faults.py); each test has a task queue of its own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
import uvicorn

from flowinvoke import (
    APIError,
    AsyncClient,
    ConfigurationError,
    PollPolicy,
    RetryPolicy,
    WaitTimeoutError,
    WorkflowFailedError,
)
from flowinvoke.temporal import (
    CallbackReceiver,
    CallbackTargets,
    EngineUnavailableError,
    TemporalRuns,
    build_worker,
    connect,
)
from flowinvoke.testing import Emulator, Fault, LoopbackServer, Workflow

from .support import free_port

pytestmark = pytest.mark.asyncio

KEY = "key-temporal-0123456789"
SECRET = "a-callback-secret-of-32-bytes-!!"
FAST = PollPolicy(initial_delay=0.05, multiplier=1.5, max_interval=0.5, jitter=0.1, timeout=20)


def emulator(**workflow: Any) -> Emulator:
    return Emulator([Workflow(id="wf", api_key=KEY, **{"duration": 0.3, **workflow})])


@asynccontextmanager
async def stack(
    emu: Emulator, queue: str, address: str, **worker: Any
) -> AsyncIterator[tuple[TemporalRuns, LoopbackServer]]:
    """The emulator on loopback, a worker on `queue`, and the caller's side."""
    with LoopbackServer(emu) as server:
        temporal = await connect(address)
        client = AsyncClient(
            **server.client_options("wf"),
            retry=RetryPolicy(max_retries=20, initial_delay=0.01, max_delay=0.05),
        )
        async with client, build_worker(temporal, client, task_queue=queue, **worker):
            yield TemporalRuns(temporal, task_queue=queue), server


async def test_a_run_finishes_and_its_key_attaches_instead_of_starting_again(
    temporal_address: str, queue: str
) -> None:
    emu = emulator()
    async with stack(emu, queue, temporal_address, sandboxed=True) as (runs, _):
        request = runs.request({"q": "hi"}, poll=FAST)
        first = await runs.run("order-1", request)
        again = await runs.run("order-1", request)  # finished: the same run, not a new one
    assert first.succeeded and first.output == {"echo": {"q": "hi"}}
    assert again.id == first.id
    assert emu.counters.total_invokes == 1


async def test_two_starts_of_one_key_at_once_start_one_run(
    temporal_address: str, queue: str
) -> None:
    emu = emulator(duration=1.0)
    async with stack(emu, queue, temporal_address) as (runs, _):
        request = runs.request({"q": 1}, poll=FAST)
        await runs.start("dup", request)
        await runs.start("dup", request)  # running: attaches
        run = await runs.result("dup")
    assert run.succeeded
    assert emu.counters.total_invokes == 1


async def test_a_failed_run_is_a_typed_error_with_the_run(
    temporal_address: str, queue: str
) -> None:
    emu = emulator(final_status="FAILED", error_message="model refused")
    async with stack(emu, queue, temporal_address) as (runs, _):
        with pytest.raises(WorkflowFailedError) as caught:
            await runs.run("fails", runs.request({"q": 1}, poll=FAST))
    assert caught.value.run.error == "model refused"
    assert caught.value.run_id is not None
    assert emu.counters.total_invokes == 1


async def test_an_ambiguous_start_is_not_retried_and_says_so(
    temporal_address: str, queue: str
) -> None:
    emu = emulator()
    emu.inject(Fault("server_error", operation="invoke", processed=True, status=502))
    async with stack(emu, queue, temporal_address) as (runs, _):
        with pytest.raises(APIError) as caught:
            await runs.run("ambiguous", runs.request({"q": 1}, poll=FAST))
    assert caught.value.may_have_started
    assert emu.counters.total_invokes == 1  # the run the server did start; no second one


async def test_a_429_storm_delays_the_start_but_starts_once(
    temporal_address: str, queue: str
) -> None:
    emu = emulator()
    emu.inject(*[Fault("rate_limit", operation="invoke", retry_after=0.05)] * 12)
    async with stack(emu, queue, temporal_address) as (runs, _):
        run = await runs.run("storm", runs.request({"q": 1}, poll=FAST))
    assert run.succeeded
    assert emu.counters.faults["rate_limit"] == 12
    assert emu.counters.total_invokes == 1


async def test_the_wait_deadline_ends_the_workflow_with_the_run_id(
    temporal_address: str, queue: str
) -> None:
    emu = emulator(duration=30)
    policy = PollPolicy(initial_delay=0.1, max_interval=0.2, timeout=1.0)
    async with stack(emu, queue, temporal_address) as (runs, _):
        with pytest.raises(WaitTimeoutError) as caught:
            await runs.run("slow", runs.request({"q": 1}, poll=policy))
    assert caught.value.run_id is not None
    assert caught.value.last_run is not None and not caught.value.last_run.done


async def test_learned_durations_reach_the_workflow_timers(
    temporal_address: str, queue: str
) -> None:
    # Runs long enough that the plain schedule queries many times (about eight) and the
    # learned one a few, with room for a busy machine's late timers in between.
    emu = emulator(duration=1.5)
    policy = PollPolicy(initial_delay=0.1, multiplier=1.3, max_interval=5, timeout=20)
    async with stack(emu, queue, temporal_address) as (runs, _):
        for index in range(4):  # three teach the worker, the fourth schedules around them
            await runs.run(f"learn-{index}", runs.request({"i": index}, poll=policy))
        handle = runs.client.get_workflow_handle("learn-3")
        learned = await handle.query("queries", result_type=int)
        handle = runs.client.get_workflow_handle("learn-0")
        plain = await handle.query("queries", result_type=int)
    assert learned < plain


async def _scheduled_activities(runs: TemporalRuns, key: str) -> list[str]:
    history = await runs.client.get_workflow_handle(key).fetch_history()
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_look_is_local_and_one_that_failed_is_retried_by_the_server(
    temporal_address: str, queue: str
) -> None:
    # A look runs in the workflow task its timer woke: no activity task for it. When that
    # one try fails in a way a retry may mend (two 503s outlast the client's one retry),
    # the look goes to the server as an ordinary activity, which then finds the run over.
    emu = emulator(duration=0.3)
    policy = PollPolicy(initial_delay=0.5, max_interval=1.0, timeout=20)
    with LoopbackServer(emu) as server:
        temporal = await connect(temporal_address)
        retry = RetryPolicy(max_retries=1, initial_delay=0.01, max_delay=0.02)
        client = AsyncClient(**server.client_options("wf"), retry=retry)
        async with client, build_worker(temporal, client, task_queue=queue):
            runs = TemporalRuns(temporal, task_queue=queue)
            local = await runs.run("looks-local", runs.request({"q": 1}, poll=policy))
            emu.inject(*[Fault("server_error", operation="query", status=503)] * 2)
            mended = await runs.run("looks-mended", runs.request({"q": 2}, poll=policy))
            assert await _scheduled_activities(runs, "looks-local") == ["flowinvoke.start"]
            activities = await _scheduled_activities(runs, "looks-mended")
    assert local.succeeded and mended.succeeded
    assert activities == ["flowinvoke.start", "flowinvoke.query"]
    assert emu.counters.faults["server_error"] == 2


async def test_runs_waiting_beyond_the_workflow_cache_are_replayed_and_finish(
    temporal_address: str, queue: str
) -> None:
    # Three runs in cache, twelve waiting: most are evicted between their timers and
    # replayed from history at the next one (schedules, learned durations and all), so a
    # worker's memory is bounded by the cache, not by the waits.
    emu = emulator(duration=0.6)
    policy = PollPolicy(initial_delay=0.1, multiplier=1.3, max_interval=0.4, timeout=30)
    async with stack(emu, queue, temporal_address, max_cached_workflows=3) as (runs, _):
        keys = [f"evicted-{index}" for index in range(12)]
        for key in keys:
            await runs.start(key, runs.request({"key": key}, poll=policy))
        with anyio.fail_after(60):  # a replay that diverged would retry its task forever
            finished = [await runs.result(key) for key in keys]
    assert [run.output for run in finished] == [{"echo": {"key": key}} for key in keys]
    assert emu.counters.total_invokes == 12


async def test_a_callback_through_any_web_worker_ends_the_wait(
    temporal_address: str, queue: str
) -> None:
    emu = emulator(duration=0.5)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    temporal = await connect(temporal_address)
    receiver = CallbackReceiver(temporal, url, SECRET)
    config = uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    import asyncio

    serving = asyncio.create_task(server.serve())
    try:
        targets = CallbackTargets(url, SECRET)
        async with stack(emu, queue, temporal_address, callbacks=targets) as (runs, _):
            run = await runs.run("hooked", runs.request({"q": 1}, callback=True))
            handle = runs.client.get_workflow_handle("hooked")
            queries = await handle.query("queries", result_type=int)
            history = await handle.fetch_history()
    finally:
        server.should_exit = True
        await serving
    assert run.succeeded
    assert sum(emu.callbacks.values()) == 1
    assert queries == 1  # the fallback's first query is 5 s away: the callback did it
    # That query ran as a local activity in the task that took the signal (a marker), not
    # as an activity task on the queue: the end is recorded one workflow task after it.
    # The history also marks the version of the workflow code that took that path.
    kinds = [event.WhichOneof("attributes") for event in history.events]
    markers = sorted(
        event.marker_recorded_event_attributes.marker_name
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
    )
    assert markers == ["core_local_activity", "core_patch"]
    assert kinds.count("activity_task_scheduled_event_attributes") == 1  # the start only


async def test_a_callback_that_never_comes_is_covered_by_the_fallback_timers(
    temporal_address: str, queue: str
) -> None:
    emu = emulator(duration=0.2)
    targets = CallbackTargets(f"http://127.0.0.1:{free_port()}/nobody", SECRET)
    fallback = PollPolicy(initial_delay=0.5, multiplier=1.5, max_interval=1, timeout=20)
    async with stack(emu, queue, temporal_address, callbacks=targets) as (runs, _):
        request = runs.request({"q": 1}, callback=True).model_copy(
            update={"fallback": runs.request({}, poll=fallback).poll}
        )
        run = await runs.run("unheard", request)
    assert run.succeeded


async def test_forged_and_malformed_callbacks_are_refused(temporal_address: str) -> None:
    temporal = await connect(temporal_address)
    receiver = CallbackReceiver(temporal, "http://127.0.0.1:1/hooks", SECRET)
    target = receiver.webhook_for("no-such-workflow")
    path, secret = target.url, target.headers["X-Flowinvoke-Secret"]
    assert await receiver.handle("GET", path, {}, b"{}") == 405
    assert await receiver.handle("POST", path, {}, b"{}") == 401
    assert await receiver.handle("POST", path, {"X-Flowinvoke-Secret": "x"}, b"{}") == 403
    good = {"X-Flowinvoke-Secret": secret}
    assert await receiver.handle("POST", path, good, b"not json") == 400
    assert await receiver.handle("POST", path, good, b"{}") == 200  # no such workflow: dropped
    assert "secret" not in repr(receiver).lower().replace("secret_key=<hidden>", "")


async def test_an_input_that_is_not_json_is_refused_before_anything_is_sent(
    temporal_address: str,
) -> None:
    runs = TemporalRuns(await connect(temporal_address))
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        runs.request({"when": {1, 2}})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        await runs.submit_batch("bad-batch", [{"ok": 1}, {"bad": object()}])
    with pytest.raises(TypeError):
        runs.request(["not", "a", "mapping"])  # type: ignore[arg-type]


async def test_a_missing_or_dead_address_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWINVOKE_TEMPORAL_ADDRESS", raising=False)
    with pytest.raises(ConfigurationError, match="FLOWINVOKE_TEMPORAL_ADDRESS"):
        await connect()
    with pytest.raises(EngineUnavailableError, match="is the server running"):
        await connect(f"127.0.0.1:{free_port()}")


async def test_the_history_holds_json_and_never_the_key(temporal_address: str, queue: str) -> None:
    emu = emulator()
    async with stack(emu, queue, temporal_address) as (runs, _):
        await runs.run("history", runs.request({"q": 1}, poll=FAST))
        history = await runs.client.get_workflow_handle("history").fetch_history()
    text = json.dumps(history.to_json_dict())
    assert KEY not in text
    assert "json/plain" in text or "anNvbi9wbGFpbg" in text  # base64 of json/plain


async def test_the_callers_trace_reaches_the_activities_and_the_clients_spans(
    temporal_address: str, queue: str
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emu = emulator()
    with LoopbackServer(emu) as server:
        temporal = await connect(temporal_address, tracing=provider)
        client = AsyncClient(**server.client_options("wf"), tracing=provider)
        async with client, build_worker(temporal, client, task_queue=queue, sandboxed=False):
            runs = TemporalRuns(temporal, task_queue=queue)
            with provider.get_tracer("test").start_as_current_span("caller") as caller:
                run = await runs.run("traced", runs.request({"q": 1}, poll=FAST))
    spans = exporter.get_finished_spans()
    trace_id = caller.get_span_context().trace_id
    invoke = next(span for span in spans if span.name == "flowinvoke.invoke")
    assert invoke.context.trace_id == trace_id  # one trace, caller to HTTP request
    parent = next(span for span in spans if span.context.span_id == invoke.parent.span_id)
    assert parent.name == "RunActivity:flowinvoke.start"
    assert parent.attributes["temporalWorkflowID"] == "traced"
    assert any(span.attributes.get("flowinvoke.run_id") == run.id for span in spans)
