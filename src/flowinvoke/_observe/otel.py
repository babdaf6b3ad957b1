"""OpenTelemetry, imported only when tracing is on and `opentelemetry-api` is installed."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from .events import RequestOutcome, TracerProvider

__all__ = ["end_request_span", "tracer_for", "url_parts"]

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
