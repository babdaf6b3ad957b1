"""The one place flowinvoke imports httpx.

Every other module takes the HTTP names it needs from here, so that moving to another
httpx-compatible client (an aiohttp-backed transport, say) is a change to this file only.
"""

from __future__ import annotations

from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncClient,
    BaseTransport,
    Client,
    ConnectError,
    ConnectTimeout,
    Headers,
    HTTPError,
    Limits,
    MockTransport,
    NetworkError,
    PoolTimeout,
    ProtocolError,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    Response,
    Timeout,
    TimeoutException,
    TransportError,
    WriteError,
    WriteTimeout,
)

__all__ = [
    "URL",
    "AsyncBaseTransport",
    "AsyncClient",
    "BaseTransport",
    "Client",
    "ConnectError",
    "ConnectTimeout",
    "HTTPError",
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
    "Response",
    "Timeout",
    "TimeoutException",
    "TransportError",
    "WriteError",
    "WriteTimeout",
]
