"""Deadline scopes: a block that ends when its deadline passes.

A named pair (`async_deadline_scope` / `sync_deadline_scope`) that scripts/unasync.py maps:
async code is cancelled at the deadline; blocking code cannot be cancelled from outside, so
its scope never cuts and its timeouts and sleeps are capped by the deadline instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import anyio

from .deadline import Deadline, DeadlineScope, time_source

__all__ = ["DeadlineScope", "async_deadline_scope", "cancel_after", "sync_deadline_scope"]


def cancel_after(seconds: float | None) -> AbstractContextManager[DeadlineScope]:
    """`anyio.move_on_after(seconds)` on the client's clock (see `deadline.time_source`)."""
    source = time_source()
    return anyio.move_on_after(seconds) if source is None else source.cancel_after(seconds)


def async_deadline_scope(
    deadline: Deadline, grace: float = 0.0
) -> AbstractContextManager[DeadlineScope]:
    """A `with` block cancelled `grace` seconds after `deadline` passes (the cancellation is
    caught there).

    A plain scope, not a generator-based context manager: a wait holds one while its query
    is queued, and thousands may queue at once.
    """
    return cancel_after(deadline.remaining() + grace if deadline.finite else None)


class _NeverCut:
    cancelled_caught = False
    deadline = math.inf


@contextmanager
def sync_deadline_scope(deadline: Deadline, grace: float = 0.0) -> Iterator[DeadlineScope]:
    """Blocking code cannot be cancelled from outside: its request timeouts and sleeps are
    capped by the deadline instead, so this scope never cuts."""
    yield _NeverCut()
