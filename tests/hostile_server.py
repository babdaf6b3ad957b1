"""A raw-socket HTTP/1.1 server on loopback that misbehaves as a test scripts it.

uvicorn (behind the emulator) only speaks correct HTTP; deadlines and hostile answers need
a server that drip-feeds bytes, hangs, or sends garbage. Each connection runs a test's
handler in its own daemon thread; every wait is bounded (`_MAX_HANG`) and leaving the
`with` block stops everything, so the server always ends by itself.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

_MAX_HANG = 30.0  # no handler waits or drips longer than this, whatever the test does
_READ_LIMIT = 1 << 20


@dataclass
class Received:
    """One request the server read."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which connection (0, 1, ...) it came on


@dataclass
class Connection:
    """One accepted connection, handed to the test's handler."""

    sock: socket.socket
    number: int
    server: HostileServer
    _buffer: bytes = b""
    requests: list[Received] = field(default_factory=list)

    def read_request(self) -> Received | None:
        """The next request on this connection, or None once the client closed it."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self._recv()
            if not chunk:
                return None
            self._buffer += chunk
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self._recv()
            if not chunk:
                return None
            rest += chunk
        self._buffer = rest[length:]
        request = Received(method, path, headers, rest[:length], self.number)
        self.requests.append(request)
        self.server.record(request)
        return request

    def send(self, data: bytes) -> bool:
        """Send `data`; False once the client has gone."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def answer(self, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> bool:
        """Send a whole JSON answer (keep-alive)."""
        return self.send(http_answer(body, status, headers))

    def drip(self, data: bytes, interval: float = 1.0) -> None:
        """Send `data` one byte every `interval` seconds, until done, the client goes or the
        server stops."""
        for byte in data:
            if not self.send(bytes([byte])) or self.server.stopping.wait(interval):
                return

    def hang(self) -> None:
        """Send nothing until the client goes or the server stops (bounded)."""
        self.sock.settimeout(0.1)
        ends = time.monotonic() + _MAX_HANG
        while time.monotonic() < ends and not self.server.stopping.is_set():
            try:
                if self.sock.recv(65536) == b"":
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def _recv(self) -> bytes:
        self.sock.settimeout(_MAX_HANG)
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""


def http_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 answer with a JSON body (bytes bodies are sent as they are)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(content))}
    head.update(headers or {})
    lines = [f"HTTP/1.1 {status} X"] + [f"{name}: {value}" for name, value in head.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


class HostileServer:
    """Serves `handler(connection)` for each accepted connection, each in its own thread;
    over TLS with `tls` (a server context), as https://localhost."""

    def __init__(
        self, handler: Callable[[Connection], None], tls: ssl.SSLContext | None = None
    ) -> None:
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.base_url = (
            f"http://127.0.0.1:{self.port}" if tls is None else f"https://localhost:{self.port}"
        )
        self.stopping = threading.Event()
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)

    def record(self, request: Received) -> None:
        with self._lock:
            self.received.append(request)

    def requests_to(self, fragment: str) -> list[Received]:
        """The requests so far whose path contains `fragment`."""
        with self._lock:
            return [r for r in self.received if fragment in r.path]

    def __enter__(self) -> HostileServer:
        self._accepter.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        number = 0
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection = Connection(sock, number, self)
            number += 1
            with self._lock:
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: Connection) -> None:
        try:
            if self._tls is not None:
                connection.sock.settimeout(_MAX_HANG)
                connection.sock = self._tls.wrap_socket(connection.sock, server_side=True)
                with self._lock:
                    self._sockets.append(connection.sock)
            self._handler(connection)
        except OSError:
            pass
        finally:
            connection.sock.close()
