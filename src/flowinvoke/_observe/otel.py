"""OpenTelemetry, imported only when tracing is on and `opentelemetry-api` is installed."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from .events import RequestOutcome, TracerProvider

__all__ = ["end_request_span", "records_spans", "tracer_for", "url_parts"]

_TRACER_NAME = "flowinvoke"


def end_request_span(span: Any, outcome: RequestOutcome) -> None:
    if outcome.status is not None:
        span.set_attribute("http.response.status_code", outcome.status)
    if outcome.error is not None:
        from opentelemetry.trace import Status, StatusCode

        kind = type(outcome.error).__qualname__
        span.set_attribute("error.type", kind)
        span.set_status(Status(StatusCode.ERROR, kind))
    span.end()


def url_parts(url: str) -> tuple[str, int]:
    parsed = urlsplit(url)  # a URL the client itself built and sent: already valid
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.hostname or "", port


def tracer_for(tracing: bool | TracerProvider | None) -> Any:
    """OpenTelemetry's tracer for flowinvoke, or None when tracing is off or not installed."""
    if tracing is False:
        return None
    from .._version import __version__

    if not isinstance(tracing, bool | None):
        return tracing.get_tracer(_TRACER_NAME, __version__)
    try:
        installed = importlib.util.find_spec("opentelemetry.trace") is not None
    except ModuleNotFoundError:  # not even the `opentelemetry` namespace is there
        installed = False
    if not installed:
        if tracing:
            raise ConfigurationError('tracing=True needs: pip install "flowinvoke[otel]"')
        return None
    from opentelemetry import trace

    return trace.get_tracer(_TRACER_NAME, __version__)


def records_spans(tracer: Any) -> bool:
    """Whether spans started on `tracer` may be recorded by anyone.

    False for OpenTelemetry's proxy tracer while no tracer provider is installed: its spans
    are no-ops that cost about 20 µs per call and request, so the client makes none until
    a provider is set. (A provider named by `OTEL_PYTHON_TRACER_PROVIDER` is installed by
    `trace.get_tracer`, which `tracer_for` calls.) A provider, once set, is never unset
    (OpenTelemetry allows one per process), so True is final.
    """
    trace: Any = sys.modules["opentelemetry.trace"]  # imported by `tracer_for`
    if not isinstance(tracer, trace.ProxyTracer):
        return not isinstance(tracer, trace.NoOpTracer)
    # The global the API keeps its provider in, read per call where get_tracer_provider()
    # costs a microsecond or more (it looks up an environment variable); the public call
    # where a later API has no such global.
    installed = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
    if installed is None:
        return False
    if installed is _UNKNOWN:
        installed = trace.get_tracer_provider()
    return not isinstance(installed, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


_UNKNOWN = object()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (the caller's request, say), or None when
    there is none or OpenTelemetry is not installed: what the run ledger keeps so that a
    run can be found from its trace."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")
