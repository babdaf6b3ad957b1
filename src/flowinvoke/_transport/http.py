"""The one place flowinvoke imports httpx (and, for the `fast` extra, aiohttp).

Every other module takes the HTTP names it needs from here, so that moving to another
httpx-compatible client is a change to this file only. It also builds the transport a
client makes for itself: httpx's own by default (which respx mocks and OpenTelemetry's
httpx instrumentation observes), httpx over aiohttp when asked (`fast_transport=True`:
about 0.6 ms of client CPU per request on 2 cores, against 1.4 to 5.6 ms for httpx's own
pool). httpx's own is wrapped (its httpcore network backend, in `_deadline_backend`,
imported only when a transport is built, as httpx imports httpcore) so that

- every socket read, write and connect of a request is cut at the request's deadline
  (a server drip-feeding bytes cannot stretch a request past it, which matters for the
  blocking client: it cannot be cancelled from outside),
- the request records whether any of its bytes were written (so a start that timed out
  before sending is known to be safe to repeat),
- a forked child never (this one for aiohttp too) reuses its parent's pooled connections.

The aiohttp transport is cut by cancellation (the async client's) and does not record
writes.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar, Token
from functools import partial
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
)

from .._core.deadline import Deadline

__all__ = [
    "URL",
    "AsyncBaseTransport",
    "AsyncClient",
    "AsyncHTTPTransport",
    "Attempt",
    "BaseTransport",
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
    "ResponseTooLarge",
    "Timeout",
    "TimeoutException",
    "TransportError",
    "WriteError",
    "WriteTimeout",
    "async_default_transport",
    "attempt",
    "cut_to_deadline",
    "fast_transport_installed",
    "in_small_pieces",
    "known_sent",
    "settled_failure",
    "sync_default_transport",
    "traced_by_httpx_instrumentation",
    "whole_request_seconds",
    "with_content",
]


class ResponseTooLarge(RemoteProtocolError):
    """The answer is larger than the client's `max_response_bytes`: reading stopped there."""


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


# --- One request on its way: its deadline, and whether any of it was written -------------


class Attempt:
    """What the transports learn about one request while sending it.

    `tracked` is True once the request reached the network through a transport
    flowinvoke built over httpcore, which sees every socket write: then `written` says for
    certain whether any byte of the request left this process. Otherwise (a mock, a
    caller's client, aiohttp, a wait in the pool) nothing is known beyond the error's type.

    Used as a context manager, it is the request in flight: socket operations inside the
    block are cut at `deadline`. A class rather than a generator: thousands of queued
    waits each hold one.
    """

    __slots__ = ("_token", "deadline", "tracked", "written")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.tracked = False
        self.written = False
        self._token: Token[Attempt | None] | None = None

    def __enter__(self) -> Attempt:
        self._token = _ATTEMPT.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _ATTEMPT.reset(self._token)
            self._token = None


_ATTEMPT: ContextVar[Attempt | None] = ContextVar("flowinvoke_attempt", default=None)
_SENT = "flowinvoke_request_sent"


def attempt(deadline: Deadline) -> Attempt:
    """Send one request inside this block: its socket operations are cut at `deadline`."""
    return Attempt(deadline)


def settled_failure(exc: RequestError, state: Attempt, url: URL) -> TransportError:
    """`exc` as a `TransportError` that knows whether any of the request was sent.

    A bad body (`DecodingError`) or a redirect loop means an answer came back, so the
    request went out; so did the first request of one whose redirect then failed (the
    failed request has another URL): a start is never repeated after either.
    """
    error = (
        exc
        if isinstance(exc, TransportError)
        else RemoteProtocolError(f"{type(exc).__name__}: {exc}")
    )
    if error is not exc or _redirected(exc, url):
        sent: bool | None = True
    else:
        sent = state.written if state.tracked else None
    setattr(error, _SENT, sent)
    return error


def known_sent(exc: TransportError) -> bool | None:
    """Whether the failed request was sent, if `settled_failure` knew; else None."""
    sent: bool | None = getattr(exc, _SENT, None)
    return sent


def _redirected(exc: RequestError, url: URL) -> bool:
    try:
        failed = exc.request
    except RuntimeError:  # raised outside a request: no URL to compare
        return False
    return failed.url != url


# A compressed answer is handed to the decoder in pieces of this size: deflate inflates at
# most about 1,030 times, so no decoded chunk is larger than about 4 MiB (a whole 64 KiB
# socket read of a gzip bomb would inflate to 64 MiB in one go, before any size check).
_COMPRESSED_PIECE = 4096


def in_small_pieces(response: Response) -> Response:
    """`response`, its compressed body (if any) decoded a few KiB at a time."""
    if "content-encoding" in response.headers:
        response.stream = _SmallPieces(response.stream)
    return response


class _SmallPieces(SyncByteStream, AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            for start in range(0, len(chunk), _COMPRESSED_PIECE):
                yield chunk[start : start + _COMPRESSED_PIECE]

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: trio warns about an async generator
        # abandoned mid-way, which is what a body past the size cap is.
        return _AsyncPieces(self._stream.__aiter__())

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _AsyncPieces:
    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._offset = 0

    def __aiter__(self) -> _AsyncPieces:
        return self

    async def __anext__(self) -> bytes:
        while self._offset >= len(self._chunk):
            self._chunk = await self._chunks.__anext__()
            self._offset = 0
        start = self._offset
        self._offset += _COMPRESSED_PIECE
        return self._chunk[start : self._offset]


def with_content(response: Response, body: bytes) -> Response:
    """`response`, its decoded body already read by the caller (in bounded chunks)."""
    response._content = body  # what httpx's own read() sets
    return response


def cut_to_deadline(
    timeout: float | None, error: type[Exception], *, writing: bool = False
) -> float | None:
    """A socket timeout, shortened to what is left of the current request's deadline
    (unchanged outside `attempt`); raises `error` once the deadline has passed."""
    state = _ATTEMPT.get()
    if state is None:
        return timeout
    state.tracked = True  # this request reached the network (not a mock, not a pool wait)
    if state.deadline.finite:
        left = state.deadline.remaining()
        if left <= 0:
            raise error("the request's deadline passed")
        timeout = left if timeout is None else min(timeout, left)
    if writing:
        state.written = True
    return timeout


class _PerProcess(BaseTransport, AsyncBaseTransport):
    """A transport of the process that uses it: a forked child makes its own.

    A child that reused the parent's pooled connections (gunicorn `--preload`, Celery's
    prefork pool) would read answers meant for another process as its own. The pid is
    compared on each request (one cheap system call); the parent's transport is dropped
    in the child, not closed, since closing could disturb the parent's connections.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._inner = make()
        self._pid = os.getpid()

    def _current(self) -> Any:
        if self._pid != os.getpid():
            self._inner = self._make()
            self._pid = os.getpid()
        return self._inner

    def handle_request(self, request: Request) -> Response:
        response: Response = self._current().handle_request(request)
        return response

    async def handle_async_request(self, request: Request) -> Response:
        response: Response = await self._current().handle_async_request(request)
        return response

    def close(self) -> None:
        if self._pid == os.getpid():
            self._inner.close()

    async def aclose(self) -> None:
        if self._pid == os.getpid():
            await self._inner.aclose()


def traced_by_httpx_instrumentation(client: Client | AsyncClient) -> bool:
    """Whether OpenTelemetry's httpx instrumentation traces `client`'s requests itself.

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
    transport: Any = getattr(client, "_transport", None)
    if isinstance(transport, _PerProcess):
        transport = transport._current()
    return isinstance(transport, HTTPTransport | AsyncHTTPTransport)


def async_default_transport(
    limits: Limits, *, fast: bool, proxy: str | None = None
) -> AsyncBaseTransport:
    """The transport an async client builds for itself: httpx's own, or with `fast=True`
    httpx over aiohttp (imported here, when the client is built, not in the loop).

    Through `proxy` (a URL) it is httpx's own whatever `fast` says."""
    if not fast or proxy is not None:
        from .deadline_backend import own_async_transport

        return _PerProcess(partial(own_async_transport, limits, proxy))
    if not fast_transport_installed():
        raise ImportError('the fast transport needs: pip install "flowinvoke[fast]"')
    return _PerProcess(partial(_AiohttpTransport, limits))


def sync_default_transport(
    limits: Limits, *, fast: bool, proxy: str | None = None
) -> BaseTransport:
    """The transport a blocking client builds for itself: httpx's own (through `proxy`,
    a URL, if given)."""
    if fast:
        raise ImportError("the fast transport serves the async client on asyncio only")
    from .deadline_backend import own_sync_transport

    return _PerProcess(partial(own_sync_transport, limits, proxy))


def _on_trio() -> bool:
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


class _AiohttpTransport(AsyncBaseTransport):
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

        self._inner = AiohttpTransport(limits=limits)
        self._loop_checked = False

    async def handle_async_request(self, request: Request) -> Response:
        if not self._loop_checked:
            if _on_trio():
                from .._core.errors import ConfigurationError  # a wrong setting, not a failure

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
