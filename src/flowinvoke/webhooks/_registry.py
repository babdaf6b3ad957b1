"""Which run tokens a waiter in this process is waiting for, and how to wake each."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Registry", "Wakeable"]


class Wakeable(Protocol):
    """What a waiter hands over to be woken: `set()` callable from any thread."""

    def set(self) -> None: ...


class Registry:
    """Token -> wake-up of the waits in progress; an entry lives exactly as long as its wait.

    Thread-safe: receivers wake from their own thread or loop, waiters register from theirs.
    Nothing a callback does adds an entry, so forged traffic cannot grow it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, Wakeable] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)

    @contextmanager
    def holding(self, token: str, wakeup: Wakeable) -> Iterator[None]:
        """Register `token` for the block's duration."""
        with self._lock:
            self._waiting[token] = wakeup
        try:
            yield
        finally:
            with self._lock:
                self._waiting.pop(token, None)

    def wake(self, token: str) -> bool:
        """Wake the waiter of `token`; False when no one here waits for it."""
        with self._lock:
            wakeup = self._waiting.get(token)
        if wakeup is None:
            return False
        wakeup.set()
        return True
