"""The hand-off between the process that received a callback and the one that waits.

Only tokens whose secret was already checked travel on a channel: a listener just wakes its
own waiter of that token, if any, and so trusts nothing it receives beyond "look again".
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable

import anyio
from anyio.abc import TaskStatus

__all__ = ["Channel", "Deliver", "InProcessChannel"]

Deliver = Callable[[str], object]
"""Called with each token a channel brings in (thread-safe, never blocks)."""


class Channel(abc.ABC):
    """Carries "the run with this token may have ended" to every listening receiver.

    Implement it to connect the worker processes of a web app by other means than Redis.
    """

    @abc.abstractmethod
    def publish(self, token: str) -> None:
        """Send a token from blocking code (a WSGI app's `handle` call); may block briefly."""

    async def apublish(self, token: str) -> None:
        """Send a token from async code; by default `publish` in a worker thread."""
        await anyio.to_thread.run_sync(self.publish, token)

    async def aclose(self) -> None:  # noqa: B027 - optional: most channels hold nothing
        """Release the channel's connections (the receiver calls it when it stops)."""

    @abc.abstractmethod
    async def listen(
        self, deliver: Deliver, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Call `deliver` with every published token until cancelled.

        Calls `task_status.started()` once tokens published from then on will arrive.
        """


class InProcessChannel(Channel):
    """A channel between receivers of one process (several apps, tests of the hand-off).

    A single receiver needs no channel at all: it wakes its own waiters directly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Deliver] = []

    def __repr__(self) -> str:
        return f"InProcessChannel(listeners={len(self._listeners)})"

    def publish(self, token: str) -> None:
        """Deliver the token to every listener now (no I/O, so no thread is needed)."""
        with self._lock:
            listeners = list(self._listeners)
        for deliver in listeners:
            deliver(token)

    async def apublish(self, token: str) -> None:
        """As `publish`: it never blocks."""
        self.publish(token)

    async def listen(
        self, deliver: Deliver, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Receive tokens until cancelled."""
        with self._lock:
            self._listeners.append(deliver)
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with self._lock:
                self._listeners.remove(deliver)
