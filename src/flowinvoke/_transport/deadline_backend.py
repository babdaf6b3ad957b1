"""httpcore's network backends, every socket operation cut at the request's deadline.

Apart from `http` because httpcore is heavy to import (h11, certifi, ssl contexts: about
13 ms) and httpx itself imports it only when a transport is built: this module is imported
by `build.async_default_transport` / `sync_default_transport`, when a client builds its own
transport, so `import flowinvoke` and a client given another transport never load it.
"""

from __future__ import annotations

from typing import Any

import httpcore

from .attempt import cut_to_deadline
from .http import AsyncHTTPTransport, HTTPTransport, Limits
from .tls import shared_ssl_context

__all__ = ["own_async_transport", "own_sync_transport"]


class _SyncDeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking network backend with every operation cut at the deadline.

    Why here: a blocking call cannot be cancelled from outside, and httpcore applies its
    read timeout to each read, so a server sending one byte a second would hold a request
    for as long as it liked. Each read, write and connect instead waits no longer than
    what is left of the request's deadline (a contextvar read and a clock read per call).
    """

    cuts_at_deadline = True

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SyncDeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        return _SyncDeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _SyncDeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, cut_to_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:  # h11's end of a sized body: nothing to send, nothing to cut
            return
        self._inner.write(buffer, cut_to_deadline(timeout, httpcore.WriteTimeout, writing=True))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        return _SyncDeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    """httpcore's async network backend with every operation cut at the deadline, and
    every write recorded (the async client is also cut by cancellation, but only this
    tells whether the request had been written when it was)."""

    cuts_at_deadline = True

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncDeadlineStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncDeadlineStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, cut_to_deadline(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:  # h11's end of a sized body: nothing to send, nothing to cut
            return
        timeout = cut_to_deadline(timeout, httpcore.WriteTimeout, writing=True)
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = cut_to_deadline(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncDeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def own_sync_transport(limits: Limits, proxy: str | None = None) -> HTTPTransport:
    transport = HTTPTransport(limits=limits, proxy=proxy, verify=shared_ssl_context())
    pool: Any = transport._pool  # httpx offers no argument for the network backend
    pool._network_backend = _SyncDeadlineBackend(pool._network_backend)
    return transport


def own_async_transport(limits: Limits, proxy: str | None = None) -> AsyncHTTPTransport:
    transport = AsyncHTTPTransport(limits=limits, proxy=proxy, verify=shared_ssl_context())
    pool: Any = transport._pool
    pool._network_backend = _AsyncDeadlineBackend(pool._network_backend)
    return transport
