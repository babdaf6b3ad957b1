"""A point in monotonic time after which an operation gives up."""

from __future__ import annotations

import math
import time

__all__ = ["Deadline", "now", "positive_seconds"]


def now() -> float:
    """Seconds on the monotonic clock deadlines use (only differences mean anything)."""
    return time.monotonic()


class Deadline:
    """The end of a time limit, on a monotonic clock (wall-clock jumps do not move it)."""

    __slots__ = ("_at",)

    def __init__(self, seconds: float | None) -> None:
        self._at = math.inf if seconds is None else time.monotonic() + seconds

    @property
    def finite(self) -> bool:
        """True when there is a limit at all."""
        return self._at != math.inf

    def remaining(self) -> float:
        """Seconds left (never negative; infinite when there is no limit)."""
        return max(0.0, self._at - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once no time is left."""
        return time.monotonic() >= self._at

    def cap(self, seconds: float) -> float:
        """`seconds`, shortened so as not to pass the deadline."""
        return min(seconds, self.remaining())

    def within(self, seconds: float | None) -> Deadline:
        """This deadline, or the one `seconds` from now if that comes sooner (None: this)."""
        if seconds is None or time.monotonic() + seconds >= self._at:
            return self
        return Deadline(seconds)


def positive_seconds(value: object, name: str) -> float:
    """`value` as float seconds if it is a positive number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)
