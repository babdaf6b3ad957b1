"""How each client calls its (blocking) ledger: the async client in a worker thread, so a
SQLite fsync or a PostgreSQL round trip never stalls the event loop; the blocking client
directly. A named pair, turned into one another by the sync generator's table."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

__all__ = ["async_ledger_call", "sync_ledger_call"]

R = TypeVar("R")


async def async_ledger_call(function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """`function(*args, **kwargs)` in a worker thread."""
    import anyio.to_thread

    return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))


def sync_ledger_call(function: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """`function(*args, **kwargs)` here."""
    return function(*args, **kwargs)
