"""Request slots: at most so many requests of a client in flight, the rest queued here.

A named pair (`AsyncRequestSlots` / `SyncRequestSlots`) that scripts/unasync.py maps.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import anyio.lowlevel

from .._core.deadline import Deadline
from .._core.errors import ConfigurationError  # a misuse, not a transport failure
from .._core.scopes import async_deadline_scope
from .http import PoolTimeout

__all__ = ["AsyncRequestSlots", "SyncRequestSlots"]


class AsyncRequestSlots:
    """At most `size` requests in flight; the rest wait here, first come first served.

    httpx's own pool also queues requests, but it rescans its whole queue whenever a
    connection frees up: with thousands of runs polling through ten connections that costs
    more CPU than the requests. Waiting here instead keeps the pool's queue empty. The
    queue is anyio's `Semaphore` with `fast_acquire` (a free slot is taken without yielding
    to the loop), which measured twice as fast as a queue of our own events.

    The slots (like the connections) belong to one event loop at a time: a client used
    from a second loop while the first still has requests here would wait on the other
    loop's semaphore forever. That raises `ConfigurationError` at once; a loop may take
    the client over once the previous one has nothing in flight.
    """

    def __init__(self, size: int | None) -> None:
        self._size = size
        self._semaphore: anyio.Semaphore | None = None
        self._loop: object = None
        self._users = 0

    @asynccontextmanager
    async def hold(self, deadline: Deadline) -> AsyncIterator[None]:
        """Hold a slot for one request; raise `PoolTimeout` if none comes free in time."""
        with async_deadline_scope(deadline) as scope:
            await self.acquire(deadline)
        if scope.cancelled_caught:
            raise PoolTimeout("no request slot came free before the deadline")
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> bool:
        """Take a slot if one is free, without waiting (or yielding to the loop); else
        False, and `acquire` waits for one."""
        semaphore = self._enter_loop()
        if semaphore is None:
            return True
        try:
            semaphore.acquire_nowait()  # a free slot means nobody waits: FIFO is kept
        except anyio.WouldBlock:
            self._users -= 1
            return False
        return True

    async def acquire(self, deadline: Deadline) -> None:
        """Take a slot, waiting as long as the caller's cancel scope lets it.

        `deadline` is not enforced here (the sync twin's is): the caller's one scope bounds
        the wait and the request after it, rather than a scope for each.
        """
        semaphore = self._enter_loop()
        if semaphore is None:
            return
        try:
            await semaphore.acquire()
        except BaseException:
            self._users -= 1
            raise

    def release(self) -> None:
        """Give back a slot taken by `acquire`."""
        self._users -= 1
        if self._semaphore is not None:
            self._semaphore.release()

    def _enter_loop(self) -> anyio.Semaphore | None:
        loop = _running_asyncio_loop() or anyio.lowlevel.current_token().native_token
        if loop is not self._loop:
            if self._users:
                raise ConfigurationError(
                    "this AsyncClient is in use by another event loop (another thread or "
                    "another anyio.run/asyncio.run): a client, like its connections, "
                    "belongs to one loop at a time; build one client per event loop"
                )
            self._loop = loop
            if self._size is not None:  # a semaphore of the loop that now uses the client
                self._semaphore = anyio.Semaphore(self._size, fast_acquire=True)
        self._users += 1
        return self._semaphore


def _running_asyncio_loop() -> object:
    """The running asyncio loop, which is what anyio's token names there, read for a tenth
    of the cost of asking anyio; None elsewhere (trio asks anyio). Only read: the code
    stays on anyio, so asyncio is not imported for it."""
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio._get_running_loop()


class SyncRequestSlots:
    """At most `size` requests in flight from all threads; the rest wait here."""

    def __init__(self, size: int | None) -> None:
        self._semaphore = None if size is None else threading.BoundedSemaphore(size)

    @contextmanager
    def hold(self, deadline: Deadline) -> Iterator[None]:
        """Hold a slot for one request, waiting no longer than the deadline allows."""
        self.acquire(deadline)
        try:
            yield
        finally:
            self.release()

    def try_acquire(self) -> bool:
        """Take a slot if one is free, without waiting; else False."""
        return self._semaphore is None or self._semaphore.acquire(blocking=False)

    def acquire(self, deadline: Deadline) -> None:
        """Take a slot; raise `PoolTimeout` if none comes free before `deadline`."""
        if self._semaphore is None:
            return
        if not self._semaphore.acquire(timeout=deadline.remaining() if deadline.finite else None):
            raise PoolTimeout("no request slot came free before the deadline")

    def release(self) -> None:
        """Give back a slot taken by `acquire`."""
        if self._semaphore is not None:
            self._semaphore.release()
