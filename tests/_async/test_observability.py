"""Seeing inside a run: OpenTelemetry spans, hooks and structured log records."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import respx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from flowinvoke import (
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    WorkflowFailedError,
    WorkflowRun,
)

from ..seed_bodies import GPTBOTS_ASYNC_ANSWER, gptbots_state
from .conftest import PatchedClientClock
from .support import INVOKE_URL, KEY, QUERY_URL, make_client

SECRET_INPUT = {"topic": "a private matter"}


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _named(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name == name]


def _everything_recorded(finished: tuple[ReadableSpan, ...]) -> str:
    parts = []
    for span in finished:
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        for event in span.events:
            parts.append(json.dumps(dict(event.attributes or {}), default=str))
    return "\n".join(parts)


def _mock_a_run(*queries: httpx.Response) -> None:
    respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
    respx.post(QUERY_URL).mock(side_effect=list(queries))


@pytest.mark.anyio
async def test_a_run_is_one_span_with_a_child_per_request(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    provider, exporter = spans
    with respx.mock:
        _mock_a_run(
            httpx.Response(500),
            httpx.Response(200, json=gptbots_state("RUNNING")),
            httpx.Response(200, json=gptbots_state("SUCCEED")),
        )
        async with make_client(tracing=provider) as client:
            await client.run(SECRET_INPUT)
    finished = exporter.get_finished_spans()
    [run] = _named(finished, "flowinvoke.run")
    assert run.attributes is not None
    assert run.attributes["flowinvoke.provider"] == "gptbots"
    assert run.attributes["flowinvoke.run_id"] == "run-42"
    assert run.attributes["flowinvoke.status"] == "SUCCEEDED"
    assert run.attributes["flowinvoke.queries"] == 3
    assert run.attributes["flowinvoke.workflow_id"] == "wf-news"
    requests = _named(finished, "POST")
    assert len(requests) == 4  # the start and three queries
    assert all(span.parent is not None for span in requests)
    assert {span.parent.span_id for span in requests if span.parent} == {run.context.span_id}
    first_query = requests[1]
    assert first_query.attributes is not None
    assert first_query.attributes["http.request.method"] == "POST"
    assert first_query.attributes["server.address"] == "api-sg.gptbots.ai"
    assert first_query.attributes["http.response.status_code"] == 500
    assert first_query.status.status_code is StatusCode.ERROR
    events = [event.name for event in run.events]
    assert events.count("flowinvoke.retry") == 1
    assert events.count("flowinvoke.state") == 3  # PENDING, RUNNING, SUCCEED
    recorded = _everything_recorded(finished)
    assert KEY not in recorded
    assert "private matter" not in recorded  # inputs only when asked for


@pytest.mark.anyio
async def test_inputs_are_recorded_only_when_asked_for(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    provider, exporter = spans
    with respx.mock:
        _mock_a_run(httpx.Response(200, json=gptbots_state("SUCCEED")))
        async with make_client(tracing=provider, trace_inputs=True) as client:
            await client.run(SECRET_INPUT)
    [run] = _named(exporter.get_finished_spans(), "flowinvoke.run")
    assert run.attributes is not None
    assert "private matter" in str(run.attributes["flowinvoke.input"])


@pytest.mark.anyio
async def test_a_failed_run_marks_its_span_as_an_error(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    provider, exporter = spans
    with respx.mock:
        _mock_a_run(httpx.Response(200, json=gptbots_state("FAILED")))
        async with make_client(tracing=provider) as client:
            with pytest.raises(WorkflowFailedError):
                await client.run({"a": 1})
    [run] = _named(exporter.get_finished_spans(), "flowinvoke.run")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes is not None
    assert run.attributes["error.type"] == "WorkflowFailedError"
    assert run.attributes["flowinvoke.run_id"] == "run-42"
    assert [event.name for event in run.events][-1] == "exception"


@pytest.mark.anyio
async def test_a_batch_is_a_span_with_a_run_span_per_input(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    provider, exporter = spans
    with respx.mock:
        respx.post(INVOKE_URL).respond(200, json=GPTBOTS_ASYNC_ANSWER)
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client(tracing=provider) as client:
            items = await client.run_many([{"n": n} for n in range(3)], concurrency=2)
            async for item in client.as_completed([{"n": 9}]):
                assert item.ok
    assert all(item.ok for item in items)
    finished = exporter.get_finished_spans()
    batches = _named(finished, "flowinvoke.run_many")
    assert len(batches) == 2
    runs = _named(finished, "flowinvoke.run")
    assert len(runs) == 4
    batch_ids = {batch.context.span_id for batch in batches}
    assert {run.parent.span_id for run in runs if run.parent} == batch_ids


@pytest.mark.anyio
async def test_get_run_wait_and_watch_have_their_spans(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    provider, exporter = spans
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client(tracing=provider) as client:
            await client.get_run("run-42")
            await client.wait("run-42")
            async for _ in client.watch("run-42"):
                pass
    names = [span.name for span in exporter.get_finished_spans() if span.name != "POST"]
    assert names == ["flowinvoke.get_run", "flowinvoke.wait", "flowinvoke.wait"]
    for span in exporter.get_finished_spans():
        if span.name != "POST":
            assert span.attributes is not None
            assert span.attributes["flowinvoke.run_id"] == "run-42"
            assert span.attributes["flowinvoke.status"] == "SUCCEEDED"


@pytest.mark.anyio
async def test_tracing_off_records_nothing(
    spans: tuple[TracerProvider, InMemorySpanExporter], clock: PatchedClientClock
) -> None:
    _, exporter = spans
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client(tracing=False) as client:
            await client.get_run("run-42")
    assert exporter.get_finished_spans() == ()


@pytest.fixture
def no_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenTelemetry as a process that never installed a tracer provider (restored after)."""
    from opentelemetry import trace

    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", type(trace._TRACER_PROVIDER_SET_ONCE)())


@pytest.mark.anyio
async def test_default_tracing_makes_no_span_until_a_provider_is_installed(
    spans: tuple[TracerProvider, InMemorySpanExporter],
    clock: PatchedClientClock,
    no_global_provider: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import trace

    started: list[str] = []
    real_start = trace.ProxyTracer.start_span

    def counting(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return real_start(self, name, *args, **kwargs)

    monkeypatch.setattr(trace.ProxyTracer, "start_span", counting)
    provider, exporter = spans
    with respx.mock:
        respx.post(QUERY_URL).respond(200, json=gptbots_state("SUCCEED"))
        async with make_client() as client:  # tracing=None: the global provider
            await client.get_run("run-42")
            assert started == []  # the API's no-op spans cost ~20 µs per call and request
            trace.set_tracer_provider(provider)
            await client.get_run("run-42")
    assert started == ["flowinvoke.get_run", "POST"]
    assert [span.name for span in exporter.get_finished_spans()] == ["POST", "flowinvoke.get_run"]


@pytest.mark.anyio
async def test_hooks_see_every_request_response_retry_and_state(clock: PatchedClientClock) -> None:
    seen: list[Any] = []

    def broken(_: object) -> None:
        raise RuntimeError("an observer bug must not break the run")

    hooks = Hooks(
        on_request=seen.append,
        on_response=seen.append,
        on_retry=seen.append,
        on_state=seen.append,
    )
    with respx.mock:
        _mock_a_run(
            httpx.Response(503),
            httpx.Response(200, json=gptbots_state("SUCCEED")),
        )
        async with make_client(hooks=[hooks, Hooks(on_response=broken)]) as client:
            run = await client.run({"a": 1})
    assert run.succeeded
    kinds = [type(event).__name__ for event in seen]
    assert kinds == [
        "RequestEvent",  # the start
        "ResponseEvent",
        "WorkflowRun",  # PENDING
        "RequestEvent",  # the first query
        "ResponseEvent",  # 503
        "RetryEvent",
        "RequestEvent",
        "ResponseEvent",
        "WorkflowRun",  # SUCCEED
    ]
    start, started, _, query, failed, retry, again, answered, _ = seen
    assert isinstance(start, RequestEvent)
    assert (start.operation, start.method, start.attempt) == ("invoke", "POST", 1)
    assert start.url == INVOKE_URL
    assert isinstance(started, ResponseEvent)
    assert started.status_code == 200
    assert started.error is None
    assert isinstance(query, RequestEvent)
    assert (query.operation, query.run_id) == ("query", "run-42")
    assert isinstance(failed, ResponseEvent)
    assert failed.status_code == 503
    assert failed.error is not None
    assert isinstance(retry, RetryEvent)
    assert retry.delay > 0
    assert isinstance(again, RequestEvent)
    assert again.attempt == 2
    assert isinstance(answered, ResponseEvent)
    assert isinstance(seen[-1], WorkflowRun)
    assert KEY not in repr(seen)


@pytest.mark.anyio
async def test_every_record_carries_the_structured_fields(
    clock: PatchedClientClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flowinvoke")
    with respx.mock:
        _mock_a_run(httpx.Response(502), httpx.Response(200, json=gptbots_state("SUCCEED")))
        async with make_client() as client:
            await client.run({"a": 1})
    records = [r for r in caplog.records if r.name == "flowinvoke"]
    assert records
    for record in records:
        for field in ("run_id", "provider", "operation", "attempt"):
            assert hasattr(record, field)
    assert {r.operation for r in records} >= {"invoke", "query"}  # type: ignore[attr-defined]
    retry = next(r for r in records if r.getMessage().startswith("retrying"))
    assert retry.attempt == 2  # type: ignore[attr-defined]
