"""Stopping a blocking batch: closing it ends its runs at their next sleep.

Threads cannot be cancelled from outside, so the worker threads of a blocking batch share
a stop event (set when the batch is closed: a `break`, Ctrl-C); every sleep a run makes in
such a thread waits on that event and, once it is set, ends the run with `BatchStopped`.
Outside a blocking batch there is no event and sleeps are plain.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar, Token

__all__ = ["BatchStopped", "current_stop", "reset", "stop_with"]

_STOP: ContextVar[threading.Event | None] = ContextVar("flowinvoke_batch_stop", default=None)


class BatchStopped(BaseException):
    """Ends a run of a blocking batch that was closed (never seen outside the batch)."""


def current_stop() -> threading.Event | None:
    """The stop event of the blocking batch this thread works for, if any."""
    return _STOP.get()


def stop_with(event: threading.Event | None) -> Token[threading.Event | None]:
    """Make `event` this context's batch stop event; returns a token for `reset`."""
    return _STOP.set(event)


def reset(token: Token[threading.Event | None]) -> None:
    """Undo `stop_with`."""
    _STOP.reset(token)
