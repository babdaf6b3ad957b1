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

__all__ = ["BACKLOG", "KEEP_ALIVE_SECONDS", "NotifyingServer", "ServerThread", "make_config"]

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


class ServerThread:
    """A uvicorn server serving from a daemon thread, for the servers tests start in-process.

    `serve` runs in the thread and must serve `server` (its `run`, or its `serve` inside an
    event loop of the caller's making); the server tells the thread's `start` when it is
    ready. `start` returns once the server accepts
    connections, and fails at once if the thread ends first; `stop` asks for a graceful
    shutdown and forces one if a request is stuck past the grace time.
    """

    def __init__(self, server: NotifyingServer, serve: Callable[[], object], name: str) -> None:
        self._server = server
        self._ready = server.ready = threading.Event()
        self._failure: BaseException | None = None

        def run() -> None:
            try:
                serve()
            except BaseException as error:  # reported by start()
                self._failure = error

        self._thread = threading.Thread(target=run, name=name, daemon=True)

    @property
    def server(self) -> NotifyingServer:
        """The server this thread serves."""
        return self._server

    def start(self, what: str, timeout: float = 10.0) -> None:
        """Start the thread and wait until the server accepts connections.

        Raises:
            RuntimeError: the thread ended, or `timeout` passed, before that (naming `what`);
                the caller then stops it and releases its socket.
        """
        self._thread.start()
        waited = 0.0
        while not self._ready.wait(0.01):
            waited += 0.01
            if not self._thread.is_alive() or waited > timeout:
                raise RuntimeError(f"{what} did not start: {self._failure!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread (gracefully, then forced). Idempotent."""
        if not self._thread.is_alive():
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - a request stuck past the grace time
            self._server.force_exit = True
            self._thread.join(timeout)
