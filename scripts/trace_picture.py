"""Draw docs/trace.svg: the spans of one traced run against the bundled emulator.

Why: the Observability page shows what a trace looks like; drawing it from real spans keeps
the picture true when the spans change. Needs `flowinvoke[otel]` and `opentelemetry-sdk`.

Usage::

    python scripts/trace_picture.py            # (re)write docs/trace.svg
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowinvoke import PollPolicy, RetryPolicy
from flowinvoke.testing import Emulator, Fault, Workflow

OUT = Path(__file__).resolve().parent.parent / "docs" / "trace.svg"
ROW, LABEL, WIDTH = 26, 250, 760


def record() -> list[ReadableSpan]:
    """Serve one request that runs a workflow, with a query answered 503 and retried."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emulator = Emulator([Workflow(id="wf-summary", api_key="key-summary", polls=2)])
    emulator.inject(Fault("server_error", status=503, operation="query"))
    poll = PollPolicy(initial_delay=0.05, multiplier=1.5, jitter=0, timeout=10)
    retry = RetryPolicy(initial_delay=0.03, jitter=False)
    tracer = provider.get_tracer("app")
    with (
        tracer.start_as_current_span("POST /summaries"),
        emulator.client("wf-summary", poll=poll, retry=retry, tracing=provider) as client,
    ):
        time.sleep(0.01)  # the app's own work before it calls the workflow
        client.run({"topic": "weekly news"})
        time.sleep(0.01)
    return sorted(exporter.get_finished_spans(), key=lambda span: span.start_time or 0)


def draw(spans: list[ReadableSpan]) -> str:
    start = min(span.start_time or 0 for span in spans)
    end = max(span.end_time or 0 for span in spans)
    scale = (WIDTH - LABEL - 20) / max(end - start, 1)
    depth = {span.context.span_id: 0 for span in spans}
    for span in spans:
        if span.parent is not None and span.parent.span_id in depth:
            depth[span.context.span_id] = depth[span.parent.span_id] + 1
    rows = []
    for index, span in enumerate(spans):
        y = 10 + index * ROW
        x = LABEL + ((span.start_time or 0) - start) * scale
        width = max(((span.end_time or 0) - (span.start_time or 0)) * scale, 2)
        attributes = span.attributes or {}
        status = attributes.get("http.response.status_code")
        failed = span.status.status_code.name == "ERROR"
        colour = (
            "#d9534f"
            if failed
            else ("#5b8def" if span.name.startswith("flowinvoke") else "#8fb573")
        )
        label = span.name + (f" {status}" if status else "")
        millis = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        indent = 10 + 14 * depth[span.context.span_id]
        rows.append(
            f'<text x="{indent}" y="{y + 15}" font-size="12">{html.escape(label)}</text>'
            f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="16" rx="3" '
            f'fill="{colour}"/>'
            f'<text x="{x + width + 4:.1f}" y="{y + 15}" font-size="11" '
            f'fill="#555">{millis:.0f} ms</text>'
        )
        for event in span.events:
            if event.name in ("flowinvoke.retry", "flowinvoke.state"):
                ex = LABEL + (event.timestamp - start) * scale
                mark = "#d9534f" if event.name == "flowinvoke.retry" else "#222"
                rows.append(
                    f'<circle cx="{ex:.1f}" cy="{y + 11}" r="3" fill="{mark}">'
                    f"<title>{html.escape(event.name)}</title></circle>"
                )
    height = 20 + len(spans) * ROW + 24
    legend = (
        f'<text x="10" y="{height - 8}" font-size="11" fill="#555">'
        "blue: flowinvoke call spans; green: HTTP request spans; red: failed; "
        "dots on the run span: state changes (black) and the retry (red)</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH + 60}" height="{height}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
        + "".join(rows)
        + legend
        + "</svg>\n"
    )


if __name__ == "__main__":
    OUT.write_text(draw(record()), encoding="utf-8")
    print(f"wrote {OUT}")
