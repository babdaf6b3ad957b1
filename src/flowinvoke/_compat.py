"""The primitives that differ between the async core and the generated sync client.

Each is a named pair, `async_x` / `sync_x` (or `AsyncX` / `SyncX`); scripts/unasync.py turns
the first name into the second, so everything else in `_async/` is written once.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

import anyio

from ._deadline import Deadline

__all__ = [
    "DeadlineScope",
    "async_call_maybe",
    "async_deadline_scope",
    "async_sleep",
    "sync_call",
    "sync_deadline_scope",
    "sync_sleep",
]


class DeadlineScope(Protocol):
    """What a deadline scope tells after its block: whether the deadline cut it short."""

    @property
    def cancelled_caught(self) -> bool: ...


async def async_sleep(seconds: float) -> None:
    """Sleep without blocking the event loop (asyncio or trio)."""
    await anyio.sleep(seconds)


def sync_sleep(seconds: float) -> None:
    """Sleep the calling thread."""
    time.sleep(seconds)


@asynccontextmanager
async def async_deadline_scope(deadline: Deadline) -> AsyncIterator[DeadlineScope]:
    """Cancel the block when `deadline` passes (the cancellation is caught at the scope)."""
    with anyio.move_on_after(deadline.remaining() if deadline.finite else None) as scope:
        yield scope


class _NeverCut:
    cancelled_caught = False


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


def sync_call(callback: Callable[[Any], Any], value: Any) -> None:
    """Call a user callback from blocking code, which cannot await a coroutine."""
    result = callback(value)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # no "never awaited" warning: the error below says what went wrong
        raise TypeError("the sync Client needs a plain callable, not a coroutine function")
