"""The primitives that differ between the async core and the generated sync client.

Each is a named pair, `async_x` / `sync_x` (or `AsyncX` / `SyncX`); scripts/unasync.py turns
the first name into the second, so everything else in `_async/` is written once.
"""

from __future__ import annotations

import inspect
import math
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import copy_context
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio
import anyio.lowlevel

from ._core.batch_stop import BatchStopped, current_stop, stop_with
from ._core.deadline import Deadline
from ._transport.http import PoolTimeout

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "AsyncWakeup",
    "DeadlineScope",
    "SyncWakeup",
    "async_call_maybe",
    "async_deadline_scope",
    "async_map_unordered",
    "async_sleep",
    "sync_call_maybe",
    "sync_deadline_scope",
    "sync_map_unordered",
    "sync_sleep",
]


class DeadlineScope(Protocol):
    """What a deadline scope tells after its block: whether the deadline cut it short.

    `deadline` (the event loop's clock) may be moved while the block runs.
    """

    deadline: float

    @property
    def cancelled_caught(self) -> bool: ...


# Sleep without blocking the event loop (asyncio or trio). anyio's own function, not a
# wrapper: a sleeping wait then holds one coroutine frame fewer.
async_sleep = anyio.sleep


def sync_sleep(seconds: float) -> None:
    """Sleep the calling thread (cut short, ending the run, when its batch is closed)."""
    stop = current_stop()
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise BatchStopped


def async_deadline_scope(deadline: Deadline) -> anyio.CancelScope:
    """A `with` block cancelled when `deadline` passes (the cancellation is caught there).

    A plain scope, not a generator-based context manager: a wait holds one while its query
    is queued, and thousands may queue at once.
    """
    return anyio.move_on_after(deadline.remaining() if deadline.finite else None)


class _NeverCut:
    cancelled_caught = False
    deadline = math.inf


@contextmanager
def sync_deadline_scope(deadline: Deadline) -> Iterator[DeadlineScope]:
    """Blocking code cannot be cancelled from outside: its request timeouts and sleeps are
    capped by the deadline instead, so this scope never cuts."""
    yield _NeverCut()


async def async_call_maybe(callback: Callable[[Any], Any], value: Any) -> None:
    """Call a user callback that may be a plain function or a coroutine function."""
    result = callback(value)
    if inspect.isawaitable(result):
        await result


def sync_call_maybe(callback: Callable[[Any], Any], value: Any) -> None:
    """Call a user callback from blocking code, which cannot await a coroutine."""
    result = callback(value)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "never awaited" warning: the error below says what went wrong
        raise TypeError("the sync Client needs a plain callable, not a coroutine function")


async def async_map_unordered(
    function: Callable[[T], Awaitable[R]], items: Iterable[T], workers: int
) -> AsyncGenerator[R, None]:
    """Apply `function` to `items` with at most `workers` calls at once, in tasks; yield
    each result as it is ready.

    Items are drawn only when a worker is free, so a huge or endless iterable is fine.
    `function` must not raise (a batch captures errors into its items). Closing the
    iterator early (break, cancellation) cancels the calls still running; iterate it to the
    end or close it with `contextlib.aclosing`, so that happens in the consumer's task.
    """
    source = iter(items)
    send, receive = anyio.create_memory_object_stream[R](workers)

    async def worker(first: T, results: anyio.abc.ObjectSendStream[R]) -> None:
        async with results:
            await results.send(await function(first))
            for item in source:  # one shared iterator: each item goes to one worker
                await results.send(await function(item))

    async with anyio.create_task_group() as group, receive:
        async with send:
            # A worker is started only for an item drawn for it: never more tasks than
            # inputs, whatever `workers` says.
            for first in islice(source, workers):
                group.start_soon(worker, first, send.clone())
        async for result in receive:
            try:
                yield result
            except GeneratorExit:  # the consumer stopped early: stop the workers too
                group.cancel_scope.cancel()
                break


def sync_map_unordered(
    function: Callable[[T], R], items: Iterable[T], workers: int
) -> Generator[R, None]:
    """Apply `function` to `items` with at most `workers` calls at once, in threads; yield
    each result as it is ready.

    Items are drawn only when a thread is free. Closing the iterator early (break,
    Ctrl-C) stops drawing items and ends the calls still running at their next sleep; a
    request already on the wire finishes first (a thread cannot be interrupted).
    """
    # Imported here: only blocking batches need it, and `import flowinvoke` should stay light.
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    source = iter(items)
    stop = threading.Event()

    def call(item: T) -> R:
        stop_with(stop)  # each worker thread has its own context
        return function(item)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flowinvoke") as pool:
        running: set[Future[R]] = set()
        try:
            for item in source:
                # Each run sees the caller's context (its current span, for one).
                running.add(pool.submit(copy_context().run, call, item))
                if len(running) < workers:
                    continue
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            stop.set()
            for future in running:
                future.cancel()


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
        loop = anyio.lowlevel.current_token().native_token
        if loop is not self._loop:
            if self._users:
                from ._core.errors import ConfigurationError  # a misuse, not a transport failure

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


def loop_caller() -> Callable[..., object]:
    """The running event loop's `call(function, *args)` for other threads: it schedules
    `function` in the loop and returns at once (raises RuntimeError once the loop is over)."""
    import anyio.lowlevel  # here: it costs ~3 ms of `import flowinvoke` for webhook users only

    native: Any = anyio.lowlevel.current_token().native_token
    # asyncio's token is the loop, trio's a TrioToken: both call back without waiting.
    call: Callable[..., object] = (
        getattr(native, "call_soon_threadsafe", None) or native.run_sync_soon
    )
    return call


class AsyncWakeup:
    """A signal that cuts an async sleep short; `set()` may be called from any thread or loop.

    A webhook receiver may run in another thread or event loop than the waiter (a web app's
    loop, uvicorn's thread), so `set()` hands the wake-up to the waiter's own loop with that
    loop's thread-safe, fire-and-forget call (asyncio `call_soon_threadsafe`, trio
    `run_sync_soon`). A `set()` while no one sleeps is remembered: the next sleep ends at once.
    Create it inside the waiting task's event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False
        self._event = anyio.Event()
        self._thread = threading.get_ident()
        self._call_soon = loop_caller()

    def set(self) -> None:
        """Wake the sleeper (or the next sleep). Thread-safe; never blocks; idempotent."""
        with self._lock:
            self._pending = True
            event = self._event
        if threading.get_ident() == self._thread:
            event.set()
            return
        # RuntimeError: the waiter's loop has ended (trio's RunFinishedError is one too).
        with suppress(RuntimeError):
            self._call_soon(event.set)

    async def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` or until `set()`; return True if woken."""
        with self._lock:
            if self._pending:
                self._pending = False
                return True
            self._event = event = anyio.Event()
        with anyio.move_on_after(seconds):
            await event.wait()
        with self._lock:
            woken, self._pending = self._pending, False
        return woken


class SyncWakeup:
    """A signal that cuts a blocking sleep short; `set()` may be called from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Wake the sleeper (or the next sleep). Thread-safe; never blocks; idempotent."""
        self._event.set()

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` or until `set()`; return True if woken.

        In a blocking batch's worker thread the sleep also ends when the batch is closed
        (checked every quarter second, as one thread cannot wait on two events at once).
        """
        stop = current_stop()
        if stop is None:
            woken = self._event.wait(seconds)
        else:
            end = time.monotonic() + seconds
            woken = False
            while not woken and (left := end - time.monotonic()) > 0:
                if stop.is_set():
                    raise BatchStopped
                woken = self._event.wait(min(left, 0.25))
        self._event.clear()
        return woken
