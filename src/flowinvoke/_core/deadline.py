"""A point in monotonic time after which an operation gives up, and the one clock seam.

Every time flowinvoke reads (deadlines, the rate limit, the cool-down) comes from `now()`,
and every wait (`_compat`'s sleeps, `scopes`' deadline scopes, `_waiting`'s wake-ups) goes
through the time source, so a test swaps one object (`set_time_source`, or
`FakeClock.install()`) and the whole client runs on fake time. With no source set, the
real clocks are used directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from contextlib import AbstractContextManager
from typing import Protocol

__all__ = ["Deadline", "DeadlineScope", "TimeSource", "now", "positive_seconds"]


class DeadlineScope(Protocol):
    """What a deadline scope tells after its block: whether the deadline cut it short.

    `deadline` (on the scope's own clock) may be moved while the block runs.
    """

    deadline: float

    @property
    def cancelled_caught(self) -> bool: ...


class TimeSource(Protocol):
    """A clock the whole client can run on instead of the real one (a test's fake clock)."""

    def __call__(self) -> float:
        """Seconds on a monotonic clock (only differences mean anything)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread until the clock has moved on by `seconds`."""
        ...

    def async_sleep(self, seconds: float) -> Awaitable[None]:
        """Suspend the calling task until the clock has moved on by `seconds`."""
        ...

    def cancel_after(self, seconds: float | None) -> AbstractContextManager[DeadlineScope]:
        """An anyio cancel scope that is cancelled once the clock has moved on by `seconds`
        (never when None); the cancellation is caught at its end, as `move_on_after`'s is."""
        ...


_source: TimeSource | None = None


def time_source() -> TimeSource | None:
    """The source the client reads time from, or None for the real clocks."""
    return _source


def set_time_source(source: TimeSource | None) -> TimeSource | None:
    """Make `source` the client's clock (None: the real clocks); return the previous one.

    Process-wide, not per task or thread: a blocking batch's worker threads and a webhook
    receiver's thread must see the same time as the test that set it.
    """
    global _source
    previous, _source = _source, source
    return previous


def now() -> float:
    """Seconds on the monotonic clock deadlines use (only differences mean anything)."""
    source = _source
    return time.monotonic() if source is None else source()


class Deadline:
    """The end of a time limit, on a monotonic clock (wall-clock jumps do not move it)."""

    __slots__ = ("_at",)

    def __init__(self, seconds: float | None) -> None:
        self._at = math.inf if seconds is None else now() + seconds

    @property
    def finite(self) -> bool:
        """True when there is a limit at all."""
        return self._at != math.inf

    @property
    def at(self) -> float:
        """The clock reading at which it passes (infinite when there is no limit)."""
        return self._at

    def remaining(self) -> float:
        """Seconds left (never negative; infinite when there is no limit)."""
        return max(0.0, self._at - now())

    @property
    def expired(self) -> bool:
        """True once no time is left."""
        return now() >= self._at

    def cap(self, seconds: float) -> float:
        """`seconds`, shortened so as not to pass the deadline."""
        return min(seconds, self.remaining())

    def within(self, seconds: float | None) -> Deadline:
        """This deadline, or the one `seconds` from now if that comes sooner (None: this)."""
        if seconds is None or now() + seconds >= self._at:
            return self
        return Deadline(seconds)


def positive_seconds(value: object, name: str) -> float:
    """`value` as float seconds if it is a positive number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)
