"""The transport a client builds for itself, made anew in a forked child.

httpx's own by default (over the deadline-cutting httpcore backends of `deadline_backend`,
imported here only when a transport is built, as httpx imports httpcore); httpx over
aiohttp with `fast=True` (`aiohttp_transport`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

from .http import (
    AsyncBaseTransport,
    BaseTransport,
    Limits,
    Request,
    Response,
    fast_transport_installed,
)

__all__ = [
    "async_default_transport",
    "cuts_at_deadline",
    "per_process_inner",
    "sync_default_transport",
]


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


def per_process_inner(transport: object) -> object:
    """The transport this process uses inside a client's own transport; else `transport`."""
    return transport._current() if isinstance(transport, _PerProcess) else transport


def cuts_at_deadline(client: object) -> bool:
    """Whether `client` sends through a transport flowinvoke built over its deadline-cutting
    network backend (`deadline_backend`), which ends every socket operation at the request's
    deadline: not a caller's transport, a mock's or aiohttp's."""
    transport = per_process_inner(getattr(client, "_transport", None))
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    return bool(getattr(backend, "cuts_at_deadline", False))


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
    from .aiohttp_transport import AiohttpTransport

    return _PerProcess(partial(AiohttpTransport, limits))


def sync_default_transport(
    limits: Limits, *, fast: bool, proxy: str | None = None
) -> BaseTransport:
    """The transport a blocking client builds for itself: httpx's own (through `proxy`,
    a URL, if given)."""
    if fast:
        raise ImportError("the fast transport serves the async client on asyncio only")
    from .deadline_backend import own_sync_transport

    return _PerProcess(partial(own_sync_transport, limits, proxy))
