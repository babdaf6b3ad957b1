"""Transport-neutral request and reply values shared by the wire formats and the servers.

The core turns a `WireRequest` into a reply without doing any I/O: either a `WireResponse`
(status, headers, body bytes) or a `WireDisconnect` (the connection fails; the server adapter
raises or closes). Waits are expressed by the core as yielded delays that the adapter sleeps.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator, Mapping
from typing import Any, Literal, Protocol, TypeAlias

from ._clock import AsyncSleep, Sleep

__all__ = [
    "ErrorKind",
    "Frames",
    "Handling",
    "TransportFailure",
    "WireDisconnect",
    "WireReply",
    "WireRequest",
    "WireResponse",
    "WireServer",
    "WireStream",
    "canonical_json",
    "immediately",
    "json_response",
]

ErrorKind: TypeAlias = Literal[
    "unauthorized",
    "invalid_request",
    "not_found",
    "insufficient_credits",
    "rate_limited",
    "internal",
]
"""Provider-neutral error vocabulary; each wire module maps it to codes and statuses."""

TransportFailure: TypeAlias = Literal["disconnect", "reset", "timeout", "connect_error"]
"""How a connection fails: RemoteProtocolError, ReadError, ReadTimeout, ConnectError."""


@dataclasses.dataclass(frozen=True)
class WireRequest:
    """An HTTP request as the emulator sees it: header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    query: str = ""
    """The query string, without the `?` (Coze-studio's history call names its run there)."""


@dataclasses.dataclass(frozen=True)
class WireResponse:
    """A complete HTTP answer."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> Any:
        """Decode the body as JSON (for tests and fault rendering)."""
        return json.loads(self.body)


@dataclasses.dataclass(frozen=True)
class WireDisconnect:
    """The connection fails instead of answering.

    Attributes:
        failure: Which transport error the client meets.
        message: Text of that error (no secrets).
        partial: The answer that was being sent when the connection failed, if the request
            was processed; an ASGI server sends its head and part of its body first.
    """

    failure: TransportFailure
    message: str
    partial: WireResponse | None = None


Frames: TypeAlias = Generator["float | bytes", None, "TransportFailure | None"]
"""An event stream being sent: yields delays in seconds to sleep and byte chunks to send;
returns how the connection fails part-way, or None when the stream ends normally."""


@dataclasses.dataclass(frozen=True)
class WireStream:
    """An answer whose body is sent bit by bit while the run goes on (server-sent events).

    `frames` is consumed once by the adapter that serves it.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    frames: Frames = dataclasses.field(repr=False)


WireReply: TypeAlias = WireResponse | WireDisconnect | WireStream
"""What the core decides to do with a request."""

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
)


class WireServer(Protocol):
    """What the adapters (`EmulatorTransport`, `EmulatorASGIApp`) need of a server: an
    answer to each request, and the sleeps that pace a streamed or delayed answer.

    `Emulator` is one; the adapters type against this so they need not import it."""

    sleep: Sleep
    async_sleep: AsyncSleep

    def respond_sync(self, request: WireRequest) -> WireReply: ...

    async def respond_async(self, request: WireRequest) -> WireReply: ...


DROP_MESSAGE = "peer closed connection without sending complete message body"


def sse_frame(data: Any, *, event: str | None = None, event_id: int | None = None) -> bytes:
    """One server-sent event: optional `id:` and `event:` lines, then `data:` JSON."""
    lines = [] if event_id is None else [f"id: {event_id}"]
    if event is not None:
        lines.append(f"event: {event}")
    lines.append(f"data: {json.dumps(data, ensure_ascii=False)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def dropped_after_first_chunk(stream: WireStream, failure: TransportFailure) -> WireStream:
    """The same stream, failing with `failure` right after its first chunk (a stream drop
    once the run has started)."""

    def frames() -> Frames:
        for item in stream.frames:
            if isinstance(item, bytes):
                yield item
                break
            yield item
        stream.frames.close()
        return failure

    return WireStream(stream.status, stream.headers, frames())


Handling: TypeAlias = Generator[float, None, WireReply]
"""A request being handled: yields delays in seconds to sleep, returns the reply."""

JSON_HEADERS: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


def canonical_json(value: Any) -> str:
    """Stable JSON text of a value: sorted keys, no spaces (used to count inputs)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_response(
    status: int, body: Any, extra_headers: tuple[tuple[str, str], ...] = ()
) -> WireResponse:
    """Build a JSON answer."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return WireResponse(status, JSON_HEADERS + extra_headers, data)


def immediately(reply: WireReply) -> Handling:
    """A handling that answers without waiting."""
    yield from ()
    return reply


def parse_json_object(body: bytes, *, empty_is_object: bool) -> dict[str, Any] | None:
    """Decode a request body that must be a JSON object; `None` if it is not one."""
    if not body.strip():
        return {} if empty_is_object else None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else `None`.

    Strict, like aitutor-api's server, which splits the header on `"Bearer "`.
    """
    value = headers.get("authorization", "")
    if not value.startswith("Bearer "):
        return None
    return value[len("Bearer ") :].strip() or None


def header_seconds(seconds: float) -> str:
    """Header text for a number of seconds: "2" for whole numbers, "0.05" otherwise."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return repr(float(seconds))
