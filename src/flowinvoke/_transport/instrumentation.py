"""Whether OpenTelemetry's httpx instrumentation traces a client's requests itself.

Where it does, flowinvoke makes no request span of its own (the call's span stays): one
span per request, not two siblings.
"""

from __future__ import annotations

import sys
from typing import Any

from .build import per_process_inner
from .http import AsyncClient, AsyncHTTPTransport, Client, HTTPTransport

__all__ = ["traced_by_httpx_instrumentation"]


def traced_by_httpx_instrumentation(client: Client | AsyncClient) -> bool:
    """Whether OpenTelemetry's httpx instrumentation traces `client`'s requests.

    `HTTPXClientInstrumentor().instrument()` wraps httpx's own transports (not aiohttp's,
    not a test's mock), `instrument_client(client)` one client whatever its transport. The
    instrumentation is looked for only if something imported it: this costs a dictionary
    lookup per request otherwise.
    """
    if getattr(client, "_is_instrumented_by_opentelemetry", False):
        return True
    module = sys.modules.get("opentelemetry.instrumentation.httpx")
    if module is None or not module.HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        return False
    transport: Any = per_process_inner(getattr(client, "_transport", None))
    return isinstance(transport, HTTPTransport | AsyncHTTPTransport)
