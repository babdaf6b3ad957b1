"""The emulator as a plain ASGI 3 application (no framework), for uvicorn or ASGITransport.

Waits use the emulator's `async_sleep` (`anyio.sleep` by default). A connection fault starts
the response (head plus part of the body, with a `content-length` promising more) and then
raises the matching httpx transport error: `httpx.ASGITransport` hands that error to the
client as is, and a real server such as uvicorn closes the connection mid-answer, so the
client meets a genuine protocol or read error. A `connect_error` cannot refuse a connection
from inside an app: it raises `ConnectError` before the response starts (uvicorn then answers
500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias, cast

import anyio

from ._transport import FAILURE_ERRORS
from ._wire import (
    JSON_HEADERS,
    TransportFailure,
    WireDisconnect,
    WireRequest,
    WireResponse,
    WireServer,
    WireStream,
)

__all__ = ["EmulatorASGIApp"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]

_DECLARED_MINIMUM = 64


class EmulatorASGIApp:
    """An ASGI 3 app serving an `Emulator`; handles `http` and `lifespan` scopes.

    Build it with `Emulator.asgi_app()` or `EmulatorASGIApp(emulator)`.
    """

    def __init__(self, emulator: WireServer) -> None:
        self.emulator = emulator

    def __repr__(self) -> str:
        return f"EmulatorASGIApp({self.emulator!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        request = WireRequest(scope["method"], scope["path"], headers, bytes(body), query)
        reply = await self.emulator.respond_async(request)
        if isinstance(reply, WireDisconnect):
            await _fail(reply, send)
            return
        if isinstance(reply, WireStream):
            failure: TransportFailure | None = None
            async with anyio.create_task_group() as group:
                # A client that leaves mid-stream ends the stream at once, not at its next
                # chunk (a run may ping only every 10 s), so servers shut down promptly.
                group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
                failure = await self._send_stream(reply, send)
                group.cancel_scope.cancel()
            if failure is not None:  # raised out here, not inside an exception group
                raise FAILURE_ERRORS[failure]("the event stream broke off")
            return
        await _send_response(reply, send)

    async def _send_stream(self, stream: WireStream, send: Send) -> TransportFailure | None:
        """Send an event stream as it goes; return how it breaks off part-way, if it does."""
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stream.headers]
        await send({"type": "http.response.start", "status": stream.status, "headers": headers})
        frames = stream.frames
        try:
            while True:
                item = next(frames)
                if isinstance(item, bytes):
                    await send({"type": "http.response.body", "body": item, "more_body": True})
                elif item > 0:
                    await self.emulator.async_sleep(item)
        except StopIteration as stop:
            if stop.value is not None:
                return cast("TransportFailure", stop.value)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return None


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _send_response(response: WireResponse, send: Send) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


async def _fail(reply: WireDisconnect, send: Send) -> None:
    error = FAILURE_ERRORS[reply.failure](reply.message)
    if reply.failure == "connect_error":
        raise error
    partial = reply.partial or WireResponse(200, JSON_HEADERS, b"")
    declared = max(len(partial.body), _DECLARED_MINIMUM)
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in partial.headers]
    headers.append((b"content-length", str(declared).encode()))
    await send({"type": "http.response.start", "status": partial.status, "headers": headers})
    await send(
        {
            "type": "http.response.body",
            "body": partial.body[: len(partial.body) // 2],
            "more_body": True,
        }
    )
    raise error


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
