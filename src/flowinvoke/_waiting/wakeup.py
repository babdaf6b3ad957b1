"""Wake-ups: a signal that cuts a wait's sleep short, set from any thread or event loop.

A webhook callback (or a stream's last event) sets it; the sleeping wait then queries at
once. A named pair (`AsyncWakeup` / `SyncWakeup`) that scripts/unasync.py maps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import anyio

from .._core.batch_stop import BatchStopped, current_stop
from .._core.scopes import cancel_after

__all__ = ["AsyncWakeup", "SyncWakeup", "loop_caller"]


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

    The client-wide waiter does not sleep on it: it `listen`s, so that a `set()` calls it
    back in its own loop and the run's entry falls due at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False
        self._event = anyio.Event()
        self._listener: Callable[[], object] | None = None
        self._thread = threading.get_ident()
        self._call_soon = loop_caller()

    def set(self) -> None:
        """Wake the sleeper (or the next sleep). Thread-safe; never blocks; idempotent."""
        with self._lock:
            self._pending = self._listener is None  # a listener is told now, not later
            wake = self._listener or self._event.set
        if threading.get_ident() == self._thread:
            wake()
            return
        # RuntimeError: the waiter's loop has ended (trio's RunFinishedError is one too).
        with suppress(RuntimeError):
            self._call_soon(wake)

    def listen(self, listener: Callable[[], object] | None) -> None:
        """Call `listener` (in this wake-up's loop) at each `set()` instead of ending a
        sleep; a `set()` that came before is handed on at once. None stops listening."""
        with self._lock:
            self._listener = listener
            pending = self._pending and listener is not None
            self._pending = self._pending and not pending
        if pending and listener is not None:
            listener()

    async def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` or until `set()`; return True if woken."""
        with self._lock:
            if self._pending:
                self._pending = False
                return True
            self._event = event = anyio.Event()
        with cancel_after(seconds):
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
