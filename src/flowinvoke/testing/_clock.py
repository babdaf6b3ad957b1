"""Clocks for the emulator: the real one by default, a fake one for fast tests.

The emulator reads time through a plain `Callable[[], float]` (seconds, monotonic) and waits
through a pair of sleep functions, one blocking and one async. Swapping all three for a
`FakeClock` makes scripted durations cost no real time, so a test of a "30 second" run takes
microseconds and gives the same answer every time.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

import anyio.lowlevel

__all__ = ["AsyncSleep", "Clock", "FakeClock", "Sleep"]

Clock = Callable[[], float]
"""Returns the current time in seconds; only differences between readings matter."""

Sleep = Callable[[float], None]
"""Blocks the calling thread for the given number of seconds."""

AsyncSleep = Callable[[float], Awaitable[None]]
"""Suspends the calling task for the given number of seconds (must not block the loop)."""


class FakeClock:
    """A manual clock: time moves only when a test advances it or something sleeps on it.

    Pass it as the emulator's `clock`; the emulator then also uses `sleep` and `async_sleep`
    from it, so a scripted wait advances the fake time instead of waiting.

    Example:
        >>> clock = FakeClock()
        >>> clock.advance(2.5)
        >>> clock()
        2.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current fake time in seconds."""
        with self._lock:
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock(now={self():.6f})"

    def advance(self, seconds: float) -> None:
        """Move the time forward by `seconds` (negative values are rejected)."""
        if seconds < 0:
            msg = "a FakeClock cannot go backwards"
            raise ValueError(msg)
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Blocking sleep on fake time: advances the clock and returns at once."""
        self.advance(max(0.0, seconds))

    async def async_sleep(self, seconds: float) -> None:
        """Async sleep on fake time: advances the clock, then yields to the event loop once."""
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()
