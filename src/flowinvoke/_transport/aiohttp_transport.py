"""httpx over aiohttp (the `fast` extra), its errors mapped to what they mean."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

from .._core.errors import ConfigurationError
from .http import (
    AsyncBaseTransport,
    AsyncByteStream,
    ConnectError,
    ConnectTimeout,
    Limits,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    Response,
    TransportError,
)
from .tls import shared_ssl_context

__all__ = ["AiohttpTransport"]


def _on_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


class AiohttpTransport(AsyncBaseTransport):
    """httpx-aiohttp's transport, with its transport errors told apart correctly.

    httpx-aiohttp maps every aiohttp connection error, a connection dropped after the
    request was sent included, to `ConnectTimeout`, which would tell the retry logic that
    nothing was sent and make a start look safe to repeat; and it lets some aiohttp errors
    through as they are (`ClientResponseError` for a bad status line or header, whose repr
    holds the request's headers, the API key among them). The errors are mapped again here
    from the aiohttp exception itself, the body stream's included, and raised without it.
    """

    def __init__(self, limits: Limits) -> None:
        from httpx_aiohttp import AiohttpTransport

        self._inner = AiohttpTransport(limits=limits, verify=shared_ssl_context())
        self._loop_checked = False

    async def handle_async_request(self, request: Request) -> Response:
        if not self._loop_checked:
            if _on_trio():
                raise ConfigurationError("fast_transport=True needs asyncio; this loop is trio's")
            self._loop_checked = True
        failure: TransportError | None = None
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:  # sorted out in _remapped
            failure = _remapped(exc, request)
        if failure is not None:
            raise failure  # outside the handler: the aiohttp error is not even its context
        response.stream = _RemappedStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class _RemappedStream(AsyncByteStream):
    def __init__(self, stream: Any, request: Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        failure: TransportError | None = None
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:  # sorted out in _remapped
            failure = _remapped(exc, self._request)
        if failure is not None:
            raise failure

    async def aclose(self) -> None:
        await self._stream.aclose()


def _remapped(exc: Exception, request: Request) -> TransportError:
    """The httpx transport error an aiohttp failure means; any other error is re-raised."""
    import aiohttp

    cause = exc.__cause__ if isinstance(exc, TransportError) else exc
    kind: type[TransportError]
    if isinstance(cause, aiohttp.ClientConnectorError):
        kind = ConnectError  # no connection: nothing was sent
    elif isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = ConnectTimeout  # no connection in time (pool wait included): nothing sent
    elif isinstance(cause, aiohttp.ServerTimeoutError):
        kind = ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        kind = RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientResponseError):
        # Its message names the URL and the fault; its repr would show the request headers.
        detail = f"{cause.status}, {cause.message}" if cause.message else str(cause.status)
        return RemoteProtocolError(f"{type(cause).__name__}: {detail}", request=request)
    elif isinstance(cause, aiohttp.ClientError):
        kind = ReadError
    elif isinstance(exc, TransportError):
        return exc
    else:
        raise exc
    return kind(str(cause) or type(cause).__name__, request=request)
