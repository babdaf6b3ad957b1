"""How each client calls its (blocking) ledger: the async client in a worker thread, so a
SQLite fsync or a PostgreSQL round trip never stalls the event loop; the blocking client
directly. A named pair, turned into one another by the sync generator's table.

The async calls of one event loop take turns on one worker thread at a time: a ledger
serialises its statements on one connection anyway, and 40 threads (anyio's default)
queued on its lock only fight the event loop for the GIL (a batch of 250 runs in flight
was about 14 % slower with them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import RunVar

__all__ = ["async_ledger_call", "sync_ledger_call"]

R = TypeVar("R")

_limiter: RunVar[anyio.CapacityLimiter] = RunVar("flowinvoke_ledger_limiter")


async def async_ledger_call(function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """`function(*args, **kwargs)` in a worker thread, one call of this loop at a time."""
    import anyio.to_thread

    try:
        limiter = _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(1)
        _limiter.set(limiter)
    return await anyio.to_thread.run_sync(partial(function, *args, **kwargs), limiter=limiter)


def sync_ledger_call(function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """`function(*args, **kwargs)` here."""
    return function(*args, **kwargs)
