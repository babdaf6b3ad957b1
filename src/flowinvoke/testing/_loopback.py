"""Serving an `Emulator` over a real socket with uvicorn: `serve` (blocking) and
`LoopbackServer` (a background thread, for tests and benchmarks).

uvicorn comes from the `emulator` extra and is imported only when a server starts. Both
refuse to listen on anything but a loopback address unless told otherwise: the emulator is
a test tool with public keys and no auth worth the name.

The server is tuned for bursts of test traffic (settings in `_uvicorn`): a listen backlog
of 2048, keep-alive (30 s) longer than httpx's own idle expiry (5 s), so the server never
closes a connection the client is about to reuse, no access log, no lifespan. We bind the
socket ourselves, so a taken port is an `OSError` before uvicorn starts.

`TCP_NODELAY` is on for every accepted connection. uvicorn sets nothing itself, but asyncio
(and uvloop) set it on each TCP transport they create, which is where uvicorn's h11 and
httptools protocols write; we also set it on the listening socket, from which Linux's
accepted sockets inherit it (tests read it back from the accepted socket). Without it, an
answer whose head and body are written separately can wait ~40 ms for a delayed ACK.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flowinvoke import AsyncClient, Client
from flowinvoke._transport.hosts import is_loopback
from flowinvoke._transport.http import TransportError

if TYPE_CHECKING:
    from ._asgi import EmulatorASGIApp, Receive, Scope, Send
    from ._emulator import Emulator
    from ._uvicorn import ServerThread

__all__ = ["LoopbackServer", "serve"]

_INSTALL_HINT = (
    "serving the emulator on a socket needs uvicorn: "
    'pip install "flowinvoke[emulator]" (or pip install uvicorn)'
)


def serve(
    emulator: Emulator,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "warning",
    allow_non_loopback: bool = False,
    on_listening: Callable[[str], object] | None = None,
) -> None:
    """Serve `emulator` on `host:port` until Ctrl-C or SIGTERM; prints nothing itself.

    `on_listening` is called with the server's URL once the port is bound, before serving
    (a banner printed there never announces a port that could not be bound).

    Point any flowinvoke client (or curl) at `http://{host}:{port}` with a workflow's key.
    uvicorn's own log lines appear at `log_level` and above. Ctrl-C returns normally after
    a clean shutdown; SIGTERM is re-raised by uvicorn after it, so the process ends as the
    signal asked.

    Raises:
        ImportError: uvicorn is not installed (`pip install "flowinvoke[emulator]"`).
        ValueError: `host` is not a loopback address and `allow_non_loopback` is False.
        OSError: the address cannot be bound (the port is taken, say); raised before
            uvicorn starts, so nothing is logged.
    """
    _check_host(host, allow_non_loopback=allow_non_loopback)
    _require_uvicorn()
    from ._uvicorn import BACKLOG, NotifyingServer, make_config

    sock = _listening_socket(host, port, BACKLOG)
    try:
        if on_listening is not None:
            bound_host, bound_port = sock.getsockname()[:2]
            bracketed = f"[{bound_host}]" if ":" in bound_host else bound_host
            on_listening(f"http://{bracketed}:{bound_port}")
        config = make_config(
            emulator.asgi_app(), host=host, port=port, log_level=log_level, own_logging=True
        )
        with _quiet_injected_faults(), contextlib.suppress(KeyboardInterrupt):
            NotifyingServer(config).run(sockets=[sock])
    finally:
        sock.close()


class ThreadedServer:
    """What the servers started in a thread on a loopback socket share: starting the thread
    (closing everything if it fails), stopping, and the `with` block."""

    _thread: ServerThread | None
    _socket: socket.socket | None

    def start(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        """Stop serving: close its connections and wait for its thread. Idempotent."""
        if self._thread is not None:
            self._thread.stop()
        if self._socket is not None:
            self._socket.close()

    def _run_thread(self, thread: ServerThread, what: str) -> None:
        """Start `thread` (serving `what`) and return once it accepts connections."""
        self._thread = thread
        try:
            thread.start(what)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class LoopbackServer(ThreadedServer):
    """An `Emulator` served by uvicorn on a loopback port, in a background thread.

    Use it as a context manager: entering binds the port (`port=0` picks a free one) and
    returns once the server accepts connections; leaving closes open connections and stops
    the thread. For tests that need a real socket (keep-alive, timeouts, a connection cut
    mid-answer) and for benchmarks; most tests are better served in-process by
    `Emulator.client`.

    Example:
        >>> with LoopbackServer(demo_emulator()) as server:  # doctest: +SKIP
        ...     with server.client("demo-quick") as client:
        ...         client.invoke({"text": "hi"}).output["summary"]

    Args:
        emulator: The emulator to serve; its state is shared with in-process clients.
        host: A loopback address to bind (an IP literal or "localhost").
        port: The port, or 0 for any free one (see `port` after entering).
        allow_non_loopback: Permit binding a non-loopback address (exposes the emulator).

    Raises:
        ImportError: uvicorn is not installed (`pip install "flowinvoke[emulator]"`).
        ValueError: a non-loopback `host` without `allow_non_loopback`.
    """

    def __init__(
        self,
        emulator: Emulator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_non_loopback: bool = False,
    ) -> None:
        _check_host(host, allow_non_loopback=allow_non_loopback)
        self.emulator = emulator
        self.host = host
        self._app = _ConnectionCountingApp(emulator.asgi_app())
        self._requested_port = port
        self._address: tuple[str, int] | None = None
        self._thread: ServerThread | None = None
        self._socket: socket.socket | None = None
        self._quiet: contextlib.ExitStack | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._address else "not started"
        return f"LoopbackServer({where}, {self.emulator!r})"

    @property
    def port(self) -> int:
        """The bound port (after `start` or entering the context)."""
        return self._bound()[1]

    @property
    def base_url(self) -> str:
        """The server's URL, like "http://127.0.0.1:54321" (an IPv6 host in brackets)."""
        host, port = self._bound()
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def connections(self) -> int:
        """How many distinct client connections have sent requests so far.

        With keep-alive, a client sending requests one after another uses one connection;
        tests assert on this to catch a pool that reconnects for every request.
        """
        return self._app.connections

    def client_options(self, workflow_id: str) -> dict[str, Any]:
        """Keyword arguments binding a flowinvoke client to a workflow over this socket."""
        options = self.emulator.client_options(workflow_id)
        del options["transport"]
        options["base_url"] = self.base_url
        return options

    def client(self, workflow_id: str, **options: Any) -> Client:
        """A `flowinvoke.Client` for this workflow, talking to the server over TCP."""
        return Client(**{**self.client_options(workflow_id), **options})

    def async_client(self, workflow_id: str, **options: Any) -> AsyncClient:
        """A `flowinvoke.AsyncClient` for this workflow, talking to the server over TCP."""
        return AsyncClient(**{**self.client_options(workflow_id), **options})

    def start(self) -> LoopbackServer:
        """Bind, start the server thread and wait until it accepts connections."""
        if self._thread is not None:
            msg = "this LoopbackServer has already been started"
            raise RuntimeError(msg)
        _require_uvicorn()
        from ._uvicorn import BACKLOG, NotifyingServer, ServerThread, make_config

        sock = _listening_socket(self.host, self._requested_port, BACKLOG)
        self._socket = sock
        self._address = sock.getsockname()[:2]
        config = make_config(
            self._app, host=self.host, port=self.port, log_level="warning", own_logging=False
        )
        self._quiet = contextlib.ExitStack()
        self._quiet.enter_context(_quiet_injected_faults())
        server = NotifyingServer(config)
        thread = ServerThread(
            server, partial(server.run, sockets=[sock]), name=f"flowinvoke-loopback-{self.port}"
        )
        self._run_thread(thread, f"the emulator server on {self.base_url}")
        return self

    def close(self) -> None:
        """Stop the server: close its connections and wait for its thread. Idempotent."""
        super().close()
        if self._quiet is not None:
            self._quiet.close()
            self._quiet = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def _bound(self) -> tuple[str, int]:
        if self._address is None:
            msg = "the LoopbackServer is not started: use `with LoopbackServer(...)`"
            raise RuntimeError(msg)
        return self._address


def _require_uvicorn() -> None:
    """Raise an ImportError naming the extra to install when uvicorn is missing."""
    if importlib.util.find_spec("uvicorn") is None:
        raise ImportError(_INSTALL_HINT, name="uvicorn")


def _check_host(host: str, *, allow_non_loopback: bool) -> None:
    if not allow_non_loopback and not is_loopback(host):
        msg = (
            f"refusing to serve the emulator on {host!r}, which is not a loopback address: "
            "it is a test tool with public keys. Pass allow_non_loopback=True if you mean it."
        )
        raise ValueError(msg)


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A bound, listening TCP socket with TCP_NODELAY set (inherited by accepted sockets)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class _ConnectionCountingApp:
    """Wraps an ASGI app, remembering each client (host, port) that sent a request."""

    def __init__(self, app: EmulatorASGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._peers: set[tuple[str, int]] = set()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._peers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client is not None:
            with self._lock:
                self._peers.add((str(client[0]), int(client[1])))
        await self._app(scope, receive, send)


class _InjectedFaultFilter(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" records for injected faults.

    The emulator's ASGI app raises an httpx transport error to make uvicorn cut a
    connection mid-answer; that is the test working, not a server bug worth a traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, TransportError)


@contextlib.contextmanager
def _quiet_injected_faults() -> Iterator[None]:
    logger = logging.getLogger("uvicorn.error")
    quiet = _InjectedFaultFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
