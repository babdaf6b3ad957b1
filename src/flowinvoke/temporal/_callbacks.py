"""Run-end callbacks that signal the waiting workflow, from whichever web worker gets them.

The callback URL's last path segment is the Temporal workflow id itself (URL-safe base64),
and its secret header is HMAC-SHA256(key, that segment): any web process holding the key can
check a callback and signal the workflow by id, with no table shared between processes and
no Redis. As with `flowinvoke.webhooks`, a callback is only a signal: the workflow then
queries the run, so a forged callback costs at most one query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from temporalio.client import Client
from temporalio.service import RPCError

from .._core.log import logger
from .._core.models import Webhook
from .._core.secret import shared_secret_key
from .._transport.urls import check_base_url
from ..webhooks import MAX_BODY_BYTES, SECRET_HEADER

__all__ = ["CALLBACK_SIGNAL", "CallbackReceiver", "CallbackTargets"]

CALLBACK_SIGNAL = "flowinvoke.callback"
"""The signal a run workflow waits for: "the run may have ended, query it"."""

_SECRET = SECRET_HEADER.lower()


def _segment(temporal_id: str) -> str:
    return base64.urlsafe_b64encode(temporal_id.encode()).rstrip(b"=").decode("ascii")


def _temporal_id(segment: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class CallbackTargets:
    """Makes each run's webhook target (the start activity's side).

    Args:
        public_url: Where the platform reaches a `CallbackReceiver`, like
            "https://api.example.com/flowinvoke/temporal".
        secret_key: The key every receiver shares (16 bytes or more).
        allow_insecure_http: Accept a plain-http `public_url` on a non-loopback host.
    """

    def __init__(
        self, public_url: str, secret_key: str | bytes, *, allow_insecure_http: bool = False
    ) -> None:
        self.public_url = check_base_url(
            public_url,
            allow_insecure_http=allow_insecure_http,
            name="public_url",
            carries="run secrets",
        )
        self._key = shared_secret_key(secret_key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public_url={self.public_url!r}, secret_key=<hidden>)"

    def webhook_for(self, temporal_id: str) -> Webhook:
        """The target that signals the workflow `temporal_id` when its run ends."""
        segment = _segment(temporal_id)
        return Webhook(
            url=f"{self.public_url}/{segment}",
            method="POST",
            headers={SECRET_HEADER: self.secret_for(segment)},
        )

    def secret_for(self, segment: str) -> str:
        """The secret a callback for this URL segment must present."""
        digest = hmac.new(self._key, segment.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class CallbackReceiver(CallbackTargets):
    """Receives run-end callbacks and signals the waiting run workflows.

    Mount it as an ASGI app at `public_url`'s path in every web worker (FastAPI:
    `app.mount("/flowinvoke/temporal", receiver)`), or call `handle` from any async
    framework. Checks, cheapest first: method (405), segment (404), secret (401, 403), size
    (413), JSON (400); then the signal. A callback for a workflow that is over is
    acknowledged (200) and dropped, so the platform does not retry it.

    Args:
        client: A Temporal client (`flowinvoke.temporal.connect`).
        public_url, secret_key, allow_insecure_http: As for `CallbackTargets`; the same key
            as the workers' `callback_secret`.
    """

    def __init__(
        self,
        client: Client,
        public_url: str,
        secret_key: str | bytes,
        *,
        allow_insecure_http: bool = False,
    ) -> None:
        super().__init__(public_url, secret_key, allow_insecure_http=allow_insecure_http)
        self._client = client

    async def handle(
        self, method: str, path_or_url: str, headers: Mapping[str, str], body: bytes
    ) -> int:
        """Answer one callback; return the HTTP status to send."""
        if method.upper() not in ("POST", "PUT"):
            return 405
        segment = urlsplit(path_or_url).path.rstrip("/").rpartition("/")[2]
        temporal_id = _temporal_id(segment) if segment else None
        if not temporal_id:
            return 404
        lowered = {name.lower(): value for name, value in headers.items()}
        presented = lowered.get(_SECRET)
        if not presented:
            return 401
        expected = self.secret_for(segment).encode("ascii")
        if not hmac.compare_digest(expected, presented.encode("utf-8", "replace")):
            return 403
        if len(body) > MAX_BODY_BYTES:
            return 413
        try:
            json.loads(body)
        except ValueError:
            return 400
        try:
            await self._client.get_workflow_handle(temporal_id).signal(CALLBACK_SIGNAL)
        except RPCError as error:  # the workflow is over, or never existed under this key
            logger.debug("temporal callback for %s not delivered: %s", temporal_id, error)
        return 200

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI 3 application (HTTP only; no lifespan needed)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= MAX_BODY_BYTES:
            message = await receive()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = await self.handle(scope["method"], scope["path"], headers, b"".join(chunks))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
