"""The one place flowinvoke imports httpx (and, for the `fast` extra, aiohttp).

Every other module takes the HTTP names it needs from here, so that moving to another
httpx-compatible client is a change to this file only. It also chooses the transport a
client builds for itself: on asyncio, with the `fast` extra installed, httpx over aiohttp
(about 0.6 ms of client CPU per request on 2 cores, against 1.4 to 5.6 ms for httpx's own
pool); httpx's own transport everywhere else.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from typing import Any

from httpx import (
    URL,
    AsyncBaseTransport,
    AsyncByteStream,
    AsyncClient,
    AsyncHTTPTransport,
    BaseTransport,
    Client,
    ConnectError,
    ConnectTimeout,
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
    "AsyncHTTPTransport",
    "BaseTransport",
    "Client",
    "ConnectError",
    "ConnectTimeout",
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
    "Response",
    "Timeout",
    "TimeoutException",
    "TransportError",
    "WriteError",
    "WriteTimeout",
    "async_default_transport",
    "fast_transport_installed",
    "sync_default_transport",
]


def fast_transport_installed() -> bool:
    """Whether the `fast` extra (aiohttp with httpx-aiohttp) is installed."""
    return importlib.util.find_spec("httpx_aiohttp") is not None


def async_default_transport(limits: Limits, *, fast: bool | None) -> AsyncBaseTransport:
    """The transport an async client builds for itself.

    `fast=None` picks, at the first request, aiohttp's transport when the `fast` extra is
    installed and the loop is asyncio's, and httpx's own otherwise (on trio, say); True
    insists on aiohttp's, False refuses it.
    """
    if fast is False:
        return AsyncHTTPTransport(limits=limits)
    if fast and not fast_transport_installed():
        raise ImportError('the fast transport needs: pip install "flowinvoke[fast]"')
    return _ChosenAtFirstRequest(limits, insist=bool(fast))


def sync_default_transport(limits: Limits, *, fast: bool | None) -> BaseTransport:
    """The transport a blocking client builds for itself: httpx's own."""
    if fast:
        raise ImportError("the fast transport serves the async client on asyncio only")
    return HTTPTransport(limits=limits)


def _on_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


class _ChosenAtFirstRequest(AsyncBaseTransport):
    """A transport that picks its engine in the event loop that first uses it.

    A client is often built before any loop runs, so the choice cannot be made earlier.
    """

    def __init__(self, limits: Limits, *, insist: bool) -> None:
        self._limits = limits
        self._insist = insist
        self._inner: AsyncBaseTransport | None = None

    async def handle_async_request(self, request: Request) -> Response:
        if self._inner is None:
            self._inner = self._choose()
        return await self._inner.handle_async_request(request)

    def _choose(self) -> AsyncBaseTransport:
        if not _on_trio() and fast_transport_installed():
            return _AiohttpTransport(self._limits)
        if self._insist:
            from ._errors import ConfigurationError  # not a transport failure: a wrong setting

            raise ConfigurationError("fast_transport=True needs asyncio; this loop is trio's")
        return AsyncHTTPTransport(limits=self._limits)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


class _AiohttpTransport(AsyncBaseTransport):
    """httpx-aiohttp's transport, with its transport errors told apart correctly.

    httpx-aiohttp maps every aiohttp connection error, a connection dropped after the
    request was sent included, to `ConnectTimeout`, which would tell the retry logic that
    nothing was sent and make a start look safe to repeat. The errors are mapped again here
    from the aiohttp exception itself, the body stream's included.
    """

    def __init__(self, limits: Limits) -> None:
        from httpx_aiohttp import AiohttpTransport

        self._inner = AiohttpTransport(limits=limits)

    async def handle_async_request(self, request: Request) -> Response:
        try:
            response = await self._inner.handle_async_request(request)
        except TransportError as exc:
            raise _remapped(exc, request) from exc.__cause__
        response.stream = _RemappedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _RemappedStream(AsyncByteStream):
    def __init__(self, stream: Any, request: Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except TransportError as exc:
            raise _remapped(exc, self._request) from exc.__cause__

    async def aclose(self) -> None:
        await self._stream.aclose()


def _remapped(exc: TransportError, request: Request) -> TransportError:
    import aiohttp

    cause = exc.__cause__
    kind: type[TransportError]
    if isinstance(cause, aiohttp.ClientConnectorError):
        kind = ConnectError  # no connection: nothing was sent
    elif isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = ConnectTimeout  # no connection in time (pool wait included): nothing sent
    elif isinstance(cause, aiohttp.ServerTimeoutError):
        kind = ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        kind = RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        kind = ReadError
    else:
        return exc
    return kind(str(exc) or type(cause).__name__, request=request)
