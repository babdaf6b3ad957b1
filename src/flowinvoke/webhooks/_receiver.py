"""`WebhookReceiver`: the endpoint the platform calls when a run ends, and the waits it wakes.

Order of checks, cheapest first and nothing read before the caller is known: method, a token
in the path's last segment (404), the secret header (401 missing, 403 wrong), the size
(413, from Content-Length or by stopping the read at the limit), JSON (400). Only then is
the run's waiter woken, here or through the channel; a callback no one waits for is
acknowledged (200) and dropped, so the platform does not retry it; one the channel cannot
hand on to another worker is answered 503, so the platform retries it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import AsyncExitStack, contextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._core.errors import ConfigurationError
from .._core.log import logger
from .._core.models import Webhook
from .._core.secret import shared_secret_key
from .._transport.urls import check_base_url
from .._waiting.policy import PollPolicy
from ._channel import Channel
from ._credentials import SECRET_HEADER, Credentials, is_token, new_key
from ._handoff import Handoff
from ._registry import Registry, Wakeable

__all__ = ["FALLBACK_POLL", "MAX_BODY_BYTES", "WebhookReceiver"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
"""The largest callback body accepted (1 MiB); a larger one is answered 413 unread."""

FALLBACK_POLL = PollPolicy(initial_delay=5.0, multiplier=1.5, max_interval=60.0, jitter=0.1)
"""The safety-net schedule of a wait that expects a callback: 5 s, then x1.5 up to 60 s."""

_SECRET_HEADER = SECRET_HEADER.lower()
_METHODS = frozenset({"POST", "PUT"})
_REASONS = {
    200: b"ok",
    400: b"body is not JSON",
    401: b"missing credentials",
    403: b"wrong credentials",
    404: b"not found",
    405: b"method not allowed",
    413: b"body too large",
    503: b"cannot hand the callback on; retry later",
}


class WebhookReceiver:
    """Receives the platform's run-end callbacks and wakes the waits expecting them.

    Pass it to a client (`AsyncClient(..., webhook_receiver=receiver)`): `run()` then adds
    one webhook target on `public_url` to each start, and its wait ends as soon as the
    callback arrives (confirmed by one query: a callback is a signal, never the result).
    Serve it as an ASGI app (mount it at `public_url`'s path; the last path segment is the
    run's token, so a mount's `root_path` needs no care), or call `handle` from any other
    web framework.

    Args:
        public_url: Where the platform reaches this receiver, like
            "https://api.example.com/flowinvoke/hooks". Each run's target is
            `public_url/<token>` with its secret in the `X-Flowinvoke-Secret` header.
        channel: How callbacks reach waits in other worker processes (`RedisChannel`).
            None: this process only. With a channel, enter the receiver
            (`async with receiver:`, in the app's lifespan) so it listens.
        secret_key: The key run secrets are derived from; every worker sharing a channel
            must have the same one (16 bytes or more). Default: a random key, for one process.
        fallback: The slow poll schedule of a wait whose callback does not come.
        allow_insecure_http: Accept a plain-http `public_url` on a non-loopback host, which
            sends run secrets in clear text.

    Raises:
        ConfigurationError: a bad `public_url`, a short key, or a channel without a key.
    """

    def __init__(
        self,
        public_url: str,
        *,
        channel: Channel | None = None,
        secret_key: str | bytes | None = None,
        fallback: PollPolicy = FALLBACK_POLL,
        allow_insecure_http: bool = False,
    ) -> None:
        self.public_url = check_base_url(
            public_url,
            allow_insecure_http=allow_insecure_http,
            name="public_url",
            carries="run secrets",
        )
        if channel is not None and secret_key is None:
            raise ConfigurationError(
                "a WebhookReceiver with a channel needs a secret_key shared by every worker"
            )
        self._credentials = Credentials(_key(secret_key))
        self.channel = channel
        self._handoff = None if channel is None else Handoff(channel)
        self.fallback = fallback
        self._registry = Registry()
        self._listening: AsyncExitStack | None = None

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(public_url={self.public_url!r}, channel={self.channel!r}, "
            f"waiting={len(self._registry)})"
        )

    @property
    def waiting(self) -> int:
        """How many waits expect a callback right now."""
        return len(self._registry)

    @contextmanager
    def expect_callback(self, wakeup: Wakeable) -> Iterator[Webhook]:
        """Register a wait for the block's duration; yield the webhook target to send.

        The clients call this; `wakeup.set()` is called from whatever thread the callback
        arrives on.

        Raises:
            ConfigurationError: the receiver has a channel but is not listening on it.
        """
        if self.channel is not None and self._listening is None:
            raise ConfigurationError(
                "this WebhookReceiver has a channel but does not listen on it: "
                "enter it (`async with receiver:`) in your app's lifespan"
            )
        token = self._credentials.new_token()
        hook = Webhook(
            url=f"{self.public_url}/{token}",
            method="POST",
            headers={SECRET_HEADER: self._credentials.secret_for(token)},
        )
        with self._registry.holding(token, wakeup):
            yield hook

    # -- the framework-neutral entry point ---------------------------------------------------

    def handle(self, method: str, path_or_url: str, headers: Mapping[str, str], body: bytes) -> int:
        """Answer one callback from any web framework; return the HTTP status to send.

        For Flask, Django and other blocking frameworks: pass the request's method, path
        (or full URL), headers and body; no body needs parsing beyond the JSON check. With a
        channel, a callback for another worker's run is published with its blocking call,
        and 503 returned when the channel fails (the platform retries later).
        """
        status, token = self._check(method, path_or_url, headers)
        if token is None:
            return status
        if len(body) > MAX_BODY_BYTES:
            return 413
        if not _is_json(body):
            return 400
        if self._registry.wake(token) or self._handoff is None:
            return 200
        return self._handoff.publish(token)

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 application: callbacks over HTTP, and lifespan when served alone."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", ())
        }
        status, token = self._check(scope["method"], scope["path"], headers)
        if token is not None:
            status = await self._take_body(token, headers, receive)
        await _respond(send, status)

    async def _take_body(self, token: str, headers: Mapping[str, str], receive: Receive) -> int:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return 413
        body = await _read_at_most(receive, MAX_BODY_BYTES)
        if body is None:
            return 413
        if not _is_json(body):
            return 400
        if self._registry.wake(token) or self._handoff is None:
            return 200
        return await self._handoff.apublish(token)

    # -- listening on the channel ------------------------------------------------------------

    async def __aenter__(self) -> WebhookReceiver:
        """Start listening on the channel (no-op without one), in this task's event loop.

        Leaving stops it and closes the channel's connections.
        """
        if self.channel is not None and self._listening is None:
            stack = AsyncExitStack()
            group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(group.cancel_scope.cancel)
            await group.start(self._listen, self.channel)
            self._listening = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop listening and close the channel's connections."""
        stack, self._listening = self._listening, None
        if stack is not None:
            await stack.aclose()
        if self.channel is not None:
            await self.channel.aclose()

    async def _listen(self, channel: Channel, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        await channel.listen(self._registry.wake, task_status=task_status)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.__aenter__()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- checks ------------------------------------------------------------------------------

    def _check(
        self, method: str, path_or_url: str, headers: Mapping[str, str]
    ) -> tuple[int, str | None]:
        """(status, token): the token when the caller proved it knows the run's secret."""
        if method.upper() not in _METHODS:
            return 405, None
        token = urlsplit(path_or_url).path.rstrip("/").rpartition("/")[2]
        if not is_token(token):
            return 404, None
        presented = _header(headers, _SECRET_HEADER)
        if not presented:
            logger.debug("webhook callback refused: no credentials")
            return 401, None
        if not self._credentials.verify(token, presented):
            logger.debug("webhook callback refused: wrong credentials")
            return 403, None
        return 200, token


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return True


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""  # the caller left; whatever we answer goes nowhere
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int) -> None:
    body = _REASONS.get(status, b"")
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body is dropped
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _key(secret_key: str | bytes | None) -> bytes:
    return new_key() if secret_key is None else shared_secret_key(secret_key)
