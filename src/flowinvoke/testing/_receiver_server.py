"""`ReceiverServer`: a `WebhookReceiver` served by uvicorn on a loopback port, in a thread.

The port is bound first, so the receiver's `public_url` names it; the server's loop enters
the receiver (so a channel listens there) for as long as it serves.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from flowinvoke.webhooks import WebhookReceiver

from ._loopback import ThreadedServer, _check_host, _listening_socket, _require_uvicorn

if TYPE_CHECKING:
    import socket

    from ._uvicorn import ServerThread

__all__ = ["ReceiverServer"]


class ReceiverServer(ThreadedServer):
    """Serve a new `WebhookReceiver` at `http://host:port/path` until closed.

    Example:
        >>> with ReceiverServer() as server:  # doctest: +SKIP
        ...     client = emulator.async_client("wf-1", webhook_receiver=server.receiver)

    Args:
        host: A loopback address to bind; the port is a free one.
        path: The receiver's path on the server.
        receiver_options: Passed on to `WebhookReceiver` (`channel=`, `secret_key=`, ...).

    Raises:
        ImportError: uvicorn is not installed (`pip install "flowinvoke[emulator]"`).
        ValueError: `host` is not a loopback address.
    """

    def __init__(self, *, host: str = "127.0.0.1", path: str = "/hooks", **receiver_options: Any):
        _check_host(host, allow_non_loopback=False)
        self.host = host
        self.path = "/" + path.strip("/")
        self._options = receiver_options
        self._receiver: WebhookReceiver | None = None
        self._thread: ServerThread | None = None
        self._socket: socket.socket | None = None

    def __repr__(self) -> str:
        return f"ReceiverServer({self._receiver!r})"

    @property
    def receiver(self) -> WebhookReceiver:
        """The receiver being served (after `start` or entering the context)."""
        if self._receiver is None:
            raise RuntimeError("the ReceiverServer is not started: use `with ReceiverServer()`")
        return self._receiver

    def start(self) -> ReceiverServer:
        """Bind, start serving in a thread and return once connections are accepted."""
        _require_uvicorn()
        from ._uvicorn import BACKLOG, NotifyingServer, ServerThread, make_config

        sock = _listening_socket(self.host, 0, BACKLOG)
        self._socket = sock
        port = sock.getsockname()[1]
        where = f"[{self.host}]" if ":" in self.host else self.host
        receiver = WebhookReceiver(f"http://{where}:{port}{self.path}", **self._options)
        self._receiver = receiver
        config = make_config(
            receiver, host=self.host, port=port, log_level="warning", own_logging=False
        )
        server = NotifyingServer(config)

        async def serve() -> None:
            async with receiver:
                await server.serve(sockets=[sock])

        thread = ServerThread(server, partial(anyio.run, serve), name=f"flowinvoke-receiver-{port}")
        self._run_thread(thread, f"the webhook receiver on port {port}")
        return self

    def __enter__(self) -> ReceiverServer:
        return self.start()
