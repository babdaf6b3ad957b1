"""Run-end callbacks, sent like GPTBots would: to each webhook target of an async run.

Only loopback targets are called (the emulator never reaches the network); others are
counted as "skipped". The sender is a daemon thread with its own event loop, so delivery
goes on whatever serves the emulator (in-process transport, ASGI, uvicorn) and whichever
loop or thread the client waits in. The body is the run's query answer at its end, which is
what the platform is expected to send (it is not documented, so clients must not rely on it).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from flowinvoke._transport import http as _http
from flowinvoke._transport.hosts import is_loopback
from flowinvoke._transport.tls import shared_ssl_context
from flowinvoke._waiting.wakeup import loop_caller

__all__ = ["CallbackFaults", "CallbackSender"]

_SEND_TIMEOUT = 5.0
_START_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class CallbackFaults:
    """How the emulator misdelivers run-end callbacks (applied to every callback).

    Attributes:
        drop: Never send them (the platform lost them).
        late: Extra seconds after the run's end before sending.
        duplicates: Send each this many extra times.
        wrong_credentials: Alter every header value (a forger who guessed the URL).
    """

    drop: bool = False
    late: float = 0.0
    duplicates: int = 0
    wrong_credentials: bool = False


class CallbackSender:
    """Sends callbacks at their due time from a background thread (started on first use)."""

    def __init__(self, faults: CallbackFaults | None = None) -> None:
        self.faults = faults or CallbackFaults()
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._call_soon: Callable[..., object] | None = None
        self._jobs: MemoryObjectSendStream[_Job] | None = None

    def schedule(self, delay: float, hooks: tuple[Mapping[str, Any], ...], body: bytes) -> None:
        """Send `body` to every loopback target in `hooks` after `delay` seconds."""
        faults = self.faults
        for hook in hooks:
            url = str(hook.get("url", ""))
            if not is_loopback(urlsplit(url).hostname or ""):
                self._count("skipped")
                continue
            if faults.drop:
                self._count("dropped")
                continue
            self._submit(max(0.0, delay) + faults.late, hook, body, 1 + faults.duplicates)

    def _count(self, outcome: str, n: int = 1) -> None:
        with self._lock:
            self.counts[outcome] += n

    def _submit(self, delay: float, hook: Mapping[str, Any], body: bytes, times: int) -> None:
        headers = dict(hook.get("headers") or {})
        if self.faults.wrong_credentials:
            headers = {name: f"{value}-forged" for name, value in headers.items()}
        method = str(hook.get("method") or "POST")
        job = _Job(delay, method, str(hook["url"]), headers, body, times)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._ready.clear()
                self._thread = threading.Thread(
                    target=anyio.run, args=(self._serve,), name="flowinvoke-callbacks", daemon=True
                )
                self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):  # pragma: no cover - a broken thread
            self._count("failed", times)
            return
        assert self._call_soon is not None
        assert self._jobs is not None
        try:
            self._call_soon(self._jobs.send_nowait, job)
        except RuntimeError:  # pragma: no cover - the sender's loop ended under us
            self._count("failed", times)

    async def _serve(self) -> None:
        send, receive = anyio.create_memory_object_stream[_Job](math.inf)
        self._jobs = send
        self._call_soon = loop_caller()
        http = _http.AsyncClient(timeout=_SEND_TIMEOUT, verify=shared_ssl_context())
        async with http, receive, anyio.create_task_group() as group:
            self._ready.set()
            async for job in receive:
                group.start_soon(self._send, http, job)

    async def _send(self, http: _http.AsyncClient, job: _Job) -> None:
        await anyio.sleep(job.delay)
        headers = {**job.headers, "content-type": "application/json"}
        for _ in range(job.times):
            try:
                answer = await http.request(job.method, job.url, headers=headers, content=job.body)
            except _http.TransportError:
                self._count("failed")
                continue
            self._count("sent" if answer.is_success else f"answered {answer.status_code}")


@dataclasses.dataclass(frozen=True)
class _Job:
    delay: float
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    times: int
