"""With OpenTelemetry's httpx instrumentation on too, each request is traced once (issue 23).

flowinvoke's own request spans step aside wherever the instrumentation traces the request
itself (httpx's own transports once `instrument()` is called, any client passed to
`instrument_client`), and stay where it does not (the aiohttp transport): one CLIENT span
per request either way, under the call's span.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from flowinvoke import Client, PollPolicy
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

from ._async.test_observability import spans

__all__ = ["spans"]  # the fixture, shared with the observability tests

pytest.importorskip("uvicorn")
QUICK = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    emulator = Emulator([Workflow(id="wf-traced", api_key="key-traced-0123", polls=2)])
    with LoopbackServer(emulator) as served:
        yield served


@pytest.fixture
def instrumented(spans: tuple[TracerProvider, InMemorySpanExporter]) -> Iterator[None]:
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=spans[0])
    try:
        yield
    finally:
        instrumentor.uninstrument()


def _one_span_per_request(finished: tuple[ReadableSpan, ...], requests: int, scope: str) -> None:
    clients = [span for span in finished if span.kind is SpanKind.CLIENT]
    assert len(clients) == requests >= 3, [(s.name, s.instrumentation_scope) for s in clients]
    assert {span.instrumentation_scope.name for span in clients} == {scope}  # type: ignore[union-attr]
    (call,) = [span for span in finished if span.name == "flowinvoke.run"]
    assert all(span.parent is not None for span in clients)
    assert {span.parent.span_id for span in clients} == {call.context.span_id}  # type: ignore[union-attr]


def _run(server: LoopbackServer, flavour: str, provider: TracerProvider, **options: Any) -> None:
    options = {"poll": QUICK, "tracing": provider, **options}
    if flavour == "sync":
        with server.client("wf-traced", **options) as client:
            client.run({"a": 1})
        return

    async def main() -> None:
        async with server.async_client("wf-traced", **options) as client:
            await client.run({"a": 1})

    anyio.run(main, backend=flavour if flavour == "trio" else "asyncio")


@pytest.mark.usefixtures("instrumented")
@pytest.mark.parametrize("flavour", ["asyncio", "trio", "sync"])
def test_with_httpx_instrumentation_each_request_is_its_span_alone(
    server: LoopbackServer, spans: tuple[TracerProvider, InMemorySpanExporter], flavour: str
) -> None:
    provider, exporter = spans
    before = server.emulator.counters.requests
    _run(server, flavour, provider)
    requests = server.emulator.counters.requests - before
    _one_span_per_request(
        exporter.get_finished_spans(), requests, "opentelemetry.instrumentation.httpx"
    )


@pytest.mark.usefixtures("instrumented")
def test_the_aiohttp_transport_which_httpx_instrumentation_misses_keeps_its_spans(
    server: LoopbackServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    pytest.importorskip("httpx_aiohttp")
    provider, exporter = spans
    before = server.emulator.counters.requests
    _run(server, "asyncio", provider, fast_transport=True)
    requests = server.emulator.counters.requests - before
    _one_span_per_request(exporter.get_finished_spans(), requests, "flowinvoke")


def test_a_client_instrumented_on_its_own_is_traced_once(
    server: LoopbackServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    with httpx.Client() as yours:
        HTTPXClientInstrumentor.instrument_client(yours, tracer_provider=provider)
        before = server.emulator.counters.requests
        with Client(
            **server.client_options("wf-traced"), http_client=yours, poll=QUICK, tracing=provider
        ) as client:
            client.run({"a": 1})
        requests = server.emulator.counters.requests - before
    _one_span_per_request(
        exporter.get_finished_spans(), requests, "opentelemetry.instrumentation.httpx"
    )


def test_without_the_instrumentation_flowinvoke_traces_each_request(
    server: LoopbackServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    before = server.emulator.counters.requests
    _run(server, "asyncio", provider)
    requests = server.emulator.counters.requests - before
    _one_span_per_request(exporter.get_finished_spans(), requests, "flowinvoke")
