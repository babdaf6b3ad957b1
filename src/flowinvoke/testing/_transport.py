"""The emulator as an httpx `MockTransport`, for in-process sync and async clients.

One transport serves both `httpx.Client` and `httpx.AsyncClient`: sync requests wait with the
emulator's blocking `sleep`, async requests with its `async_sleep` (anyio, so asyncio and trio
both work and the event loop is never blocked). A connection fault raises the httpx transport
error a real connection would: `RemoteProtocolError`, `ReadError`, `ReadTimeout` or
`ConnectError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from flowinvoke._transport.http import (
    ConnectError,
    MockTransport,
    ReadError,
    ReadTimeout,
    RemoteProtocolError,
    Request,
    Response,
    TransportError,
)

from ._wire import DROP_MESSAGE, WireDisconnect, WireReply, WireRequest, WireServer, WireStream

__all__ = ["EmulatorTransport"]

FAILURE_ERRORS: dict[str, type[TransportError]] = {
    "disconnect": RemoteProtocolError,
    "reset": ReadError,
    "timeout": ReadTimeout,
    "connect_error": ConnectError,
}
"""The httpx exception each kind of connection failure raises."""


def wire_request(request: Request) -> WireRequest:
    """The emulator's view of an httpx request whose body has been read."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    query = request.url.query.decode("ascii", errors="replace")
    return WireRequest(request.method, request.url.path, headers, request.content, query)


def to_response(reply: WireReply, request: Request, emulator: WireServer | None = None) -> Response:
    """Turn a reply into an httpx response, or raise its transport error.

    A `WireStream` becomes a response whose body arrives as the stream goes on, waiting
    with the emulator's blocking `sleep` (or its `async_sleep`, through `to_async_response`).
    """
    if isinstance(reply, WireDisconnect):
        raise FAILURE_ERRORS[reply.failure](reply.message, request=request)
    if isinstance(reply, WireStream):
        assert emulator is not None
        body = _sync_chunks(reply, request, emulator)
        return Response(reply.status, headers=list(reply.headers), content=body)
    return Response(reply.status, headers=list(reply.headers), content=reply.body)


def to_async_response(reply: WireReply, request: Request, emulator: WireServer) -> Response:
    """`to_response` for an async client: a stream's waits use `async_sleep`."""
    if isinstance(reply, WireStream):
        body = _async_chunks(reply, request, emulator)
        return Response(reply.status, headers=list(reply.headers), content=body)
    return to_response(reply, request)


def _sync_chunks(stream: WireStream, request: Request, emulator: WireServer) -> Iterator[bytes]:
    for item in _items(stream, request):
        if isinstance(item, bytes):
            yield item
        elif item > 0:
            emulator.sleep(item)


async def _async_chunks(
    stream: WireStream, request: Request, emulator: WireServer
) -> AsyncIterator[bytes]:
    for item in _items(stream, request):
        if isinstance(item, bytes):
            yield item
        elif item > 0:
            await emulator.async_sleep(item)


def _items(stream: WireStream, request: Request) -> Iterator[float | bytes]:
    """A stream's delays and chunks; at its end, the transport error it breaks with."""
    failure = yield from stream.frames
    if failure is not None:
        raise FAILURE_ERRORS[failure](DROP_MESSAGE, request=request)


class EmulatorTransport(MockTransport):
    """A `MockTransport` whose async path waits without blocking the event loop.

    Build it with `Emulator.transport()`; pass it as `transport=` to an httpx client.
    """

    def __init__(self, emulator: WireServer) -> None:
        self._emulator = emulator
        super().__init__(self._handle)

    def __repr__(self) -> str:
        return f"EmulatorTransport({self._emulator!r})"

    def _handle(self, request: Request) -> Response:
        return to_response(
            self._emulator.respond_sync(wire_request(request)), request, self._emulator
        )

    async def handle_async_request(self, request: Request) -> Response:
        """Serve an async client: read the body, handle, wait with `async_sleep`."""
        await request.aread()
        reply = await self._emulator.respond_async(wire_request(request))
        return to_async_response(reply, request, self._emulator)
