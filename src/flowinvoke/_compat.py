"""The primitives that differ between the async core and the generated sync client.

Each is a named pair, `async_x` / `sync_x` (or `AsyncX` / `SyncX`); scripts/unasync.py turns
the first name into the second, so everything else in `_async/` is written once.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
)
from contextvars import copy_context
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel

from ._core.batch_stop import BatchStopped, current_stop, stop_with
from ._core.deadline import time_source

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "async_call_maybe",
    "async_map_unordered",
    "async_sleep",
    "sync_call_maybe",
    "sync_map_unordered",
    "sync_sleep",
]


def async_sleep(seconds: float) -> Awaitable[None]:
    """Sleep without blocking the event loop (asyncio or trio), on the client's clock.

    A plain function handing back anyio's own coroutine, not a wrapper coroutine: a
    sleeping wait then holds one coroutine frame fewer.
    """
    source = time_source()
    return anyio.sleep(seconds) if source is None else source.async_sleep(seconds)


def sync_sleep(seconds: float) -> None:
    """Sleep the calling thread (cut short, ending the run, when its batch is closed)."""
    stop = current_stop()
    source = time_source()
    if source is not None:  # a fake clock: the stop is looked at when the sleep ends
        source.sleep(seconds)
        if stop is not None and stop.is_set():
            raise BatchStopped
    elif stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise BatchStopped


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
