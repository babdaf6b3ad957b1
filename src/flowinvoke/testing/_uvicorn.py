"""uvicorn settings and a server that reports readiness; imported only when uvicorn is.

Kept apart from `_loopback` so that importing `flowinvoke.testing` never imports uvicorn
(an optional dependency, the `emulator` extra).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from ._asgi import Receive, Scope, Send

    ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["BACKLOG", "KEEP_ALIVE_SECONDS", "NotifyingServer", "make_config"]

BACKLOG = 2048
"""Listen backlog: room for a burst of new connections (a benchmark opening 1,000 at once)."""

KEEP_ALIVE_SECONDS = 30
"""Idle seconds before the server closes a kept-alive connection (httpx's own expiry is 5)."""

GRACEFUL_SHUTDOWN_SECONDS = 5
"""How long stopping waits for answers in flight before cancelling them."""


def make_config(
    app: ASGIApp, *, host: str, port: int, log_level: str, own_logging: bool
) -> uvicorn.Config:
    """uvicorn settings for a test server.

    `own_logging=False` leaves the process's logging configuration alone (uvicorn's
    records then propagate to the root logger); `True` installs uvicorn's console format,
    as a command-line server wants.
    """
    extra: dict[str, Any] = {} if own_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        backlog=BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        date_header=False,
        **extra,
    )


class NotifyingServer(uvicorn.Server):
    """A uvicorn server that sets `ready` (if given) once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event | None = None) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then tell the thread that waits for it."""
        await super().startup(sockets=sockets)
        if self.started and self.ready is not None:
            self.ready.set()
