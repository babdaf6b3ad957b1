"""The httpx names flowinvoke uses, imported from httpx here and nowhere else.

Every other module takes the HTTP names it needs from this one (or from the modules of
this package), so that moving to another httpx-compatible client is a change inside
`_transport/` only. The transports a client builds for itself are in `build`; what one
request in flight learns (its deadline, whether it was written) in `attempt`; bounded body
reading in `body`; the deadline-cutting httpcore backends in `deadline_backend`; the
aiohttp adapter in `aiohttp_transport`.
"""

from __future__ import annotations

import importlib.util

from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncByteStream,
    AsyncClient,
    AsyncHTTPTransport,
    BaseTransport,
    ByteStream,
    Client,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    Headers,
    HTTPError,
    HTTPTransport,
    Limits,
    MockTransport,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    RequestError,
    Response,
    SyncByteStream,
    Timeout,
    TimeoutException,
    TransportError,
    WriteError,
    WriteTimeout,
    create_ssl_context,
)

__all__ = [
    "URL",
    "AsyncBaseTransport",
    "AsyncByteStream",
    "AsyncClient",
    "AsyncHTTPTransport",
    "BaseTransport",
    "ByteStream",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "HTTPError",
    "HTTPTransport",
    "Headers",
    "Limits",
    "MockTransport",
    "NetworkError",
    "PoolTimeout",
    "ProtocolError",
    "ReadError",
    "ReadTimeout",
    "RemoteProtocolError",
    "Request",
    "RequestError",
    "Response",
    "SyncByteStream",
    "Timeout",
    "TimeoutException",
    "TransportError",
    "WriteError",
    "WriteTimeout",
    "create_ssl_context",
    "fast_transport_installed",
    "whole_request_seconds",
]


def fast_transport_installed() -> bool:
    """Whether the `fast` extra (aiohttp with httpx-aiohttp) is installed."""
    return importlib.util.find_spec("httpx_aiohttp") is not None


def whole_request_seconds(timeout: Timeout) -> float | None:
    """How long one request may take as a whole, pool wait and body included.

    A float `timeout` sets every phase to the same value, so the whole request gets that
    value too; for an `httpx.Timeout` it is the largest of its phase limits. No read limit
    (`read=None`) means no limit on the whole request either.
    """
    if timeout.read is None:
        return None
    phases = (timeout.connect, timeout.read, timeout.write, timeout.pool)
    return max(value for value in phases if value is not None)
