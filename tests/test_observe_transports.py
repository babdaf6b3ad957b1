"""Hooks and request spans see every transport: httpx's own and the opt-in aiohttp one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowinvoke import Hooks, PollPolicy
from flowinvoke.testing import Emulator, LoopbackServer, Workflow

pytest.importorskip("uvicorn")
QUICK = PollPolicy(initial_delay=0.01, multiplier=1.0, max_interval=0.01, jitter=0)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    emulator = Emulator([Workflow(id="wf-seen", api_key="key-seen-0123", polls=2)])
    with LoopbackServer(emulator) as served:
        yield served


@pytest.mark.parametrize("fast", [False, True], ids=["own", "aiohttp"])
def test_every_request_is_a_span_and_a_hook_call_on_either_transport(
    server: LoopbackServer, fast: bool
) -> None:
    if fast:
        pytest.importorskip("httpx_aiohttp")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    answered: list[Any] = []

    async def main() -> None:
        client = server.async_client(
            "wf-seen",
            poll=QUICK,
            fast_transport=fast,
            tracing=provider,
            hooks=Hooks(on_response=answered.append),
        )
        async with client:
            await client.run({"a": 1})

    anyio.run(main, backend="asyncio")  # the aiohttp transport serves asyncio only
    requests = [span for span in exporter.get_finished_spans() if span.name == "POST"]
    assert len(requests) == len(answered) >= 3  # the start and at least two queries
    assert all(event.status_code == 200 for event in answered)
    for span in requests:
        assert span.attributes is not None
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["http.response.status_code"] == 200
